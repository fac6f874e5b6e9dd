"""Agreement between raters of T-BARS (scorers or people) and of a scorer with the rubric's exemplars.

:func:`agreement` gives Krippendorff's alpha (ordinal), Spearman, exact and within-one agreement and a
confusion matrix per dimension; :func:`rank_stats` the accuracy, Spearman and MAE of predicted
levels, which the classifier's cross-validation and the judge's check use too.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from workbench.errors import WorkbenchError
from workbench.rubric.features import features_score
from workbench.rubric.record import LEVELS, RubricScore, blank, load_rubric
from workbench.stats import krippendorff_alpha

__all__ = ["agreement", "features_agreement", "rank_stats", "round_level"]


def _alpha(a: Sequence[float], b: Sequence[float]) -> float:
    """Two raters' ordinal alpha; nan when fewer than two responses pair up or nothing varies."""
    return krippendorff_alpha([list(a), list(b)], levels=LEVELS, min_units=2)


def round_level(v) -> float:
    """A fractional score as the nearest level 1..5 (halves round up); nan stays nan."""
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return float("nan")
    return float(min(5, max(1, math.floor(v + 0.5))))


def _as_ratings(x) -> dict[str, list]:
    if isinstance(x, dict):
        return {d: list(v) for d, v in x.items()}
    if isinstance(x, (list, tuple)) and all(isinstance(s, RubricScore) for s in x):
        dims = list(dict.fromkeys(d for s in x for d in s.scores))
        return {d: [s.scores.get(d) for s in x] for d in dims}
    raise WorkbenchError("agreement() takes a list of RubricScore or a dict {dimension: [ratings]}.",
                         fix="pass two raters' results for the same responses, in the same order")


def agreement(a, b) -> dict[str, dict]:
    """Agreement of two raters on the same responses, per dimension (and "overall", pooled).

    Krippendorff's alpha (ordinal; fractional scores are rounded to the nearest level), Spearman on the
    raw values, exact and within-one agreement and the 5x5 confusion matrix (rows: a, columns: b).
    Missing ratings (None) drop that pair. Alpha and Spearman are nan when undefined (no variation).
    """
    import numpy as np
    from scipy.stats import spearmanr
    from sklearn.metrics import confusion_matrix

    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        if len(a) != len(b):
            raise WorkbenchError(f"The raters scored {len(a)} and {len(b)} responses.",
                                 fix="pair the two raters' scores of the same responses, in the same order")
        for n, (x, y) in enumerate(zip(a, b, strict=True)):
            if isinstance(x, RubricScore) and isinstance(y, RubricScore) and x.response != y.response:
                raise WorkbenchError(f"Pair {n} rates two different responses.",
                                     where=f"item {n} ({x.query_id or x.query[:40]})",
                                     fix="put both raters' scores in the same order")
    ra, rb = _as_ratings(a), _as_ratings(b)
    out: dict[str, dict] = {}
    pool_a, pool_b = [], []
    for dim in [d for d in ra if d in rb]:
        if len(ra[dim]) != len(rb[dim]):
            raise WorkbenchError(f"{dim}: {len(ra[dim])} ratings against {len(rb[dim])}.", where=dim,
                                 fix="give both raters the same responses")
        pairs = [(float(x), float(y)) for x, y in zip(ra[dim], rb[dim], strict=True) if x is not None and y is not None]
        out[dim] = _agree(pairs, spearmanr, confusion_matrix, np)
        pool_a += [p[0] for p in pairs]
        pool_b += [p[1] for p in pairs]
    out["overall"] = _agree(list(zip(pool_a, pool_b, strict=True)), spearmanr, confusion_matrix, np)
    return out


def _agree(pairs, spearmanr, confusion_matrix, np) -> dict[str, Any]:
    if not pairs:
        return {"n": 0, "alpha": float("nan"), "spearman": float("nan"), "exact": float("nan"),
                "within_one": float("nan"), "confusion": [], "labels": list(LEVELS)}
    x = np.array([p[0] for p in pairs])
    y = np.array([p[1] for p in pairs])
    rx, ry = np.array([round_level(v) for v in x]), np.array([round_level(v) for v in y])
    rho = float(spearmanr(x, y).statistic) if len(x) > 1 and np.ptp(x) > 0 and np.ptp(y) > 0 else float("nan")
    return {"n": len(x), "alpha": _alpha(list(rx), list(ry)), "spearman": rho,
            "exact": float(np.mean(rx == ry)), "within_one": float(np.mean(np.abs(rx - ry) <= 1)),
            "confusion": confusion_matrix(rx.astype(int), ry.astype(int), labels=list(LEVELS)).tolist(),
            "labels": list(LEVELS)}


def features_agreement(rubric_path: str | Path | None = None, *, learned: bool = False) -> dict[str, dict]:
    """The rules (``learned``: the default scorer, with the learned codes) on the rubric's own exemplars:
    Spearman, exact and within-one, per dimension.

    In-sample for the rules' author (they were written with these exemplars in view), out of sample for
    the learned coders (never trained on them); also gives the mean score per level, so a reader sees
    whether level 5 sits above level 1.
    """
    rubric = load_rubric(rubric_path)
    dims = [d.id for d in rubric.dimensions]
    out: dict[str, dict] = {}
    all_p, all_y = [], []
    for dim in rubric.dimensions:
        codes = [None] * len(dim.exemplars)
        if learned:
            from workbench.behaviours import code

            codes = code([(e.context, e.response or " ") for e in dim.exemplars])
        rows = [features_score(e.context, e.response, None, "", dims, c) if e.response.strip()
                else blank("", e.context, e.response, "features", dims) for e, c in zip(dim.exemplars, codes,
                                                                                         strict=True)]
        p = [r.scores[dim.id] for r in rows]
        y = [e.level for e in dim.exemplars]
        stats = rank_stats(p, y)
        stats["mean_by_level"] = {
            lv: round(sum(v for v, k in zip(p, y, strict=True) if k == lv) / max(1, y.count(lv)), 2)
            for lv in sorted(set(y))}
        stats["predicted"] = p
        out[dim.id] = stats
        all_p += p
        all_y += y
    out["overall"] = rank_stats(all_p, all_y)
    return out


def rank_stats(pred: Sequence[float], levels: Sequence[int]) -> dict[str, Any]:
    """Accuracy of the rounded prediction, within one, Spearman and MAE of predictions against levels."""
    import numpy as np
    from scipy.stats import spearmanr

    p, y = np.asarray(pred, float), np.asarray(levels, float)
    r = np.clip(np.floor(p + 0.5), 1, 5)
    rho = float(spearmanr(p, y).statistic) if len(p) > 1 and np.ptp(p) > 0 and np.ptp(y) > 0 else float("nan")
    return {"n": len(y), "accuracy": round(float(np.mean(r == y)), 3),
            "within_one": round(float(np.mean(np.abs(r - y) <= 1)), 3), "spearman": round(rho, 3),
            "mae": round(float(np.mean(np.abs(p - y))), 3)}
