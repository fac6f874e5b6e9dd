"""Expert-coded (context, response) pairs: what the learned coders train on and are validated against.

Three formats, one record (:class:`CodedPair`):

- **EPITOME** (Sharma et al., EMNLP 2020): ``emotional-reactions.csv``, ``interpretations.csv`` and
  ``explorations.csv`` with columns ``sp_id, rp_id, seeker_post, response_post, level, rationales`` (level
  0/1/2, rationale spans separated by ``|``); a folder of them, or one of the files.
- **MI JSONL** (ours, ``corpora/rubric/mi/``): ``context``, ``text``, ``question`` (open/closed/none),
  ``reflection`` (simple/complex/none), coded from MITI 4.2.1 definitions.
- **MI CSV** the way AnnoMI publishes its utterance-level codes: one row per utterance with
  ``transcript_id``, ``utterance_id``, ``interlocutor`` (therapist/client), ``utterance_text``,
  ``question_subtype`` (open/closed, blank for none) and ``reflection_subtype`` (simple/complex); the
  preceding client utterance of the same transcript is the context. ``question_exists`` /
  ``reflection_exists`` columns are honoured when present.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from workbench.corpus_readers import iter_csv
from workbench.errors import WorkbenchError
from workbench.io import Record

__all__ = ["CODES", "MECHANISMS", "CodedPair", "load_coded", "load_epitome", "load_mi_csv", "load_mi_jsonl",
           "mi_files"]

MECHANISMS = ("emotional_reactions", "interpretations", "explorations")
# Every head's classes, in the order the network outputs them.
CODES: dict[str, tuple] = {m: (0, 1, 2) for m in MECHANISMS} | {
    "question": ("none", "open", "closed"), "reflection": ("none", "simple", "complex")}
_EPITOME_FILES = {"emotional_reactions": "emotional-reactions", "interpretations": "interpretations",
                  "explorations": "explorations"}


@dataclass
class CodedPair(Record):
    """One response (or therapist turn) with the turn before it and the codes an expert gave it.

    ``codes`` holds only the heads this pair was coded on (EPITOME pairs have no MI codes and vice versa);
    ``rationales`` the EPITOME spans per mechanism; ``group`` keeps pairs answering the same message in the
    same cross-validation fold."""

    context: str
    text: str
    codes: dict = field(default_factory=dict)
    rationales: dict = field(default_factory=dict)
    id: str = ""
    group: str = ""
    source: str = ""


def load_epitome(path: str | Path) -> list[CodedPair]:
    """EPITOME pairs with every mechanism the files rate, merged by (seeker id, response id)."""
    path = Path(path)
    files = {m: path / f"{stem}.csv" for m, stem in _EPITOME_FILES.items()} if path.is_dir() else None
    if files is None:
        stem = path.stem.removesuffix("-reddit")
        mech = [m for m, s in _EPITOME_FILES.items() if s == stem]
        files = {mech[0] if mech else "": path}
    files = {m: f for m, f in files.items() if f.is_file()}
    if not files or "" in files:
        raise WorkbenchError(f"No EPITOME file at {path}.", where=str(path),
                             fix="give a folder with emotional-reactions.csv, interpretations.csv and "
                                 "explorations.csv, or one of them")
    pairs: dict[tuple, CodedPair] = {}
    for mech, f in files.items():
        for n, row in iter_csv(f, required=("seeker_post", "response_post", "level"),
                               fix="EPITOME's columns: sp_id, rp_id, seeker_post, response_post, level, rationales"):
            try:
                level = int(float(row["level"]))
                assert level in (0, 1, 2)
            except (ValueError, AssertionError):
                raise WorkbenchError(f"Level {row['level']!r} is not 0, 1 or 2.", where=f"{f}:{n}",
                                     fix="EPITOME levels are 0 (none), 1 (weak) or 2 (strong)") from None
            key = (row.get("sp_id") or row["seeker_post"], row.get("rp_id") or row["response_post"])
            p = pairs.setdefault(key, CodedPair(row["seeker_post"], row["response_post"], id=str(key[1]),
                                                group=str(key[0]), source="epitome"))
            p.codes[mech] = level
            p.rationales[mech] = [s.strip() for s in (row.get("rationales") or "").split("|") if s.strip()]
    return list(pairs.values())


_BLANK = {"", "n/a", "na", "nan", "none", "-", "null"}


def _mi_code(value, head: str, where: str) -> str:
    v = str(value if value is not None else "").strip().lower()
    v = "none" if v in _BLANK else v
    if v not in CODES[head]:
        raise WorkbenchError(f"{head} code {value!r} is not one of {list(CODES[head])}.", where=where,
                             fix=f"use {', '.join(CODES[head])}")
    return v


def load_mi_jsonl(path: str | Path) -> list[CodedPair]:
    """Our MI-coded utterances (``corpora/rubric/mi/``): one JSON object a line."""
    path = Path(path)
    out = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            r = json.loads(line)
            text = r["text"]
        except (ValueError, KeyError, TypeError) as exc:
            raise WorkbenchError(f"Line {n} is not an MI record ({exc}).", where=f"{path}:{n}",
                                 fix='write {"context": ..., "text": ..., "question": ..., "reflection": ...}') from exc
        codes = {h: _mi_code(r.get(h), h, f"{path}:{n}") for h in ("question", "reflection")}
        out.append(CodedPair(r.get("context") or "", text, codes, id=str(r.get("id", f"{path.stem}-{n}")),
                             group=str(r.get("id", n)), source=r.get("register", "mi")))
    return out


def load_mi_csv(path: str | Path) -> list[CodedPair]:
    """Therapist utterances of an AnnoMI-style CSV, each with the client utterance before it as context."""
    path = Path(path)
    out, last_client = [], {}
    for n, row in iter_csv(path, required=("interlocutor", "utterance_text"),
                           fix="one row per utterance: transcript_id, interlocutor, utterance_text, "
                               "question_subtype, reflection_subtype"):
        tid = row.get("transcript_id", "")
        who = row["interlocutor"].strip().lower()
        if who.startswith("client"):
            last_client[tid] = row["utterance_text"]
            continue
        if not who.startswith("therapist"):
            continue
        codes = {}
        for head in ("question", "reflection"):
            exists = str(row.get(f"{head}_exists", "")).strip().lower()
            sub = row.get(f"{head}_subtype")
            if sub is None and not exists:
                continue  # the file does not code this head
            codes[head] = "none" if exists in ("false", "0", "no") else _mi_code(sub, head, f"{path}:{n}")
        if not codes:
            raise WorkbenchError(f"{path.name} has no question or reflection codes.", where=str(path),
                                 fix="add question_subtype and reflection_subtype columns (open/closed, "
                                     "simple/complex, blank for none)")
        out.append(CodedPair(last_client.get(tid, ""), row["utterance_text"], codes,
                             id=f"{tid}:{row.get('utterance_id', n)}", group=tid, source="mi-csv"))
    return out


def mi_files(folder: str | Path | None = None) -> list[Path]:
    """The MI training files (default ``corpora/rubric/mi/train``), sorted."""
    from workbench import paths

    d = Path(folder) if folder else paths.corpora_dir() / "rubric" / "mi" / "train"
    return sorted(d.glob("*.jsonl")) if d.is_dir() else ([d] if d.is_file() else [])


def load_coded(path: str | Path, fmt: str) -> list[CodedPair]:
    """Pairs of a file or folder in ``fmt``: ``epitome``, ``mi`` (our JSONL or an AnnoMI-style CSV)."""
    path = Path(path)
    if not path.exists():
        raise WorkbenchError(f"{path} does not exist.", where=str(path), fix="check the path")
    if fmt == "epitome":
        return load_epitome(path)
    if fmt == "mi":
        files = mi_files(path) if path.is_dir() else [path]
        return [p for f in files for p in (load_mi_csv(f) if f.suffix.lower() == ".csv" else load_mi_jsonl(f))]
    raise WorkbenchError(f"Unknown format {fmt!r}.", fix="use epitome or mi")
