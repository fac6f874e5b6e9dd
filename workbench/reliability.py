"""Reliability and validity of a questionnaire over a respondent population: Cronbach's alpha, McDonald's
omega where a one-factor model fits (both with bootstrap intervals over respondents), and the
multitrait-multimethod table (Campbell & Fiske 1959) that tells convergent from discriminant validity
across two forms.

Every function takes plain respondents x items (or respondents x traits) tables, so a hand-made
example can check it before any model is blamed.
"""

from __future__ import annotations

import math

__all__ = ["MAX_SRMR", "alpha_interval", "cronbach_alpha", "keying_agreement", "mtmm", "omega_interval", "one_factor",
           "persona_share"]

# Hu & Bentler (1999): a standardised root mean square residual up to 0.08 is a good fit.
MAX_SRMR = 0.08


def cronbach_alpha(matrix) -> float:
    """Respondents (rows) x items (columns); pingouin's implementation; nan when undefined."""
    return alpha_interval(matrix)[0]


def alpha_interval(matrix, level: float = 0.95, *, n_boot: int = 1000, seed: int = 0) -> tuple[float, float, float]:
    """Alpha (pingouin) and its percentile bootstrap interval over respondents (rows), the same kind of
    interval omega and the trait means get; nans when there are too few respondents or no variance."""
    import numpy as np
    import pandas as pd
    import pingouin as pg

    df = pd.DataFrame(matrix).dropna()
    nan = (math.nan, math.nan, math.nan)
    if df.shape[0] < 3 or df.shape[1] < 2 or (df.var(ddof=1) == 0).all():
        return nan
    a = float(pg.cronbach_alpha(data=df)[0])
    if not math.isfinite(a):
        return nan
    x = df.to_numpy(dtype=float)
    n, k = x.shape
    boot = x[np.random.default_rng(seed).integers(0, n, size=(n_boot, n))]  # n_boot x n x k
    total = boot.sum(axis=2).var(axis=1, ddof=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        alphas = k / (k - 1) * (1 - boot.var(axis=1, ddof=1).sum(axis=1) / total)
    alphas = alphas[np.isfinite(alphas)]
    tail = (1 - level) * 50
    lo, hi = np.percentile(alphas, [tail, 100 - tail]) if alphas.size else (math.nan, math.nan)
    return a, float(lo), float(hi)


def one_factor(matrix) -> tuple[float, float]:
    """McDonald's omega and the SRMR of a one-factor model (scikit-learn FactorAnalysis on standardised
    items); nans when there are fewer respondents than items + 1 or an item does not vary."""
    import numpy as np
    from sklearn.decomposition import FactorAnalysis

    x = np.asarray(matrix, dtype=float)
    n, p = x.shape
    if n < max(3, p + 1) or p < 2:
        return math.nan, math.nan
    sd = x.std(axis=0, ddof=1)
    if np.any(sd == 0):
        return math.nan, math.nan
    z = (x - x.mean(axis=0)) / sd
    fa = FactorAnalysis(n_components=1, random_state=0).fit(z)
    loadings, noise = fa.components_[0], fa.noise_variance_
    s = loadings.sum() ** 2
    implied = np.outer(loadings, loadings) + np.diag(noise)
    observed = np.corrcoef(z, rowvar=False)
    low = np.tril_indices(p)
    # implied is a covariance of z; compare it as a correlation, as SRMR is defined on correlations
    d = np.sqrt(np.diag(implied))
    resid = observed - implied / np.outer(d, d)
    return float(s / (s + noise.sum())), float(np.sqrt(np.mean(resid[low] ** 2)))


def omega_interval(matrix, *, n_boot: int = 200, seed: int = 0, level: float = 0.95) -> dict:
    """Omega with a percentile bootstrap over respondents, reported only where one factor fits
    (SRMR <= MAX_SRMR); ``note`` says why it is missing otherwise."""
    import numpy as np

    x = np.asarray(matrix, dtype=float)
    omega, srmr = one_factor(x)
    out = {"omega": math.nan, "low": math.nan, "high": math.nan, "srmr": srmr, "note": ""}
    if not math.isfinite(omega):
        out["note"] = (f"omega undefined: {x.shape[0]} respondents for {x.shape[1]} items (a factor model needs "
                       "more respondents than items) or an item that never varies")
        return out
    if srmr > MAX_SRMR:
        out["note"] = f"omega not reported: one factor does not fit (SRMR {srmr:.3f} > {MAX_SRMR})"
        return out
    rng = np.random.default_rng(seed)
    boots = [one_factor(x[rng.integers(0, len(x), len(x))])[0] for _ in range(n_boot)]
    boots = [b for b in boots if math.isfinite(b)]
    tail = (1 - level) * 50
    lo, hi = np.percentile(boots, [tail, 100 - tail]) if boots else (math.nan, math.nan)
    out.update(omega=omega, low=float(lo), high=float(hi))
    return out


def mtmm(scores: dict, reliability: dict | None = None) -> dict:
    """Multitrait-multimethod table from ``{form: DataFrame respondents x traits}``.

    Rows and columns are form:trait pairs over the respondents every form shares. ``convergent`` is the
    same trait's correlation across forms (mean over form pairs); ``discriminant`` the largest absolute
    correlation of the trait with any other trait (in any form); a trait ``passes`` when its convergent
    correlation exceeds that, Campbell and Fiske's second and third criteria together. ``reliability``
    (``{form: {trait: alpha}}``) fills the diagonal's companion ``alpha`` list.
    """
    import itertools

    import numpy as np
    import pandas as pd

    forms = list(scores)
    traits = [t for t in scores[forms[0]].columns if all(t in scores[f].columns for f in forms)]
    shared = scores[forms[0]].index
    for f in forms[1:]:
        shared = shared.intersection(scores[f].index)
    labels = [f"{f}:{t}" for f in forms for t in traits]
    table = pd.concat([scores[f].loc[shared, traits].add_prefix(f"{f}:") for f in forms], axis=1)[labels]
    r = table.corr().to_numpy() if len(shared) >= 3 else np.full((len(labels), len(labels)), np.nan)
    at = {lab: i for i, lab in enumerate(labels)}
    convergent, discriminant, passes = {}, {}, {}
    for t in traits:
        conv = [r[at[f"{a}:{t}"], at[f"{b}:{t}"]] for a, b in itertools.combinations(forms, 2)]
        others = [abs(r[at[f"{a}:{t}"], at[f"{b}:{u}"]]) for a in forms for b in forms for u in traits if u != t]
        convergent[t] = float(np.mean(conv)) if conv else math.nan
        discriminant[t] = float(np.nanmax(others)) if others and not np.all(np.isnan(others)) else math.nan
        passes[t] = bool(convergent[t] > discriminant[t])
    rel = reliability or {}
    return {"forms": forms, "traits": traits, "labels": labels, "n": int(len(shared)),
            "matrix": [[float(v) for v in row] for row in r],
            "alpha": [rel.get(f, {}).get(t, math.nan) for f in forms for t in traits],
            "convergent": convergent, "discriminant": discriminant, "passes": passes}


def persona_share(frame) -> float:
    """Of the spread of respondents' keyed scores (``frame``: persona, variant, keyed), the share due to the
    personas: between-persona variance over it plus between-variant variance (nan without a population)."""
    if frame["persona"].nunique() < 3 or frame["variant"].nunique() < 2:
        return math.nan
    vp = frame.groupby("persona")["keyed"].mean().var()
    vv = frame.groupby("variant")["keyed"].mean().var()
    return float(vp / (vp + vv)) if vp + vv > 0 else math.nan


def keying_agreement(wide, keys) -> tuple[float, float]:
    """Mean inter-item correlation (respondents x keyed items) for pairs keyed alike and pairs keyed
    oppositely; alike > 0 > oppositely is acquiescence, which drives alpha below zero."""
    import numpy as np

    keys = np.asarray(keys)
    r = np.asarray(wide.corr() if hasattr(wide, "corr") else np.corrcoef(wide, rowvar=False))
    low = np.tril_indices(len(keys), -1)
    alike = keys[low[0]] == keys[low[1]]
    same, cross = r[low][alike], r[low][~alike]
    mean = lambda x: float(np.nanmean(x)) if len(x) and not np.all(np.isnan(x)) else math.nan  # noqa: E731
    return mean(same), mean(cross)
