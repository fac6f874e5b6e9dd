"""Typed records and loaders for every corpus the workbench ships or a user brings.

One record type per concept, serialised the same way everywhere (dataclass <-> dict, JSON lines).
Loaders are strict by default: the first problem raises a CorpusError naming file:line and the
fix. ``workbench corpora check`` runs them in collecting mode to list every problem at once.
Inventories are parsed by :mod:`workbench.inventories` (three formats); the shared small readers
(line-aware YAML, chat messages, field checks) are in :mod:`workbench.corpus_readers`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from workbench import corpus_readers as R
from workbench import paths
from workbench.corpus_readers import read_yaml
from workbench.errors import CorpusError, Problems
from workbench.inventories import Inventory, Item
from workbench.io import iter_jsonl

__all__ = ["APPROACHES", "AUDIENCES", "Card", "DIMENSIONS", "Dialogue", "Dimension", "Exemplar", "Inventory", "Item",
           "Prompt", "Query", "RISK_CATEGORIES", "RISK_LEVELS", "Rubric", "SPEAKERS", "SUBJECTS",
           "TOPICS", "load_cards", "load_dialogues", "load_prompts", "load_qa_csv", "load_queries",
           "load_reference_profiles", "load_rubric", "load_safety_config", "read_yaml", "user_prompts_path"]

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
RISK_CATEGORIES = ("suicidal_ideation", "self_harm", "eating_disorder", "substance", "psychosis", "harm_to_others",
                   "abuse")  # safety/categories.yaml, in its order


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
    points: list[str] = field(default_factory=list)  # short facts a small model can quote (the agent's grounding)


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
class Prompt:
    id: str
    purpose: str
    text: str
    source: str = "shipped"   # "shipped" (corpora/prompts) or "user" (exports/prompts, saved by the prompt lab)
    note: str = ""
    author: str = ""


# ---- knowledge cards --------------------------------------------------------------------------
_FRONT = re.compile(r"\A---[ \t]*\r?\n(.*?)\r?\n---[ \t]*\r?\n(.*)\Z", re.S)


def load_cards(root: str | Path | None = None, problems: Problems | None = None) -> list[Card]:
    """Markdown cards with YAML front matter (id, title, topic, approach, audience, sources[, points])."""
    problems = problems or Problems()
    root = Path(root) if root else paths.corpora_dir() / "knowledge"
    cards, wheres = [], []
    for f in R.corpus_files(root, "*.md"):
        if f.name.lower() == "readme.md":
            continue
        text = R.read_text(f, problems)
        m = _FRONT.match(text) if text is not None else None
        if text is not None and not m:
            problems.add(f, 1, "no front matter", "start the file with a --- block holding id, title, topic, …")
        meta = R.parse_yaml(m.group(1), f, problems, line_offset=1) if m else None
        if m is None or not R.require(meta, ("id", "title", "topic", "approach", "audience", "sources"), f, 1,
                                    problems):
            continue
        front = m.group(1)
        if not all([R.one_of(meta[k], allowed, k, f, R.front_matter_line(front, k), problems) for k, allowed in
                    (("topic", TOPICS), ("approach", APPROACHES), ("audience", AUDIENCES))]):
            continue
        if not isinstance(meta["title"], str):
            problems.add(f, R.front_matter_line(front, "title"), f"title must be text, not {meta['title']!r:.40}",
                         "write title: Your title")
            continue
        sources = meta["sources"] if isinstance(meta["sources"], list) else [meta["sources"]]
        points = meta.get("points") or []
        if not isinstance(points, list) or not all(isinstance(x, str) and x.strip() for x in points):
            problems.add(f, R.front_matter_line(front, "points"), "points must be a list of short sentences",
                         'write points: then one line per point, e.g.  - "Agree one small step."')
            continue
        cards.append(Card(str(meta["id"]), meta["title"], meta["topic"], meta["approach"], meta["audience"],
                          [str(s) for s in sources], m.group(2).strip(), str(f), [x.strip() for x in points]))
        wheres.append((f, 1))
    R.unique_ids(cards, wheres, problems, "card")
    return cards


# ---- dialogues (ours, ShareGPT, Q/A CSV) ------------------------------------------------------
def load_dialogues(root: str | Path | None = None, problems: Problems | None = None,
                   strict_fields: bool | None = None) -> list[Dialogue]:
    """Chat JSONL or ShareGPT JSONL files (a file or a folder of *.jsonl); CSV files go to load_qa_csv."""
    problems = problems or Problems()
    shipped = root is None
    root = Path(root) if root else paths.corpora_dir() / "dialogues"
    strict_fields = shipped if strict_fields is None else strict_fields
    out, wheres = [], []
    for f in R.corpus_files(root, "*.jsonl") + (R.corpus_files(root, "*.csv") if Path(root).is_dir() else []):
        if f.suffix.lower() == ".csv":
            rows = R.reported(problems, load_qa_csv, f, None, None, problems) or []
            out.extend(rows)
            wheres.extend((f, int(d.source.rsplit(":", 1)[1])) for d in rows)
            continue
        for n, obj in iter_jsonl(f, problems):
            msgs = R.chat_messages(obj, f, n, problems)
            if msgs is None:
                continue
            did = str(obj.get("id") or f"{f.stem}-{n}")
            d = Dialogue(did, msgs, str(obj.get("topic") or ""), str(obj.get("speaker") or ""),
                         R.str_list(obj, "behaviours", f, n, problems), source=f"{f.name}:{n}")
            if strict_fields:
                R.require(obj, ("id", "topic", "speaker", "behaviours"), f, n, problems)
                R.one_of(d.topic, TOPICS, "topic", f, n, problems)
                R.one_of(d.speaker, SPEAKERS, "speaker", f, n, problems)
                for b in d.behaviours:
                    R.one_of(b, DIMENSIONS, "behaviour", f, n, problems)
            out.append(d)
            wheres.append((f, n))
    R.unique_ids(out, wheres, problems, "dialogue")
    return out


def load_qa_csv(path: str | Path, question: str | None = None, answer: str | None = None,
                problems: Problems | None = None) -> list[Dialogue]:
    """A CSV with a question column and an answer column becomes one-turn dialogues."""
    path = Path(path)
    problems = problems or Problems()
    need = "name the columns question and answer, or pass question=…, answer=…"
    out, q, a = [], question, answer
    for n, row in R.iter_csv(path, problems, required=[c for c in (question, answer) if c], fix=need):
        if not out and (q is None or a is None):
            cols = {c.lower(): c for c in row}
            q = question or next((cols[c] for c in ("question", "prompt", "input", "context") if c in cols), None)
            a = answer or next((cols[c] for c in ("answer", "response", "output") if c in cols), None)
            if not q or not a:
                problems.add(path, 1, f"no question/answer columns among {list(row)}", need)
                return []
        if not row[q].strip() or not row[a].strip():
            problems.add(path, n, "empty question or answer", "fill both cells or drop the row")
            continue
        out.append(Dialogue(str(row.get("id") or f"{path.stem}-{n}"),
                            [{"role": "user", "content": row[q].strip()},
                             {"role": "assistant", "content": row[a].strip()}],
                            topic=row.get("topic", ""), source=f"{path.name}:{n}"))
    return out


# ---- evaluation queries -----------------------------------------------------------------------
def load_queries(path: str | Path | None = None, problems: Problems | None = None,
                 card_ids: set[str] | None = None, strict_fields: bool = False) -> list[Query]:
    """Any JSONL with at least id and text; the shipped set also carries key points and relevant cards.
    ``risk`` is a JSON boolean and ``speaker``, when given, one of SPEAKERS."""
    problems = problems or Problems()
    path = Path(path) if path else paths.corpora_dir() / "queries"
    out, wheres = [], []
    for f in R.corpus_files(path, "*.jsonl"):
        for n, obj in iter_jsonl(f, problems):
            if not R.require(obj, ("id", "text"), f, n, problems):
                continue
            if not isinstance(obj["text"], str):
                problems.add(f, n, f"text must be a string, not {obj['text']!r:.40}", 'write "text": "…"')
                continue
            q = Query(str(obj["id"]), obj["text"], obj.get("speaker") or "", obj.get("topic") or "",
                      R.boolean(obj, "risk", False, f, n, problems), R.str_list(obj, "key_points", f, n, problems),
                      R.str_list(obj, "relevant_cards", f, n, problems))
            if q.speaker:
                R.one_of(q.speaker, SPEAKERS, "speaker", f, n, problems)
            if strict_fields and q.topic:
                R.one_of(q.topic, TOPICS, "topic", f, n, problems)
            for c in q.relevant_cards if card_ids is not None else ():
                if c not in card_ids:
                    problems.add(f, n, f"relevant card {c!r} does not exist", "use an id from corpora/knowledge")
            out.append(q)
            wheres.append((f, n))
    R.unique_ids(out, wheres, problems, "query")
    return out


# ---- T-BARS rubric ----------------------------------------------------------------------------
def load_rubric(path: str | Path | None = None, problems: Problems | None = None) -> Rubric:
    problems = problems or Problems()
    path = Path(path) if path else paths.corpora_dir() / "rubric" / "tbars.yaml"
    data = R.read_yaml(path)
    if not isinstance(data, dict) or not isinstance(data.get("dimensions"), list):
        raise CorpusError("rubric has no 'dimensions' list", where=str(path), fix="see corpora/rubric/README.md")
    scale = data.get("scale") if isinstance(data.get("scale"), dict) else {}
    lo = R.whole_number(scale.get("min"), "scale min", path, R.line_of(scale), problems, 1)
    hi = R.whole_number(scale.get("max"), "scale max", path, R.line_of(scale), problems, 5)
    dims = []
    for d in data["dimensions"]:
        line = R.line_of(d)
        if not R.require(d, ("id", "name", "definition", "framework", "levels"), path, line, problems):
            continue
        if not isinstance(d["levels"], list):
            problems.add(path, line, f"levels of {d['id']} must be a list, not {type(d['levels']).__name__}",
                         "write levels: as a list of '- level: N' entries with anchor and examples")
            continue
        anchors, exemplars = {}, []
        for lv in d["levels"]:
            lvl = lv.get("level") if isinstance(lv, dict) else lv
            if not isinstance(lv, dict) or not isinstance(lvl, int) or not lo <= lvl <= hi:
                problems.add(path, R.line_of(lv) or line, f"level {lvl!r} of {d['id']} is not an integer {lo}..{hi}",
                             f"write '- level: N' (N an integer {lo}..{hi}) with anchor and examples")
                continue
            if not lv.get("anchor"):
                problems.add(path, R.line_of(lv), f"level {lvl} of {d['id']} has no anchor", "describe the behaviour")
            anchors[lvl] = lv.get("anchor", "")
            examples = lv.get("examples") if isinstance(lv.get("examples"), list) else []
            if len(examples) < 2:
                problems.add(path, R.line_of(lv), f"level {lvl} of {d['id']} has {len(examples)} examples",
                             "give at least two example responses per level, as a list")
            for ex in examples:
                if not isinstance(ex, dict) or not ex.get("response"):
                    problems.add(path, R.line_of(ex) or R.line_of(lv), "example without a response",
                                 "each example needs context and response")
                    continue
                exemplars.append(Exemplar(d["id"], lvl, ex.get("context", ""), ex["response"]))
        missing = sorted(set(range(lo, hi + 1)) - set(anchors))
        if missing:
            problems.add(path, line, f"dimension {d['id']} lacks level(s) {missing}", "add every level of the scale")
        dims.append(Dimension(d["id"], d["name"], d["definition"], d["framework"],
                              R.str_list(d, "sources", path, line, problems), anchors, exemplars))
    ids = [d.id for d in dims]
    if path.name == "tbars.yaml" and sorted(ids) != sorted(DIMENSIONS):
        problems.add(path, None, f"T-BARS dimensions are {ids}", f"expected exactly {DIMENSIONS}")
    version = R.whole_number(data.get("version"), "version", path, R.line_of(data), problems, 1)
    return Rubric(data.get("name", path.stem), version, lo, hi, dims)


# ---- inventories (the parsers live in workbench.inventories) -------------------------------
def load_reference_profiles(path: str | Path | None = None) -> list[dict]:
    path = Path(path) if path else paths.corpora_dir() / "inventories" / "reference_profiles.yaml"
    profiles = R.mapping(R.read_yaml, path, "see corpora/inventories/README.md").get("profiles") or []
    if not isinstance(profiles, list) or not all(isinstance(p, dict) for p in profiles):
        raise CorpusError("'profiles' must be a list of mappings", where=f"{path}:1",
                          fix="see corpora/inventories/README.md")
    return profiles


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
        for pid, p in (R.reported(problems, _load_prompt_file, user, problems, source="user") or {}).items():
            if pid in shipped:
                problems.add(user, None, f"saved prompt {pid!r} has the id of a shipped prompt",
                             "rename it in that file; shipped prompts cannot be replaced")
                continue
            shipped[pid] = p
    return shipped


def _load_prompt_file(path: Path, problems: Problems, source: str = "shipped") -> dict[str, Prompt]:
    prompts = R.mapping(R.read_yaml, path, "write prompts: followed by '- id: …' entries").get("prompts") or []
    if not isinstance(prompts, list):
        raise CorpusError("a prompt library must be a mapping with a 'prompts' list", where=f"{path}:1",
                          fix="write prompts: followed by '- id: …' entries with purpose and text")
    out = {}
    for p in prompts:
        if not R.require(p, ("id", "purpose", "text"), path, R.line_of(p), problems):
            continue
        if not isinstance(p["text"], str):
            problems.add(path, R.line_of(p), f"prompt {p['id']!r}: text must be text", "write text: | and the prompt")
            continue
        if p["id"] in out:
            problems.add(path, R.line_of(p), f"duplicate prompt id {p['id']!r}", "rename one of them")
        out[p["id"]] = Prompt(p["id"], p["purpose"], p["text"].strip(), source,
                              str(p.get("note") or ""), str(p.get("author") or ""))
    for need in ("baseline", "cotherapist") if source == "shipped" else ():
        if need not in out:
            problems.add(path, None, f"the prompt library lacks {need!r}", f"add a prompt with id {need}")
    return out


# ---- safety -----------------------------------------------------------------------------------
def load_safety_config(root: str | Path | None = None, problems: Problems | None = None) -> dict[str, Any]:
    """categories.yaml, escalation.yaml and resources.yaml as dicts; with a collecting ``problems`` a bad
    file is reported (and read as empty) while the others are still read."""
    root = Path(root) if root else paths.corpora_dir() / "safety"
    out = {}
    for name in ("categories", "escalation", "resources"):
        out[name] = R.reported(problems, R.mapping, R.read_yaml, root / f"{name}.yaml", f"see {root}/README.md") or {}
    return out

