"""How far the learned coders and T-BARS agree with expert annotations: ``workbench validate`` on any coded
file, and the cross-validation that ships with the coders' weights.

Each coder head is compared with the experts' codes by Cohen's kappa (quadratic-weighted too for EPITOME's
ordinal levels), macro-F1, accuracy, Spearman (ordinal heads) and a confusion matrix, every number with a
percentile bootstrap interval over the pairs; calibration is the observed accuracy per bin of the coder's
confidence. On EPITOME pairs T-BARS empathy (the default scorer's) is also ranked against the experts'
emotional reactions + interpretations, the issue's validity criterion.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from workbench.behaviours.coded import CODES, MECHANISMS, CodedPair
from workbench.errors import WorkbenchError

__all__ = ["FORMATS", "agreement_stats", "calibration", "cross_validate", "cv_report", "fit_offsets", "format_report",
           "head_report", "shipped_cv", "validate"]

FORMATS = ("epitome", "mi", "ratings")
N_BOOT = 1000


def _interval(metric, y, p, n_boot: int = N_BOOT, seed: int = 0) -> dict:
    """The metric on all pairs and a 95 % percentile interval over pairs resampled with replacement."""
    import numpy as np

    y, p = np.asarray(y), np.asarray(p)
    value = metric(y, p)
    rng = np.random.default_rng(seed)
    boots = []
    for _ in range(n_boot):
        i = rng.integers(0, len(y), len(y))
        v = metric(y[i], p[i])
        if v == v:  # nan when a resample has one class only
            boots.append(v)
    lo, hi = (np.percentile(boots, [2.5, 97.5]) if boots else (float("nan"),) * 2)
    return {"value": round(float(value), 3), "ci_low": round(float(lo), 3), "ci_high": round(float(hi), 3)}


def _confusion(y, p, k: int):
    import numpy as np

    return np.bincount(np.asarray(y) * k + np.asarray(p), minlength=k * k).reshape(k, k).astype(float)


def _kappa(cm, weights: str | None = None) -> float:
    """Cohen's kappa from a confusion matrix (``quadratic``: weighted by squared distance), nan when undefined."""
    import numpy as np

    k = len(cm)
    w = (np.subtract.outer(np.arange(k), np.arange(k)) ** 2 if weights == "quadratic" else 1 - np.eye(k))
    expected = np.outer(cm.sum(1), cm.sum(0)) / max(cm.sum(), 1)
    denom = (w * expected).sum()
    return float(1 - (w * cm).sum() / denom) if denom > 0 else float("nan")


def _macro_f1(cm) -> float:
    import numpy as np

    tp = np.diag(cm)
    return float(np.mean(2 * tp / np.maximum(cm.sum(0) + cm.sum(1), 1)))


def agreement_stats(truth: Sequence[int], pred: Sequence[int], classes: Sequence, *, ordinal: bool) -> dict:
    """Agreement of predicted with expert class indices: kappa, macro-F1, accuracy (+ weighted kappa and
    Spearman when ``ordinal``), each with an interval; the confusion matrix (rows: experts) and recall per
    class."""
    import warnings

    import numpy as np
    from scipy.stats import spearmanr

    k = len(classes)

    def rho(y, p):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return spearmanr(y, p).statistic if len(set(y)) > 1 and len(set(p)) > 1 else float("nan")

    out: dict[str, Any] = {
        "n": len(truth), "classes": [str(c) for c in classes],
        "kappa": _interval(lambda y, p: _kappa(_confusion(y, p, k)), truth, pred),
        "macro_f1": _interval(lambda y, p: _macro_f1(_confusion(y, p, k)), truth, pred),
        "accuracy": _interval(lambda y, p: float(np.mean(y == p)), truth, pred)}
    if ordinal:
        out["weighted_kappa"] = _interval(lambda y, p: _kappa(_confusion(y, p, k), "quadratic"), truth, pred)
        out["spearman"] = _interval(rho, truth, pred)
    cm = _confusion(truth, pred, k).astype(int)
    out["confusion"] = cm.tolist()
    out["recall"] = {str(c): (round(float(cm[i, i] / cm[i].sum()), 3) if cm[i].sum() else None)
                     for i, c in enumerate(classes)}
    return out


def calibration(truth: Sequence[int], probs: Sequence[Sequence[float]], bins: int = 10) -> list[dict]:
    """Per bin of the coder's confidence (its top probability): how many, mean confidence, accuracy."""
    import numpy as np

    probs = np.asarray(probs)
    conf, right = probs.max(1), probs.argmax(1) == np.asarray(truth)
    out = []
    for lo in np.linspace(0, 1, bins, endpoint=False):
        m = (conf >= lo) & (conf < lo + 1 / bins + (1e-9 if lo + 1 / bins >= 1 else 0))
        if m.any():
            out.append({"bin": round(float(lo), 2), "n": int(m.sum()), "confidence": round(float(conf[m].mean()), 3),
                        "accuracy": round(float(right[m].mean()), 3)})
    return out


def fit_offsets(pairs: Sequence[CodedPair], probs: Sequence[dict]) -> dict[str, list[float]]:
    """Per head, log-probability offsets (the first class fixed at 0) that maximise macro-F1 on these
    predictions: a grid from -1 to 3 in steps of 0.25, ties to the smallest offsets. Fit it on out-of-fold
    predictions only."""
    import itertools

    import numpy as np

    grid = [x / 4 for x in range(-4, 13)]
    out = {}
    for head, classes in CODES.items():
        idx = [i for i, p in enumerate(pairs) if head in p.codes]
        if not idx:
            continue
        y = np.array([classes.index(pairs[i].codes[head]) for i in idx])
        logp = np.log(np.clip(np.array([probs[i][head] for i in idx], dtype=float), 1e-9, None))
        k = len(classes)

        def f1(off, y=y, logp=logp, k=k):
            return _macro_f1(_confusion(y, np.argmax(logp + off, axis=1), k)) - 1e-4 * float(np.abs(off).sum())

        out[head] = max(([0.0, *o] for o in itertools.product(grid, repeat=len(classes) - 1)),
                        key=lambda o: f1(np.array(o)))
    return out


def head_report(pairs: Sequence[CodedPair], probs: Sequence[dict], *, rates_only: bool = False,
                offsets: dict | Sequence[dict] | None = None) -> dict:
    """Agreement and calibration of every head the pairs are coded on; ``probs`` one dict (head -> class
    probabilities) per pair, decided with ``offsets`` (head -> offsets, or one such dict per pair). On EPITOME
    pairs also ``tbars_empathy``: Spearman of the empathy the default T-BARS scorer derives from these codes
    with the experts' emotional reactions + interpretations."""
    from scipy.stats import spearmanr

    from workbench.behaviours.coders import decide

    per_pair = offsets if isinstance(offsets, (list, tuple)) else [offsets or {}] * len(pairs)
    out: dict[str, Any] = {"n_pairs": len(pairs), "heads": {}}
    for head, classes in CODES.items():
        idx = [i for i, p in enumerate(pairs) if head in p.codes]
        if not idx:
            continue
        y = [classes.index(pairs[i].codes[head]) for i in idx]
        pr = [probs[i][head] for i in idx]
        pred = [decide(probs[i][head], per_pair[i].get(head)) for i in idx]
        stats = agreement_stats(y, pred, classes, ordinal=head in MECHANISMS)
        stats["calibration"] = calibration(y, pr)
        out["heads"][head] = stats
    both = [i for i, p in enumerate(pairs) if {"emotional_reactions", "interpretations"} <= set(p.codes)]
    if both:
        from workbench.rubric.features import learned_empathy

        expert = [pairs[i].codes["emotional_reactions"] + pairs[i].codes["interpretations"] for i in both]
        ours = [learned_empathy(probs[i]) for i in both]
        out["tbars_empathy"] = {"n": len(both), **_interval(lambda y, p: spearmanr(y, p).statistic, expert, ours)}
    if rates_only:
        for stats in out["heads"].values():
            stats.pop("calibration")
    return out


def _predict(pairs: Sequence[CodedPair], model=None, progress=None, cancel=None) -> list[dict] | None:
    from workbench.behaviours.coders import coders

    model = model or coders()
    out: list[dict] = []
    for start in range(0, len(pairs), 64):
        if cancel is not None and cancel.is_set():
            return None
        part = pairs[start:start + 64]
        out += [r["probs"] for r in model.predict([(p.context, p.text) for p in part])]
        if progress:
            progress(len(out), len(pairs))
    return out


def validate(path: str | Path, fmt: str, *, rates_only: bool = False, progress=None, cancel=None) -> dict | None:
    """Agreement of the shipped coders (``epitome``, ``mi``) or of T-BARS (``ratings``) with the experts'
    annotations in ``path``. ``rates_only`` leaves out calibration (for a frozen split). ``progress(done,
    total)`` follows the pairs; ``cancel`` (a threading.Event) stops and returns None."""
    from workbench.behaviours.coded import load_coded

    if fmt not in FORMATS:
        raise WorkbenchError(f"Unknown format {fmt!r}.", fix=f"use one of {', '.join(FORMATS)}")
    if fmt == "ratings":
        return _validate_ratings(Path(path))
    pairs = load_coded(path, fmt)
    if not pairs:
        raise WorkbenchError(f"{path} holds no coded pairs.", where=str(path),
                             fix="check the format: see `workbench validate --help`")
    from workbench.behaviours.coders import coders

    probs = _predict(pairs, progress=progress, cancel=cancel)
    if probs is None:
        return None
    report = head_report(pairs, probs, rates_only=rates_only, offsets=coders().manifest.get("offsets"))
    return {"data": str(path), "format": fmt, **report}


def shipped_cv() -> dict | None:
    """The cross-validation report written with the shipped weights (``workbench coders --cv K``), if any."""
    import json

    from workbench.behaviours.coders import WEIGHTS

    path = WEIGHTS / "cv.json"
    return json.loads(path.read_text()) if path.is_file() else None


def _validate_ratings(path: Path) -> dict:
    """Expert T-BARS ratings (CSV or JSONL: ``query``, ``response`` and a 1-5 column per dimension) against
    the default scorers, per dimension (Krippendorff's alpha, Spearman, exact and within-one)."""
    import json

    from workbench import rubric
    from workbench.corpus_readers import iter_csv

    rows = ([row for _, row in iter_csv(path)] if path.suffix.lower() == ".csv"
            else [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()])
    if not rows or not {"query", "response"} <= set(rows[0]):
        raise WorkbenchError(f"{path.name} needs the columns query and response plus one per dimension.",
                             where=str(path), fix="e.g. query,response,empathy,exploration (ratings 1-5)")
    known = [d.id for d in rubric.load_rubric().dimensions]
    dims = [d for d in known if d in rows[0]]
    if not dims:
        raise WorkbenchError(f"{path.name} rates no T-BARS dimension.", where=str(path),
                             fix=f"add a column named after a dimension: {known}")
    expert = {d: [float(r[d]) if str(r.get(d) or "").strip() else None for r in rows] for d in dims}
    scored = rubric.score_batch([(r["query"], r["response"]) for r in rows], rubric.DEFAULT_SCORERS)
    out: dict[str, Any] = {"data": str(path), "format": "ratings", "n_pairs": len(rows), "scorers": {}}
    for name in rubric.DEFAULT_SCORERS:
        ours = {d: [s[name].scores.get(d) for s in scored] for d in dims}
        out["scorers"][name] = rubric.agreement(expert, ours)
    return out


def cross_validate(pairs: Sequence[CodedPair], k: int = 4, *, folds: Sequence[int] | None = None,
                   previous: Sequence[dict] = (), on_fold=None, progress=None, cancel=None) -> dict:
    """k-fold cross-validation of the coders (pairs answering the same message stay in one fold): each fold's
    model is trained on the other folds and predicts its own; :func:`cv_report` over the folds run
    (``folds``: which, default all). A fold whose out-of-fold predictions ``previous`` already holds (the
    ``oof`` of an earlier report, same pairs and k) is taken from there, not trained again, and ``on_fold``
    gets the report after every fold, so a stopped run resumes where it stopped."""
    from sklearn.model_selection import GroupKFold

    from workbench.behaviours.coders import Coders, fit
    from workbench.models import tuned

    splits = list(GroupKFold(n_splits=k).split(pairs, groups=[p.group or p.id for p in pairs]))
    wanted = list(folds if folds is not None else range(k))
    kept = {f: [e for e in previous if e.get("fold") == f] for f in wanted}
    entries = [e for f in wanted if sorted(e["id"] for e in kept[f]) == sorted(pairs[i].id for i in splits[f][1])
               for e in kept[f]]
    run = [f for f in wanted if f not in {e["fold"] for e in entries}]
    for n, f in enumerate(run):
        train, test = splits[f]

        def step(done: int, total: int, n=n) -> None:  # one bar over all folds, not one per fold
            if progress:
                progress(n * total + done, len(run) * total)

        trained = fit(pairs, train, progress=step, cancel=cancel)
        if trained is None:
            break
        model = Coders(tuned.torch_runner(trained[0]), trained[1])
        for i, p in zip(test, _predict([pairs[i] for i in test], model), strict=True):
            entries.append({"id": pairs[i].id, "source": pairs[i].source, "codes": pairs[i].codes, "fold": f,
                            "probs": {h: [round(x, 4) for x in v] for h, v in p.items()}})
        if on_fold:
            on_fold(cv_report(entries, k))
    return cv_report(entries, k)


def cv_report(entries: Sequence[dict], k: int) -> dict:
    """The cross-validation report over out-of-fold predictions (``entries``: id, source, codes, fold, probs).
    Each fold's codes are decided with offsets fitted on the *other* folds' predictions, so no label chooses
    its own threshold; ``offsets`` (fitted on all of them) is what ships. ``oof`` keeps the predictions for
    the validity panel (ids and codes, no text)."""
    pairs = [CodedPair("", "", e["codes"], id=e["id"], source=e["source"]) for e in entries]
    probs = [e["probs"] for e in entries]
    folds = sorted({e["fold"] for e in entries})
    per_fold = {f: fit_offsets(*zip(*[(p, q) for p, q, e in zip(pairs, probs, entries, strict=True)
                                      if e["fold"] != f], strict=True)) if len(folds) > 1 else {}
                for f in folds}
    report = head_report(pairs, probs, offsets=[per_fold[e["fold"]] for e in entries])
    report["macro_f1_without_offsets"] = {
        h: round(_macro_f1(_confusion([CODES[h].index(e["codes"][h]) for e in entries if h in e["codes"]],
                                      [max(range(len(CODES[h])), key=e["probs"][h].__getitem__)
                                       for e in entries if h in e["codes"]], len(CODES[h]))), 3)
        for h in report["heads"]}
    return {"k": k, "folds": folds, **report, "offsets": fit_offsets(pairs, probs), "oof": list(entries)}


def format_report(report: dict) -> str:
    """The report as a short table: one line per head (or per scorer and dimension for ratings)."""
    def ci(m: dict) -> str:
        return f"{m['value']:.2f} [{m['ci_low']:.2f}, {m['ci_high']:.2f}]"

    lines = [f"{report.get('data', '')} ({report.get('format', '')}, {report.get('n_pairs', 0)} pairs)"]
    for head, st in report.get("heads", {}).items():
        extra = f"  Spearman {ci(st['spearman'])}" if "spearman" in st else ""
        lines.append(f"{head:<20} n {st['n']:<5} kappa {ci(st['kappa'])}  macro-F1 {ci(st['macro_f1'])}{extra}")
        lines.append(f"{'':<20} recall by class {st['recall']}")
    if "tbars_empathy" in report:
        t = report["tbars_empathy"]
        lines.append(f"T-BARS empathy vs expert emotional reactions + interpretations: Spearman {ci(t)} (n {t['n']})")
    for name, dims in report.get("scorers", {}).items():
        for dim, a in dims.items():
            nan = float("nan")
            lines.append(f"{name}/{dim:<14} alpha {a.get('alpha', nan):.2f}  Spearman {a.get('spearman', nan):.2f}"
                         f"  exact {a.get('exact', nan):.2f}  n {a.get('n')}")
    return "\n".join(lines)
