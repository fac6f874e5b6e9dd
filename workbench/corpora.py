"""Typed records and loaders for every corpus the workbench ships or a user brings.

One record type per concept, serialised the same way everywhere (dataclass <-> dict, JSON lines).
Loaders are strict by default: the first problem raises a CorpusError naming file:line and the
fix. ``workbench corpora check`` runs them in collecting mode to list every problem at once.
"""

from __future__ import annotations

import csv
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

from workbench import paths
from workbench.errors import WorkbenchError

TOPICS = (
    "anxiety panic depression ocd trauma grief sleep substance-use eating-disorders perinatal psychosis "
    "bipolar risk self-harm ethics professional-practice documentation adolescents couples relationships "
    "general"
).split()
APPROACHES = (
    "cbt behavioural-activation exposure cbt-i dbt act motivational-interviewing trauma-informed "
    "psychoeducation assessment safety-planning ethics supervision family-systems general"
).split()
DIMENSIONS = "empathy exploration collaboration grounding structure safety boundaries warmth".split()
SPEAKERS = ("clinician", "client")
AUDIENCES = ("clinician", "client", "both")
RISK_LEVELS = ("none", "concern", "elevated", "imminent")
SUBJECTS = ("self", "client", "other", "none")


class CorpusError(WorkbenchError):
    """A corpus file that cannot be used as it is; says file:line and the fix."""


@dataclass
class Problem:
    path: str
    line: int | None
    message: str
    fix: str = ""

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}" if self.line else self.path
        return f"{where}: {self.message}" + (f" (fix: {self.fix})" if self.fix else "")


class Problems:
    """Raise at the first problem (strict) or collect them all (for ``corpora check``)."""

    def __init__(self, strict: bool = True):
        self.strict, self.items = strict, []

    def add(self, path, line, message, fix="") -> None:
        p = Problem(str(path), line, message, fix)
        if self.strict:
            raise CorpusError(message, where=f"{path}:{line}" if line else str(path), fix=fix or None)
        self.items.append(p)


# ---- records ----------------------------------------------------------------------------------
@dataclass
class Card:
    id: str
    title: str
    topic: str
    approach: str
    audience: str
    sources: list[str]
    body: str
    path: str = ""


@dataclass
class Dialogue:
    id: str
    messages: list[dict]
    topic: str = ""
    speaker: str = ""
    behaviours: list[str] = field(default_factory=list)
    source: str = ""


@dataclass
class Query:
    id: str
    text: str
    speaker: str = ""
    topic: str = ""
    risk: bool = False
    key_points: list[str] = field(default_factory=list)
    relevant_cards: list[str] = field(default_factory=list)


@dataclass
class Exemplar:
    dimension: str
    level: int
    context: str
    response: str


@dataclass
class Dimension:
    id: str
    name: str
    definition: str
    framework: str
    sources: list[str]
    anchors: dict[int, str]
    exemplars: list[Exemplar]


@dataclass
class Rubric:
    name: str
    version: int
    scale_min: int
    scale_max: int
    dimensions: list[Dimension]

    def dimension(self, dim_id: str) -> Dimension:
        return next(d for d in self.dimensions if d.id == dim_id)

    def exemplars(self) -> list[Exemplar]:
        return [e for d in self.dimensions for e in d.exemplars]


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


@dataclass
class Prompt:
    id: str
    purpose: str
    text: str
    source: str = "shipped"   # "shipped" (corpora/prompts) or "user" (exports/prompts, saved by the prompt lab)
    note: str = ""
    author: str = ""


@dataclass
class ScreeningExample:
    id: str
    text: str
    risk: bool
    level: str
    subject: str
    category: str
    lang: str = "en"


# ---- small readers ----------------------------------------------------------------------------
class _LineDict(dict):
    line: int = 0


def _yaml_loader():
    import yaml

    class LineLoader(yaml.SafeLoader):
        pass

    def construct_mapping(loader, node, deep=False):
        d = _LineDict(loader.construct_mapping(node, deep=deep))
        d.line = node.start_mark.line + 1
        return d

    LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, construct_mapping)
    return LineLoader


def read_yaml(path: str | Path) -> Any:
    """YAML whose mappings remember their line, so errors can point at it."""
    import yaml

    path = Path(path)
    try:
        return yaml.load(path.read_text(encoding="utf-8"), Loader=_yaml_loader())
    except OSError as exc:
        raise CorpusError(f"Cannot read {path}: {exc.strerror}", where=str(path)) from exc
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark else None
        raise CorpusError(f"Invalid YAML: {getattr(exc, 'problem', exc)}",
                          where=f"{path}:{line}" if line else str(path),
                          fix="check indentation and quoting on that line") from exc


def _line(obj) -> int | None:
    return getattr(obj, "line", None)


def iter_jsonl(path: str | Path, problems: Problems) -> Iterable[tuple[int, dict]]:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise CorpusError(f"Cannot read {path}: {exc.strerror}", where=str(path), fix="check the path") from exc
    for n, raw in enumerate(text.splitlines(), 1):
        if not raw.strip():
            continue
        try:
            obj = json.loads(raw)
        except json.JSONDecodeError as exc:
            problems.add(path, n, f"not valid JSON ({exc.msg} at column {exc.colno})",
                         "each line must be one complete JSON object")
            continue
        if not isinstance(obj, dict):
            problems.add(path, n, "line is not a JSON object", 'wrap it as {"id": …, …}')
            continue
        yield n, obj


def _files(path: str | Path, pattern: str) -> list[Path]:
    path = Path(path)
    if path.is_dir():
        return sorted(path.glob(pattern))
    if path.is_file():
        return [path]
    raise CorpusError(f"{path} does not exist.", where=str(path), fix="check the path")


def _need(obj: dict, keys: Iterable[str], path, line, problems: Problems) -> bool:
    missing = [k for k in keys if obj.get(k) in (None, "", [])]
    if missing:
        problems.add(path, line, f"missing field(s): {', '.join(missing)}", "add them to this record")
    return not missing


def _enum(value, allowed, name, path, line, problems: Problems) -> None:
    if value not in allowed:
        problems.add(path, line, f"unknown {name} {value!r}", f"use one of: {', '.join(allowed)}")


def _unique(records, path_of, problems: Problems, kind: str) -> None:
    seen: dict[str, str] = {}
    for r, where in zip(records, path_of):
        if r.id in seen:
            problems.add(where[0], where[1], f"duplicate {kind} id {r.id!r} (first at {seen[r.id]})",
                         "give every record its own id")
        else:
            seen[r.id] = f"{where[0]}:{where[1]}"


# ---- knowledge cards --------------------------------------------------------------------------
_FRONT = re.compile(r"\A---\s*\n(.*?)\n---\s*\n(.*)\Z", re.S)


def load_cards(root: str | Path | None = None, problems: Problems | None = None) -> list[Card]:
    """Markdown cards with YAML front matter (id, title, topic, approach, audience, sources)."""
    import yaml

    problems = problems or Problems()
    root = Path(root) if root else paths.corpora_dir() / "knowledge"
    cards, wheres = [], []
    for f in _files(root, "*.md"):
        if f.name.lower() == "readme.md":
            continue
        m = _FRONT.match(f.read_text(encoding="utf-8"))
        if not m:
            problems.add(f, 1, "no front matter", "start the file with a --- block holding id, title, topic, …")
            continue
        try:
            meta = yaml.load(m.group(1), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader)) or {}  # libyaml: 10x
        except yaml.YAMLError as exc:
            problems.add(f, 2, f"front matter is not valid YAML: {exc}", "fix the YAML between the --- lines")
            continue
        if not _need(meta, ("id", "title", "topic", "approach", "audience", "sources"), f, 1, problems):
            continue
        _enum(meta["topic"], TOPICS, "topic", f, 1, problems)
        _enum(meta["approach"], APPROACHES, "approach", f, 1, problems)
        _enum(meta["audience"], AUDIENCES, "audience", f, 1, problems)
        sources = meta["sources"] if isinstance(meta["sources"], list) else [meta["sources"]]
        cards.append(Card(str(meta["id"]), meta["title"], meta["topic"], meta["approach"], meta["audience"],
                          [str(s) for s in sources], m.group(2).strip(), str(f)))
        wheres.append((f, 1))
    _unique(cards, wheres, problems, "card")
    return cards


# ---- dialogues (ours, ShareGPT, Q/A CSV) ------------------------------------------------------
_SHAREGPT_ROLES = {"human": "user", "user": "user", "gpt": "assistant", "assistant": "assistant",
                   "system": "system", "chatgpt": "assistant", "bing": "assistant"}


def _messages_from(obj: dict, path, line, problems: Problems) -> list[dict] | None:
    if "messages" in obj:
        msgs = obj["messages"]
    elif "conversations" in obj:  # ShareGPT: {"from": "human"|"gpt"|"system", "value": …}
        msgs = []
        for turn in obj["conversations"] if isinstance(obj["conversations"], list) else []:
            role = _SHAREGPT_ROLES.get(str(turn.get("from", "")).lower()) if isinstance(turn, dict) else None
            if role is None:
                problems.add(path, line, f"unknown ShareGPT speaker {turn!r:.60}",
                             "use from: human, gpt or system")
                return None
            msgs.append({"role": role, "content": turn.get("value", "")})
    else:
        problems.add(path, line, "no 'messages' (chat format) or 'conversations' (ShareGPT) field",
                     'add "messages": [{"role": "user", …}, {"role": "assistant", …}]')
        return None
    if not isinstance(msgs, list) or not msgs:
        problems.add(path, line, "messages must be a non-empty list", "add at least a user and an assistant turn")
        return None
    turns = [m for m in msgs if isinstance(m, dict) and m.get("role") != "system"]
    for i, m in enumerate(msgs):
        if not isinstance(m, dict) or m.get("role") not in ("system", "user", "assistant") or not isinstance(
                m.get("content"), str) or not m["content"].strip():
            problems.add(path, line, f"message {i} needs a role (system/user/assistant) and non-empty content",
                         "fix that message")
            return None
    if not turns or turns[-1]["role"] != "assistant" or turns[0]["role"] != "user":
        problems.add(path, line, "a training dialogue must start with a user turn and end with an assistant turn",
                     "reorder or complete the turns")
        return None
    if any(a["role"] == b["role"] for a, b in zip(turns, turns[1:])):
        problems.add(path, line, "user and assistant turns must alternate", "merge or split the repeated turn")
        return None
    return [{"role": m["role"], "content": m["content"]} for m in msgs]


def load_dialogues(root: str | Path | None = None, problems: Problems | None = None,
                   strict_fields: bool | None = None) -> list[Dialogue]:
    """Chat JSONL or ShareGPT JSONL files (a file or a folder of *.jsonl); CSV files go to load_qa_csv."""
    problems = problems or Problems()
    shipped = root is None
    root = Path(root) if root else paths.corpora_dir() / "dialogues"
    strict_fields = shipped if strict_fields is None else strict_fields
    out, wheres = [], []
    for f in _files(root, "*.jsonl") + (_files(root, "*.csv") if Path(root).is_dir() else []):
        if f.suffix == ".csv":
            rows = load_qa_csv(f)
            out.extend(rows)
            wheres.extend((f, int(d.source.rsplit(":", 1)[1])) for d in rows)
            continue
        for n, obj in iter_jsonl(f, problems):
            msgs = _messages_from(obj, f, n, problems)
            if msgs is None:
                continue
            did = str(obj.get("id") or f"{f.stem}-{n}")
            d = Dialogue(did, msgs, obj.get("topic", ""), obj.get("speaker", ""), list(obj.get("behaviours", [])),
                         source=f"{f.name}:{n}")
            if strict_fields:
                _need(obj, ("id", "topic", "speaker", "behaviours"), f, n, problems)
                _enum(d.topic, TOPICS, "topic", f, n, problems)
                _enum(d.speaker, SPEAKERS, "speaker", f, n, problems)
                for b in d.behaviours:
                    _enum(b, DIMENSIONS, "behaviour", f, n, problems)
            out.append(d)
            wheres.append((f, n))
    _unique(out, wheres, problems, "dialogue")
    return out


def load_qa_csv(path: str | Path, question: str | None = None, answer: str | None = None) -> list[Dialogue]:
    """A CSV with a question column and an answer column becomes one-turn dialogues."""
    path = Path(path)
    with path.open(newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        cols = {c.lower().strip(): c for c in (reader.fieldnames or [])}
        q = question or next((cols[c] for c in ("question", "prompt", "input", "context") if c in cols), None)
        a = answer or next((cols[c] for c in ("answer", "response", "output") if c in cols), None)
        if not q or not a:
            raise CorpusError(f"no question/answer columns among {reader.fieldnames}", where=f"{path}:1",
                              fix="name the columns question and answer, or pass question=…, answer=…")
        out = []
        for n, row in enumerate(reader, 2):
            if not (row.get(q) or "").strip() or not (row.get(a) or "").strip():
                raise CorpusError("empty question or answer", where=f"{path}:{n}", fix="fill both cells or drop the row")
            out.append(Dialogue(str(row.get("id") or f"{path.stem}-{n}"),
                                [{"role": "user", "content": row[q].strip()},
                                 {"role": "assistant", "content": row[a].strip()}],
                                topic=row.get("topic", ""), source=f"{path.name}:{n}"))
    return out


# ---- evaluation queries -----------------------------------------------------------------------
def load_queries(path: str | Path | None = None, problems: Problems | None = None,
                 card_ids: set[str] | None = None, strict_fields: bool = False) -> list[Query]:
    """Any JSONL with at least id and text; the shipped set also carries key points and relevant cards."""
    problems = problems or Problems()
    path = Path(path) if path else paths.corpora_dir() / "queries"
    out, wheres = [], []
    for f in _files(path, "*.jsonl"):
        for n, obj in iter_jsonl(f, problems):
            if not _need(obj, ("id", "text"), f, n, problems):
                continue
            q = Query(str(obj["id"]), obj["text"], obj.get("speaker", ""), obj.get("topic", ""),
                      bool(obj.get("risk", False)), list(obj.get("key_points", [])),
                      list(obj.get("relevant_cards", [])))
            if strict_fields and q.topic:
                _enum(q.topic, TOPICS, "topic", f, n, problems)
            if card_ids is not None:
                for c in q.relevant_cards:
                    if c not in card_ids:
                        problems.add(f, n, f"relevant card {c!r} does not exist",
                                     "use an id from corpora/knowledge")
            out.append(q)
            wheres.append((f, n))
    _unique(out, wheres, problems, "query")
    return out


# ---- T-BARS rubric ----------------------------------------------------------------------------
def load_rubric(path: str | Path | None = None, problems: Problems | None = None) -> Rubric:
    problems = problems or Problems()
    path = Path(path) if path else paths.corpora_dir() / "rubric" / "tbars.yaml"
    data = read_yaml(path)
    if not isinstance(data, dict) or not isinstance(data.get("dimensions"), list):
        raise CorpusError("rubric has no 'dimensions' list", where=str(path), fix="see corpora/rubric/README.md")
    scale = data.get("scale") or {}
    lo, hi = int(scale.get("min", 1)), int(scale.get("max", 5))
    dims = []
    for d in data["dimensions"]:
        line = _line(d)
        if not _need(d, ("id", "name", "definition", "framework", "levels"), path, line, problems):
            continue
        anchors, exemplars = {}, []
        for lv in d["levels"]:
            lvl = lv.get("level")
            if not isinstance(lvl, int) or not lo <= lvl <= hi:
                problems.add(path, _line(lv), f"level {lvl!r} outside {lo}..{hi}", f"use an integer {lo}..{hi}")
                continue
            if not lv.get("anchor"):
                problems.add(path, _line(lv), f"level {lvl} of {d['id']} has no anchor", "describe the behaviour")
            anchors[lvl] = lv.get("anchor", "")
            examples = lv.get("examples") or []
            if len(examples) < 2:
                problems.add(path, _line(lv), f"level {lvl} of {d['id']} has {len(examples)} examples",
                             "give at least two example responses per level")
            for ex in examples:
                if not isinstance(ex, dict) or not ex.get("response"):
                    problems.add(path, _line(ex) or _line(lv), "example without a response",
                                 "each example needs context and response")
                    continue
                exemplars.append(Exemplar(d["id"], lvl, ex.get("context", ""), ex["response"]))
        missing = sorted(set(range(lo, hi + 1)) - set(anchors))
        if missing:
            problems.add(path, line, f"dimension {d['id']} lacks level(s) {missing}", "add every level of the scale")
        dims.append(Dimension(d["id"], d["name"], d["definition"], d["framework"], list(d.get("sources", [])),
                              anchors, exemplars))
    ids = [d.id for d in dims]
    if path.name == "tbars.yaml" and sorted(ids) != sorted(DIMENSIONS):
        problems.add(path, None, f"T-BARS dimensions are {ids}", f"expected exactly {DIMENSIONS}")
    return Rubric(data.get("name", path.stem), int(data.get("version", 1)), lo, hi, dims)


# ---- inventories (ours YAML, IPIP-style CSV, PsychoBench JSON) --------------------------------
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
    loader = {".yaml": _inventory_yaml, ".yml": _inventory_yaml, ".csv": _inventory_csv,
              ".json": _inventory_psychobench}.get(path.suffix.lower())
    if loader is None:
        raise CorpusError(f"Unknown inventory format {path.suffix!r}.", where=str(path),
                          fix="use .yaml, .csv (IPIP-style) or .json (PsychoBench)")
    inv = loader(path, problems)
    _check_inventory(inv, path, problems)
    return inv


def _check_inventory(inv: Inventory, path, problems: Problems) -> None:
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


def _inventory_yaml(path: Path, problems: Problems) -> Inventory:
    data = read_yaml(path)
    if not isinstance(data, dict):
        raise CorpusError("inventory YAML must be a mapping", where=str(path), fix="see corpora/inventories/README.md")
    _need(data, ("name", "scale", "traits", "items"), path, _line(data), problems)
    items = []
    for it in data.get("items") or []:
        if not _need(it, ("id", "text", "trait", "key"), path, _line(it), problems):
            continue
        if it["trait"] not in (data.get("traits") or {}):
            problems.add(path, _line(it), f"item {it['id']} has unknown trait {it['trait']!r}",
                         f"use one of: {', '.join(data.get('traits') or {})}")
        items.append(Item(str(it["id"]), it["text"], it["trait"], int(it["key"])))
    traits = dict(data.get("traits") or {})
    return Inventory(data.get("name", path.stem), data.get("title", data.get("name", path.stem)),
                     data.get("instruction", ""), list(data.get("scale") or []), traits, items,
                     list(data.get("sources", [])))


_LIKERT5 = ["Very inaccurate", "Moderately inaccurate", "Neither accurate nor inaccurate", "Moderately accurate",
            "Very accurate"]


def _inventory_csv(path: Path, problems: Problems) -> Inventory:
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
    return Inventory(path.stem, path.stem, "Describe yourself as you generally are now.", _LIKERT5, traits, items)


def _inventory_psychobench(path: Path, problems: Problems) -> Inventory:
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


def load_inventories(root: str | Path | None = None, problems: Problems | None = None) -> dict[str, Inventory]:
    root = Path(root) if root else paths.corpora_dir() / "inventories"
    out = {}
    for f in sorted(root.glob("*.yaml")):
        if f.stem == "reference_profiles":
            continue
        inv = load_inventory(f, problems)
        out[inv.name] = inv
    return out


def load_reference_profiles(path: str | Path | None = None) -> list[dict]:
    path = Path(path) if path else paths.corpora_dir() / "inventories" / "reference_profiles.yaml"
    data = read_yaml(path)
    return [dict(p) for p in (data or {}).get("profiles", [])]


# ---- prompts ----------------------------------------------------------------------------------
def user_prompts_path() -> Path:
    """The user's own prompt library (written by the prompt lab); the shipped corpora are never edited."""
    return paths.exports_dir() / "prompts" / "library.yaml"


def load_prompts(path: str | Path | None = None, problems: Problems | None = None) -> dict[str, Prompt]:
    """The shipped prompt library; without ``path`` also the user's saved prompts (``source="user"``)."""
    problems = problems or Problems()
    shipped = _load_prompt_file(Path(path) if path else paths.corpora_dir() / "prompts" / "library.yaml", problems)
    user = user_prompts_path()
    if path is None and user.is_file():
        for pid, p in _load_prompt_file(user, problems, source="user").items():
            if pid in shipped:
                problems.add(user, None, f"saved prompt {pid!r} has the id of a shipped prompt",
                             "rename it in that file; shipped prompts cannot be replaced")
                continue
            shipped[pid] = p
    return shipped


def _load_prompt_file(path: Path, problems: Problems, source: str = "shipped") -> dict[str, Prompt]:
    data = read_yaml(path)
    out = {}
    for p in (data or {}).get("prompts", []):
        if not _need(p, ("id", "purpose", "text"), path, _line(p), problems):
            continue
        if p["id"] in out:
            problems.add(path, _line(p), f"duplicate prompt id {p['id']!r}", "rename one of them")
        out[p["id"]] = Prompt(p["id"], p["purpose"], p["text"].strip(), source,
                              str(p.get("note") or ""), str(p.get("author") or ""))
    for need in ("baseline", "cotherapist") if source == "shipped" else ():
        if need not in out:
            problems.add(path, None, f"the prompt library lacks {need!r}", f"add a prompt with id {need}")
    return out


# ---- safety -----------------------------------------------------------------------------------
def load_screening(path: str | Path | None = None, problems: Problems | None = None) -> list[ScreeningExample]:
    problems = problems or Problems()
    path = Path(path) if path else paths.corpora_dir() / "safety" / "screening.jsonl"
    out, wheres = [], []
    for n, obj in iter_jsonl(path, problems):
        if not _need(obj, ("id", "text", "level", "subject", "category"), path, n, problems):
            continue
        _enum(obj["level"], RISK_LEVELS, "level", path, n, problems)
        _enum(obj["subject"], SUBJECTS, "subject", path, n, problems)
        risk = bool(obj.get("risk", obj["level"] != "none"))
        if risk != (obj["level"] != "none"):
            problems.add(path, n, f"risk={risk} disagrees with level={obj['level']!r}",
                         "risk is true exactly when level is not none")
        out.append(ScreeningExample(str(obj["id"]), obj["text"], risk, obj["level"], obj["subject"],
                                    obj["category"], obj.get("lang", "en")))
        wheres.append((path, n))
    _unique(out, wheres, problems, "screening example")
    return out


def load_safety_config(root: str | Path | None = None) -> dict[str, Any]:
    """categories.yaml, escalation.yaml and resources.yaml as plain dicts."""
    root = Path(root) if root else paths.corpora_dir() / "safety"
    return {name: read_yaml(root / f"{name}.yaml") for name in ("categories", "escalation", "resources")}
