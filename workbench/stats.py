"""The statistics the stages share, each written once: a paired bootstrap and Krippendorff's alpha.

Evaluation (configuration vs base), psychometrics (trait means and profile differences), the rubric's
agreement tables and the expert-review summary all call these, so the same data gives the same
interval or alpha wherever it is reported.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

__all__ = ["krippendorff_alpha", "paired_bootstrap"]


def paired_bootstrap(a: Sequence[float], b: Sequence[float] | None = None, *, n_boot: int = 2000, seed: int = 0,
                     level: float = 0.95, rng: Any = None, digits: int | None = None) -> dict[str, Any]:
    """Mean of ``a - b`` over paired items (of ``a`` alone when ``b`` is None) with a percentile
    bootstrap interval that resamples the pairs.

    ``rng`` (a numpy Generator) lets several calls draw from one seeded stream; otherwise each call
    starts from ``seed``, so the same data always gives the same interval. ``digits`` rounds the
    mean and bounds. Returns ``{"mean", "ci_low", "ci_high", "n"}``; with no pairs the values are None.
    """
    import numpy as np

    d = np.asarray(a, dtype=float)
    if b is not None:
        d = d - np.asarray(b, dtype=float)
    if d.size == 0:
        return {"mean": None, "ci_low": None, "ci_high": None, "n": 0}
    rng = rng if rng is not None else np.random.default_rng(seed)
    boots = d[rng.integers(0, d.size, size=(n_boot, d.size))].mean(axis=1)
    tail = round((1 - level) * 50, 9)  # 2.5 exactly for level 0.95, not 2.5000000000000027
    lo, hi = np.percentile(boots, [tail, 100 - tail])
    out = [float(d.mean()), float(lo), float(hi)]
    if digits is not None:
        out = [round(v, digits) for v in out]
    return {"mean": out[0], "ci_low": out[1], "ci_high": out[2], "n": int(d.size)}


def krippendorff_alpha(rows: Sequence[Sequence[float]], *, levels: Sequence[int] = (1, 2, 3, 4, 5),
                       min_units: int = 1) -> float:
    """Krippendorff's ordinal alpha; ``rows`` is one list per rater over the same units, nan = not rated.

    nan when undefined: fewer than ``min_units`` units rated by two or more raters, or no variation
    among their values. Two raters comparing scorers need ``min_units=2`` (one shared unit gives a
    degenerate alpha of 0).
    """
    import krippendorff
    import numpy as np

    data = np.array(rows, dtype=float)
    pairable = data[:, (~np.isnan(data)).sum(axis=0) >= 2]
    if pairable.shape[1] < min_units or len(np.unique(pairable[~np.isnan(pairable)])) < 2:
        return float("nan")
    return float(krippendorff.alpha(reliability_data=data, level_of_measurement="ordinal",
                                    value_domain=list(levels)))
