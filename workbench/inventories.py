"""Self-report inventories in three formats: ours (YAML), IPIP-style CSV (item, key, trait) and
PsychoBench questionnaire JSON; each becomes a :class:`~workbench.corpora.Inventory` and is checked
the same way (a scale, known traits, keys of +1/-1, unique item ids)."""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

from workbench import paths
from workbench.corpora import Inventory, Item
from workbench.corpus_readers import line_of, read_yaml, require
from workbench.errors import CorpusError, Problems

__all__ = ["LIKERT5", "load_inventories", "load_inventory"]

LIKERT5 = ["Very inaccurate", "Moderately inaccurate", "Neither accurate nor inaccurate", "Moderately accurate",
           "Very accurate"]


def load_inventory(path: str | Path, problems: Problems | None = None) -> Inventory:
    """Dispatch on the file type: .yaml (ours), .csv (IPIP-style item,key,trait), .json (PsychoBench)."""
    problems = problems or Problems()
    path = Path(path)
    if not path.is_file():
        shipped = paths.corpora_dir() / "inventories" / f"{path}.yaml"
        if shipped.is_file():
            path = shipped
        else:
            raise CorpusError(f"No inventory file {path}.", where=str(path),
                              fix="give a .yaml, IPIP-style .csv or PsychoBench .json path, or a shipped name "
                              "such as bigfive or empathy")
    loader = {".yaml": _from_yaml, ".yml": _from_yaml, ".csv": _from_ipip_csv,
              ".json": _from_psychobench}.get(path.suffix.lower())
    if loader is None:
        raise CorpusError(f"Unknown inventory format {path.suffix!r}.", where=str(path),
                          fix="use .yaml, .csv (IPIP-style) or .json (PsychoBench)")
    inv = loader(path, problems)
    _check(inv, path, problems)
    return inv


def load_inventories(root: str | Path | None = None, problems: Problems | None = None) -> dict[str, Inventory]:
    """Every YAML inventory in a folder (the shipped ones by default), by name."""
    root = Path(root) if root else paths.corpora_dir() / "inventories"
    out = {}
    for f in sorted(root.glob("*.yaml")):
        if f.stem == "reference_profiles":
            continue
        inv = load_inventory(f, problems)
        out[inv.name] = inv
    return out


def _check(inv: Inventory, path, problems: Problems) -> None:
    if len(inv.scale) < 2:
        problems.add(path, None, "the scale needs at least two labels", "list the response options in order")
    seen = set()
    for it in inv.items:
        if it.trait not in inv.traits:
            problems.add(path, None, f"item {it.id} has unknown trait {it.trait!r}",
                         f"use one of: {', '.join(inv.traits)}")
        if it.key not in (1, -1):
            problems.add(path, None, f"item {it.id} has key {it.key!r}", "use 1 (positive) or -1 (reverse keyed)")
        if it.id in seen:
            problems.add(path, None, f"duplicate item id {it.id!r}", "give every item its own id")
        seen.add(it.id)


def _from_yaml(path: Path, problems: Problems) -> Inventory:
    data = read_yaml(path)
    if not isinstance(data, dict):
        raise CorpusError("inventory YAML must be a mapping", where=str(path), fix="see corpora/inventories/README.md")
    require(data, ("name", "scale", "traits", "items"), path, line_of(data), problems)
    items = []
    for it in data.get("items") or []:
        if not require(it, ("id", "text", "trait", "key"), path, line_of(it), problems):
            continue
        if it["trait"] not in (data.get("traits") or {}):
            problems.add(path, line_of(it), f"item {it['id']} has unknown trait {it['trait']!r}",
                         f"use one of: {', '.join(data.get('traits') or {})}")
        items.append(Item(str(it["id"]), it["text"], it["trait"], int(it["key"])))
    traits = dict(data.get("traits") or {})
    return Inventory(data.get("name", path.stem), data.get("title", data.get("name", path.stem)),
                     data.get("instruction", ""), list(data.get("scale") or []), traits, items,
                     list(data.get("sources", [])))


def _from_ipip_csv(path: Path, problems: Problems) -> Inventory:
    """IPIP-style: columns item (text), key (+/-), trait; optional id."""
    with path.open(newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        cols = {c.lower().strip(): c for c in (reader.fieldnames or [])}
        for need in ("item", "key", "trait"):
            if need not in cols:
                raise CorpusError(f"IPIP-style CSV lacks a {need!r} column (has {reader.fieldnames})",
                                  where=f"{path}:1", fix="use the columns item, key (+ or -), trait")
        items, traits = [], {}
        for n, row in enumerate(reader, 2):
            text, key, trait = (row[cols[c]].strip() for c in ("item", "key", "trait"))
            k = {"+": 1, "-": -1, "+1": 1, "-1": -1, "1": 1, "−": -1}.get(key)
            if not text or not trait:
                problems.add(path, n, "empty item text or trait", "fill both cells")
                continue
            if k is None:
                problems.add(path, n, f"key {key!r} is not + or -", "use + for positive, - for reverse keyed")
                continue
            traits.setdefault(trait, trait)
            items.append(Item(row.get(cols.get("id", ""), "") or f"{trait[:1].upper()}{n - 1:02d}", text, trait, k))
    return Inventory(path.stem, path.stem, "Describe yourself as you generally are now.", LIKERT5, traits, items)


def _from_psychobench(path: Path, problems: Problems) -> Inventory:
    """PsychoBench questionnaire JSON: questions {n: text}, reverse [n], categories [{cat_name, cat_questions}]."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise CorpusError(f"not valid JSON: {exc.msg}", where=f"{path}:{exc.lineno}",
                          fix="fix the JSON on that line") from exc
    if isinstance(data, list):
        if len(data) != 1:
            names = [q.get("name") for q in data if isinstance(q, dict)]
            raise CorpusError(f"{path.name} holds {len(data)} questionnaires {names}", where=str(path),
                              fix="save the one you want on its own, as a single JSON object")
        data = data[0]
    for need in ("questions", "categories"):
        if need not in data:
            raise CorpusError(f"PsychoBench questionnaire lacks {need!r}", where=str(path),
                              fix="keep the fields name, questions, scale, reverse, categories")
    reverse = {int(r) for r in data.get("reverse", [])}
    trait_of = {}
    for cat in data["categories"]:
        for q in cat.get("cat_questions", []):
            trait_of.setdefault(int(q), cat["cat_name"])
    text = " ".join(str(data.get(k, "")) for k in ("inner_setting", "prompt"))
    m = re.search(r"from (\d+) to (\d+)", text)
    lo, hi = (int(m.group(1)), int(m.group(2))) if m else (1, int(data.get("scale", 6)) - 1)
    items = []
    for qid, qtext in sorted(data["questions"].items(), key=lambda kv: int(kv[0])):
        if int(qid) not in trait_of:
            continue  # PsychoBench keeps unscored filler items outside every category
        items.append(Item(str(qid), qtext, trait_of[int(qid)], -1 if int(qid) in reverse else 1))
    traits = {c["cat_name"]: c["cat_name"] for c in data["categories"]}
    return Inventory(data.get("name", path.stem), data.get("name", path.stem), data.get("prompt", ""),
                     [str(v) for v in range(lo, hi + 1)], traits, items, ["PsychoBench (Huang et al. 2024)"])
