"""The ``judge`` scorer: a local language model asked for the level given the dimension's anchors,
scored by likelihood of the options "1".."5" (expected value over renormalised probabilities).
Labelled ``weak`` when :func:`judge_agreement` with the exemplars' levels is poor, which it is for
the 135M default model (measured Spearman -0.14, ordinal alpha -0.42 on 40 exemplars)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from workbench.errors import WorkbenchError
from workbench.io import Record
from workbench.rubric.agreement import rank_stats, round_level
from workbench.rubric.record import LEVELS, Item, RubricScore, load_rubric
from workbench.stats import krippendorff_alpha

__all__ = ["JUDGE_MIN_ALPHA", "JUDGE_MIN_SPEARMAN", "JudgeAgreement", "judge_agreement", "score_judge"]

JUDGE_MIN_SPEARMAN = 0.4   # below this agreement with the exemplars' levels the judge is labelled weak
JUDGE_MIN_ALPHA = 0.4

_JUDGE_SYSTEM = ("You rate one written response on one dimension of T-BARS, a behaviourally anchored "
                 "1-5 scale.\n"
                 "Dimension: {name}. {definition}\nLevels:\n{levels}\n"
                 "Reply with the single digit of the level whose description fits the response best.")
_JUDGE_USER = "Message: {context}\n\nResponse: {response}\n\nLevel (1-5) for {name}:"
_OPTIONS = [str(k) for k in LEVELS]


def _judge_messages(dim, context: str, response: str) -> list[dict]:
    levels = "\n".join(f"{k}: {dim.anchors[k]}" for k in sorted(dim.anchors))
    system = _JUDGE_SYSTEM.format(name=dim.name, definition=" ".join(dim.definition.split()), levels=levels)
    return [{"role": "system", "content": system},
            {"role": "user", "content": _JUDGE_USER.format(context=context.strip() or "(none)",
                                                            response=response.strip(), name=dim.name)}]


def _expected(logps: list[float]) -> tuple[float, list[float]]:
    top = max(logps)
    w = [math.exp(v - top) for v in logps]
    z = sum(w)
    probs = [v / z for v in w]
    return sum(p * k for p, k in zip(probs, LEVELS, strict=True)), probs


def _judge_raw(gen, pairs: list[tuple[str, str]], dim_ids: list[str], rubric) -> dict[str, list[tuple]]:
    """Expected level and option probabilities per dimension for each (context, response).

    One score_many call a dimension, so the shared system prompt (definition and anchors) runs once.
    """
    out = {}
    for dim_id in dim_ids:
        dim = rubric.dimension(dim_id)
        rows = gen.score_many([_judge_messages(dim, c, r) for c, r in pairs], _OPTIONS)
        out[dim_id] = [_expected(row) for row in rows]
    return out


@dataclass
class JudgeAgreement(Record):
    """How well a judge model recovers the exemplars' levels: ``rank_stats`` per dimension and pooled
    (``overall``, with ordinal ``alpha``), ``weak`` when below the thresholds, the model and ``n``
    exemplars. ``to_dict()`` puts the dimensions at the top level beside the other keys."""

    dimensions: dict[str, dict]
    overall: dict[str, Any]
    weak: bool
    model: str
    n: int

    def to_dict(self) -> dict[str, Any]:
        return {**self.dimensions, "overall": self.overall, "weak": self.weak, "model": self.model, "n": self.n}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> JudgeAgreement:
        fixed = ("overall", "weak", "model", "n")
        missing = [k for k in fixed if k not in d]
        if missing:
            raise WorkbenchError(f"A JudgeAgreement record lacks {', '.join(missing)}.",
                                 fix="save it with JudgeAgreement.to_dict()")
        return cls({k: v for k, v in d.items() if k not in fixed}, d["overall"], bool(d["weak"]), d["model"],
                   int(d["n"]))


_AGREEMENT: dict[tuple, JudgeAgreement] = {}


def judge_agreement(gen, per_level: int | None = 1, rubric_path: str | Path | None = None) -> JudgeAgreement:
    """How well the judge recovers the exemplars' levels, per dimension and overall (no fitting, no leak).

    ``per_level`` exemplars of each level per dimension (1: 40 prompts, cheap enough for the 135M
    model; None: all 120). ``weak`` is True when overall Spearman < JUDGE_MIN_SPEARMAN or ordinal
    alpha < JUDGE_MIN_ALPHA. Cached per model in this process.
    """
    key = (getattr(gen, "name", id(gen)), per_level, str(rubric_path or ""))
    if key in _AGREEMENT:
        return _AGREEMENT[key]
    rubric = load_rubric(rubric_path)
    by_dim: dict[str, dict] = {}
    preds, ys = [], []
    for dim in rubric.dimensions:
        chosen, seen = [], {}
        for e in dim.exemplars:
            seen[e.level] = seen.get(e.level, 0) + 1
            if per_level is None or seen[e.level] <= per_level:
                chosen.append(e)
        raw = _judge_raw(gen, [(e.context, e.response) for e in chosen], [dim.id], rubric)[dim.id]
        p, y = [v for v, _ in raw], [e.level for e in chosen]
        by_dim[dim.id] = rank_stats(p, y)
        preds += p
        ys += y
    overall = rank_stats(preds, ys)
    overall["alpha"] = round(krippendorff_alpha([ys, [round_level(v) for v in preds]], levels=LEVELS, min_units=2),
                             3)
    rho = overall["spearman"]
    weak = bool(not (rho >= JUDGE_MIN_SPEARMAN) or not (overall["alpha"] >= JUDGE_MIN_ALPHA))
    out = JudgeAgreement(by_dim, overall, weak, getattr(gen, "name", "?"), len(ys))
    _AGREEMENT[key] = out
    return out


def score_judge(items: Sequence[Item], dims: list[str], *, model: str | None = None,
                rubric_path: str | Path | None = None, **_) -> list[RubricScore]:
    """The scorer-table entry: (query_id, query, response) items rated by the model named ``model``
    (default: the workbench's default), labelled weak when :func:`judge_agreement` is poor."""
    from workbench.models import get_generator

    gen = get_generator(model)
    raw = _judge_raw(gen, [(q, r) for _, q, r in items], dims, load_rubric(rubric_path))
    weak = judge_agreement(gen).weak
    out = []
    for row, (qid, q, r) in enumerate(items):
        scores, evidence = {}, {}
        for dim in dims:
            value, probs = raw[dim][row]
            scores[dim] = round(value, 2)
            evidence[dim] = ["p(1..5) = " + " ".join(f"{p:.2f}" for p in probs)]
        out.append(RubricScore(q, r, f"judge:{getattr(gen, 'name', '?')}", scores, evidence, query_id=qid,
                               weak=weak))
    return out
