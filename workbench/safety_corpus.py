"""The labelled messages the crisis screen learns from (``corpora/safety/train/``): one record type and its
loader, strict about labels that disagree. The frozen test split is never read here."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from workbench import corpus_readers as R
from workbench import paths
from workbench.corpora import RISK_CATEGORIES, RISK_LEVELS, SUBJECTS
from workbench.errors import CorpusError, Problems
from workbench.io import iter_jsonl

__all__ = ["ScreeningExample", "load_screening", "screening_files"]


@dataclass
class ScreeningExample:
    id: str
    text: str
    risk: bool
    level: str
    subject: str
    category: str
    lang: str = "en"
    kind: str = ""
    register: str = ""


def screening_files(path: str | Path | None = None) -> list[Path]:
    """The labelled messages the screen learns from: a JSONL file, or every ``*.jsonl`` in a folder
    (default ``corpora/safety/train/``). The frozen test split lives elsewhere and is never read here."""
    path = Path(path) if path else paths.corpora_dir() / "safety" / "train"
    if path.is_dir():
        files = sorted(path.glob("*.jsonl"))
        if not files:
            raise CorpusError(f"no .jsonl files in {path}", where=str(path),
                              fix="add labelled messages, one JSON object per line")
        return files
    return [path]


def load_screening(path: str | Path | None = None, problems: Problems | None = None) -> list[ScreeningExample]:
    """Labelled messages (``screening_files``): level, subject and category checked against each other."""
    problems = problems or Problems()
    out, wheres = [], []
    for file in screening_files(path):
        for n, obj in iter_jsonl(file, problems):
            if not R.require(obj, ("id", "text", "level", "subject", "category"), file, n, problems):
                continue
            if not (R.one_of(obj["level"], RISK_LEVELS, "level", file, n, problems)
                    & R.one_of(obj["subject"], SUBJECTS, "subject", file, n, problems)
                    & R.one_of(obj["category"], (*RISK_CATEGORIES, "none"), "category", file, n, problems)):
                continue
            risk = R.boolean(obj, "risk", obj["level"] != "none", file, n, problems)
            if risk != (obj["level"] != "none") or (obj["subject"] == "none") == risk \
                    or (obj["category"] == "none") == risk:
                problems.add(file, n, f"risk={risk}, level={obj['level']!r}, subject={obj['subject']!r} and "
                             f"category={obj['category']!r} disagree",
                             "risk is true exactly when level, subject and category are not none")
                continue
            out.append(ScreeningExample(str(obj["id"]), obj["text"], risk, obj["level"], obj["subject"],
                                        obj["category"], obj.get("lang", "en"), str(obj.get("kind") or ""),
                                        str(obj.get("register") or "")))
            wheres.append((file, n))
    R.unique_ids(out, wheres, problems, "screening example")
    return out
