"""Self-report inventories in three formats: ours (YAML), IPIP-style CSV (item, key, trait) and
PsychoBench questionnaire JSON; each becomes an :class:`Inventory` (also importable from
``workbench.corpora``) and is checked the same way (a scale, known traits, keys of +1/-1, unique item ids)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from workbench import paths
from workbench.corpus_readers import iter_csv, line_of, mapping, read_text, read_yaml, reported, require, str_list
from workbench.errors import CorpusError, Problems

__all__ = ["KEYS", "LIKERT5", "Inventory", "Item", "Persona", "load_inventories", "load_inventory", "load_personas"]

# How an item's keying may be written: +1/-1 in YAML, + or - in an IPIP-style CSV.
KEYS = {1: 1, -1: -1, "+": 1, "-": -1, "+1": 1, "-1": -1, "1": 1, "−": -1}
KEYS_FIX = "use 1 or + (positively keyed) or -1 or - (reverse keyed)"


@dataclass
class Item:
    id: str
    text: str
    trait: str
    key: int  # +1 or -1 (reverse keyed)


@dataclass
class Inventory:
    name: str
    title: str
    instruction: str
    scale: list[str]
    traits: dict[str, str]
    items: list[Item]
    sources: list[str] = field(default_factory=list)
    # A numbered scale (PsychoBench) is answered with its own numbers, first..first+k-1, in every prompt
    # variant, and ``scale`` holds what each number means (the number itself where the source says nothing).
    numbered: bool = False
    first: int = 1
    # Published crowd norms per trait, on the 1..k scale of the scores: [{"name", "mean", "sd", "n"}].
    norms: dict[str, list[dict]] = field(default_factory=dict)


@dataclass
class Persona:
    """One respondent of a population: a short biography the model answers as; ``levels`` are the
    writer's intended trait levels (low/average/high), never shown to the model."""

    id: str
    text: str
    levels: dict[str, str] = field(default_factory=dict)


LIKERT5 = ["Very inaccurate", "Moderately inaccurate", "Neither accurate nor inaccurate", "Moderately accurate",
           "Very accurate"]


def load_inventory(path: str | Path, problems: Problems | None = None) -> Inventory:
    """Dispatch on the file type: .yaml (ours), .csv (IPIP-style item,key,trait), .json (PsychoBench)."""
    problems = problems or Problems()
    path, select = Path(path), None
    if not path.is_file() and ":" in path.name and Path(str(path).rsplit(":", 1)[0]).is_file():
        path, select = Path(str(path).rsplit(":", 1)[0]), str(path).rsplit(":", 1)[1]  # FILE:QUESTIONNAIRE
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
    if select and loader is not _from_psychobench:
        raise CorpusError(f"{path.name} holds one questionnaire; ':{select}' names one of several.",
                          where=str(path), fix=f"give the file alone: {path}")
    inv = _from_psychobench(path, problems, select) if select else loader(path, problems)
    _check(inv, path, problems)
    return inv


def load_inventories(root: str | Path | None = None, problems: Problems | None = None) -> dict[str, Inventory]:
    """Every YAML inventory in a folder (the shipped ones by default), by name; with a collecting
    ``problems`` an unreadable file is reported and the others are still read."""
    root = Path(root) if root else paths.corpora_dir() / "inventories"
    out = {}
    for f in sorted(root.glob("*.yaml")):
        if f.stem in ("reference_profiles", "personas"):
            continue
        inv = reported(problems, load_inventory, f, problems)
        if inv is not None:
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
    data = mapping(read_yaml, path, "see corpora/inventories/README.md")
    require(data, ("name", "scale", "traits", "items"), path, line_of(data), problems)
    traits, scale, entries = data.get("traits") or {}, data.get("scale") or [], data.get("items") or []
    for name, value, ok, fix in (("traits", traits, isinstance(traits, dict), "write traits: as name: description"),
                                 ("scale", scale, isinstance(scale, list), "write scale: as a list of labels"),
                                 ("items", entries, isinstance(entries, list), "write items: as a list of '- id: …'")):
        if not ok:
            problems.add(path, line_of(data), f"{name} must be a {'mapping' if name == 'traits' else 'list'}, "
                         f"not {type(value).__name__}", fix)
            return Inventory(str(data.get("name", path.stem)), path.stem, "", [], {}, [])
    items = []
    for it in entries:
        if not require(it, ("id", "text", "trait", "key"), path, line_of(it), problems):
            continue
        if it["trait"] not in traits:
            problems.add(path, line_of(it), f"item {it['id']} has unknown trait {it['trait']!r}",
                         f"use one of: {', '.join(traits)}")
        key = KEYS.get(it["key"]) if isinstance(it["key"], (int, str)) and not isinstance(it["key"], bool) else None
        if key is None:
            problems.add(path, line_of(it), f"item {it['id']} has key {it['key']!r}", KEYS_FIX)
            continue
        items.append(Item(str(it["id"]), str(it["text"]), it["trait"], key))
    return Inventory(data.get("name", path.stem), data.get("title", data.get("name", path.stem)),
                     data.get("instruction", ""), [str(x) for x in scale], dict(traits), items,
                     str_list(data, "sources", path, line_of(data), problems))


def _from_ipip_csv(path: Path, problems: Problems) -> Inventory:
    """IPIP-style: columns item (text), key (+/-), trait; optional id."""
    items, traits = [], {}
    for n, row in iter_csv(path, problems, required=("item", "key", "trait"),
                           fix="use the columns item, key (+ or -), trait"):
        cols = {c.lower(): c for c in row}
        text, key, trait = (row[cols[c]].strip() for c in ("item", "key", "trait"))
        k = KEYS.get(key)
        if not text or not trait:
            problems.add(path, n, "empty item text or trait", "fill both cells")
            continue
        if k is None:
            problems.add(path, n, f"key {key!r} is not + or -", KEYS_FIX)
            continue
        traits.setdefault(trait, trait)
        items.append(Item(row.get(cols.get("id", ""), "") or f"{trait[:1].upper()}{n - 1:02d}", text, trait, k))
    return Inventory(path.stem, path.stem, "Describe yourself as you generally are now.", LIKERT5, traits, items)


# "1 denotes strongly disagree, 2 denotes ...", '1 denotes "very inaccurately"', "5 = always"
_MEANING = re.compile(r'\b(\d+)\s*(?:denotes|means|represents|stands for|=)\s*"?([A-Za-z][^",.;:()]*?)"?\s*'
                      r'(?=,|\.|;|\)|\band\s+\d|$)')


def _from_psychobench(path: Path, problems: Problems, select: str | None = None) -> Inventory:
    """PsychoBench questionnaire JSON: questions {n: text}, reverse [n], categories [{cat_name,
    cat_questions, crowd}]; a file holding several questionnaires needs one chosen by name (FILE:NAME).

    The scale keeps its own numbers and, where the prompt says what a number means, that meaning, so a
    reversed listing still reads "5 = strongly agree"; crowd norms become reference bands."""
    try:
        data = json.loads(read_text(path))
    except json.JSONDecodeError as exc:
        raise CorpusError(f"not valid JSON: {exc.msg}", where=f"{path}:{exc.lineno}",
                          fix="fix the JSON on that line") from exc
    if isinstance(data, list):
        names = [q.get("name") for q in data if isinstance(q, dict)]
        chosen = [q for q in data if isinstance(q, dict) and select is not None and q.get("name") == select]
        if not chosen and (select is not None or len(data) != 1):
            raise CorpusError(f"{path.name} holds {len(data)} questionnaires" +
                              (f" and none is named {select!r}" if select else ""), where=str(path),
                              fix=f"choose one by name, e.g. --inventory {path}:{names[0] if names else 'NAME'} "
                              f"(names: {', '.join(map(str, names))})")
        data = chosen[0] if chosen else data[0]
    fix = ("keep PsychoBench's fields: name, questions {\"1\": text}, reverse [numbers], "
           "categories [{cat_name, cat_questions [numbers]}]")
    missing = [k for k in ("questions", "categories") if k not in data] if isinstance(data, dict) else ["all fields"]
    if missing:
        raise CorpusError(f"PsychoBench questionnaire lacks {', '.join(missing)}", where=str(path), fix=fix)
    try:  # the file's structure is checked by reading it: a wrong type anywhere is one clear error
        reverse = {int(r) for r in data.get("reverse", [])}
        trait_of = {}
        for cat in data["categories"]:
            for q in cat.get("cat_questions", []):
                trait_of.setdefault(int(q), str(cat["cat_name"]))
        text = " ".join(str(data.get(k, "")) for k in ("inner_setting", "prompt"))
        m = re.search(r"from (\d+) to (\d+)", text)
        lo, hi = (int(m.group(1)), int(m.group(2))) if m else (1, int(data.get("scale", 6)) - 1)
        meaning = {int(n): words.strip() for n, words in _MEANING.findall(str(data.get("prompt", "")))}
        items = []
        for qid, qtext in sorted(data["questions"].items(), key=lambda kv: int(kv[0])):
            if int(qid) not in trait_of:
                continue  # PsychoBench keeps unscored filler items outside every category
            items.append(Item(str(qid), str(qtext), trait_of[int(qid)], -1 if int(qid) in reverse else 1))
        traits = {str(c["cat_name"]): str(c["cat_name"]) for c in data["categories"]}
        per_item = str(data.get("compute_mode", "AVG")).upper() == "SUM"
        norms = {str(c["cat_name"]): [_norm(crowd, lo, len(c.get("cat_questions", [])) if per_item else 1)
                                      for crowd in c.get("crowd", [])] for c in data["categories"]}
    except (AttributeError, KeyError, TypeError, ValueError) as exc:
        raise CorpusError(f"not a PsychoBench questionnaire ({type(exc).__name__}: {exc})", where=str(path),
                          fix=fix) from exc
    return Inventory(data.get("name", path.stem), data.get("name", path.stem), data.get("prompt", ""),
                     [meaning.get(v, str(v)) for v in range(lo, hi + 1)], traits, items,
                     ["PsychoBench (Huang et al. 2024)"], numbered=True, first=lo,
                     norms={t: n for t, n in norms.items() if n})


def _norm(crowd: dict, lo: int, n_items: int) -> dict:
    """A crowd norm moved onto the 1..k scale of item means (a SUM norm divided by its item count)."""
    return {"name": str(crowd.get("crowd_name", "crowd")),
            "mean": float(crowd["crowd_sample_mean"]) / n_items - lo + 1,
            "sd": float(crowd.get("crowd_sample_sd", 0.0)) / n_items, "n": int(crowd.get("crowd_sample_num", 0))}


def load_personas(path: str | Path | None = None, problems: Problems | None = None) -> list[Persona]:
    """The respondent population (``corpora/inventories/personas.yaml`` by default), checked on load;
    with a collecting ``problems`` every bad persona is reported and the others kept."""
    path = Path(path) if path else paths.corpora_dir() / "inventories" / "personas.yaml"
    data = mapping(read_yaml, path, "see corpora/inventories/README.md")
    problems, out, seen = problems or Problems(), [], set()
    for p in data.get("personas") or []:
        if not require(p, ("id", "text"), path, line_of(p), problems):
            continue
        if p["id"] in seen:
            problems.add(path, line_of(p), f"duplicate persona id {p['id']!r}", "give every persona its own id")
        seen.add(p["id"])
        levels = p.get("levels") or {}
        bad = {t: v for t, v in levels.items() if v not in ("low", "average", "high")}
        if bad:
            problems.add(path, line_of(p), f"persona {p['id']} has levels {bad}", "use low, average or high")
        out.append(Persona(str(p["id"]), str(p["text"]).strip(), dict(levels)))
    if not out:
        problems.add(path, None, "no personas", "list them under personas: as '- id: …, text: …'")
    return out
