"""The T-BARS record: one scorer's (or one person's) 1-5 ratings of one response, with evidence; how it
is saved and loaded; and the rubric it is checked against, loaded once per path."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from workbench import io
from workbench.errors import WorkbenchError

__all__ = ["LEVELS", "Item", "RubricScore", "blank", "human", "load_rubric", "load_scores", "save_scores"]

LEVELS = (1, 2, 3, 4, 5)
Item = tuple[str, str, str]  # (query_id, query, response): what every scorer rates


@dataclass
class RubricScore(io.Record):
    """One scorer's T-BARS ratings of one response: 1-5 per dimension, with the evidence behind each."""

    query: str
    response: str
    scorer: str
    scores: dict[str, float]
    evidence: dict[str, list[str]] = field(default_factory=dict)
    mean: float | None = None
    query_id: str = ""
    weak: bool = False
    info: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self):
        vals = [v for v in self.scores.values() if v is not None]
        if self.mean is None and vals:
            self.mean = round(sum(vals) / len(vals), 3)


def load_rubric(path: str | Path | None = None):
    """The rubric (``corpora.load_rubric``), parsed once per path in this process; None: the shipped one."""
    return _load_rubric(str(path) if path else "")


@lru_cache(maxsize=4)
def _load_rubric(path: str):
    from workbench.corpora import load_rubric as parse

    return parse(path or None)


def blank(query_id: str, query: str, response: str, scorer: str, dims: list[str]) -> RubricScore:
    """An empty response gets the lowest level on every dimension, whichever scorer is asked."""
    return RubricScore(query, response, scorer, dict.fromkeys(dims, 1), {d: ["empty response"] for d in dims},
                       query_id=query_id)


def human(query: str, response: str, ratings: dict[str, int], *, rater: str = "human", query_id: str = "",
          rubric=None) -> RubricScore:
    """A person's ratings as a RubricScore, checked against the rubric, to meet the scorers in agreement()."""
    rubric = rubric or load_rubric()
    dims = [d.id for d in rubric.dimensions]
    for dim, v in ratings.items():
        if dim not in dims:
            raise WorkbenchError(f"Unknown T-BARS dimension {dim!r}.", where=f"ratings by {rater}",
                                 fix=f"use {dims}")
        if v is not None and not (isinstance(v, (int, float)) and rubric.scale_min <= v <= rubric.scale_max):
            raise WorkbenchError(f"Rating {v!r} for {dim} is outside {rubric.scale_min}..{rubric.scale_max}.",
                                 where=f"ratings by {rater}",
                                 fix="rate each dimension with a whole number 1-5")
    return RubricScore(query, response, f"human:{rater}", dict(ratings), {}, query_id=query_id)


def save_scores(path: str | Path, scores: Iterable[RubricScore]) -> Path:
    """JSON lines, one RubricScore a line, written atomically."""
    return io.write_jsonl(path, [s.to_dict() for s in scores])


def load_scores(path: str | Path) -> list[RubricScore]:
    return io.read_jsonl(path, RubricScore, fix="save scores with workbench.rubric.save_scores")
