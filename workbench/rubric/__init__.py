"""T-BARS scoring: rate a (query, response) pair 1-5 on each rubric dimension, with evidence.

Four scorers (``SCORERS``), reported separately and combinable with :func:`combine`;
``DEFAULT_SCORERS`` is what ``score``, ``score_batch``, ``evaluate``, the prompt lab and the widgets use:

``features``   (default) Behaviour counts in the spirit of MITI 4.2.1 and EPITOME (``workbench.behaviours``)
               mapped to 1-5 by one short rule per dimension (``RULES``; ``rubric.features``), where
               empathy, exploration and collaboration draw on the learned coders (EPITOME levels, MI
               question and reflection codes; ``behaviours.coders``), validated on expert-coded data
               (``workbench validate``; the numbers are in the README).
``rules``      The same rules without the learned codes: instant and transparent, the baseline.
``classifier`` Per dimension, a ridge regression on MiniLM embeddings fitted on the rubric's anchored
               exemplars (``rubric.classifier``); :func:`classifier_cv` says how little that generalises.
``judge``      A local language model scored by likelihood of the options "1".."5" (``rubric.judge``),
               labelled ``weak`` when :func:`judge_agreement` with the exemplars' levels is poor.

Measured on this project's rubric (``corpora/rubric/tbars.yaml``, 8 dimensions x 5 levels x 3):

- rules, Spearman with the exemplars' levels: empathy 0.95, exploration 0.99, collaboration
  0.99, grounding 0.99, structure 0.87, safety 0.88, boundaries 0.97, warmth 0.96. In-sample for
  the rules' author: the patterns were written from MITI/EPITOME and the anchors with these
  exemplars in view, so expect much less on new text. On the 267 shipped fine-tuning dialogues
  (good replies, each labelled with the dimensions it demonstrates) most scores sit at 3-4, e.g.
  empathy 3.0 and warmth 2.8 on the replies labelled with them: the lexicons miss much plain
  wording, and a screen false positive on the message pulls safety down.
- classifier, stratified 3-fold per dimension (each fold one exemplar of every level): exact
  accuracy 0.21 (chance 0.20), within one level 0.61, Spearman 0.37 pooled (per dimension -0.11
  for safety to 0.60 for structure and boundaries). Predictions crowd towards 3; fifteen examples
  per dimension are too few for more, so treat it as a rough second opinion, not a rating.
- judge: tiny-llama (random weights) Spearman 0.07, alpha 0.01; smollm2-135m-instruct Spearman
  -0.14, ordinal alpha -0.42 on 40 exemplars (about 3 minutes on 2 busy cores). Both weak.

Agreement between any two raters (scorers or humans): :func:`agreement` gives Krippendorff's alpha
(ordinal), Spearman, exact and within-one agreement and a confusion matrix per dimension.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from workbench.errors import WorkbenchError
from workbench.rubric.agreement import agreement, features_agreement, rank_stats, round_level
from workbench.rubric.classifier import classifier_cv, score_classifier
from workbench.rubric.features import RULES, features_score, score_features, score_rules
from workbench.rubric.judge import (
    JUDGE_MIN_ALPHA,
    JUDGE_MIN_SPEARMAN,
    JudgeAgreement,
    judge_agreement,
    score_judge,
)
from workbench.rubric.record import LEVELS, RubricScore, blank, human, load_rubric, load_scores, save_scores

__all__ = [
    "JUDGE_MIN_ALPHA", "JUDGE_MIN_SPEARMAN", "LEVELS", "RULES", "SCORERS", "JudgeAgreement", "RubricScore",
    "DEFAULT_SCORERS", "agreement", "classifier_cv", "combine", "default_scores", "features_agreement",
    "features_score", "human", "judge_agreement",
    "load_rubric", "load_scores", "rank_stats", "round_level", "save_scores", "score", "score_batch",
]

# Scorer name -> batch scorer of (query_id, query, response) items for the given dimensions. Each takes
# what it needs from ``risks`` (one per item), ``rubric_path`` and ``model``, and runs in this order.
SCORERS: dict[str, Callable[..., list[RubricScore]]] = {
    "features": score_features,
    "rules": score_rules,
    "classifier": score_classifier,
    "judge": score_judge,
}
DEFAULT_SCORERS: tuple[str, ...] = ("features",)


def score_batch(items: Sequence[tuple[Any, str]], scorers: Sequence[str] = DEFAULT_SCORERS,
                risk=None, *, model: str | None = None,
                rubric_path: str | Path | None = None) -> list[dict[str, RubricScore]]:
    """:func:`score` for many (query, response) pairs; embeddings and judge prompts run in batches."""
    unknown = [s for s in scorers if s not in SCORERS]
    if unknown or not scorers:
        raise WorkbenchError(f"Unknown scorer(s) {unknown or list(scorers)}.",
                             fix=f"choose from {list(SCORERS)}")
    norm = []
    for n, pair in enumerate(items):
        q, r = pair
        qid = getattr(q, "id", "")
        qt = getattr(q, "text", q)
        if not isinstance(qt, str) or not isinstance(r, str):
            raise WorkbenchError(f"Item {n}: query and response must be text, got {type(qt).__name__} and "
                                 f"{type(r).__name__}.", where=f"item {n}",
                                 fix="pass (query, response) strings or (Query, str)")
        norm.append((qid, qt, r))
    risks = list(risk) if isinstance(risk, (list, tuple)) else [risk] * len(norm)
    if len(risks) != len(norm):
        raise WorkbenchError(f"{len(risks)} risk values for {len(norm)} items.",
                             fix="give one risk per item or one for all")
    risks = [getattr(v, "risk", v) for v in risks]  # a safety.Screen or a bool
    dims = [d.id for d in load_rubric(rubric_path).dimensions]
    results: list[dict[str, RubricScore]] = [{} for _ in norm]
    todo = [i for i, (_, _, r) in enumerate(norm) if r.strip()]
    for i, (qid, q, r) in enumerate(norm):
        if not r.strip():
            for s in scorers:
                results[i][s] = blank(qid, q, r, s, dims)
    for name, scorer in SCORERS.items():
        if name in scorers and todo:
            rows = scorer([norm[i] for i in todo], dims, risks=[risks[i] for i in todo], model=model,
                          rubric_path=rubric_path)
            for i, s in zip(todo, rows, strict=True):
                results[i][name] = s
    return results


def score(query, response: str, scorers: Sequence[str] = DEFAULT_SCORERS, risk=None, *,
          model: str | None = None, rubric_path: str | Path | None = None) -> dict[str, RubricScore]:
    """Rate one response on every T-BARS dimension with each named scorer; one RubricScore per scorer.

    ``query`` is the message answered (text or a corpora.Query). ``risk`` (bool or a safety.Screen)
    tells the safety rule whether the query carries risk; None screens it. ``model`` names the
    judge's generator (default: the workbench's default model).
    """
    return score_batch([(query, response)], scorers, risk, model=model, rubric_path=rubric_path)[0]


def default_scores(items: Sequence[tuple[Any, str]], risk=None) -> list[RubricScore]:
    """One record per (query, response) from ``DEFAULT_SCORERS`` (combined when there are several): what the
    prompt lab, the review summary and the widgets show."""
    rows = score_batch(items, DEFAULT_SCORERS, risk)
    return [r[DEFAULT_SCORERS[0]] if len(DEFAULT_SCORERS) == 1 else combine(list(r.values())) for r in rows]


def combine(scores: Sequence[RubricScore],
            weights: dict[str, float] | Sequence[float] | None = None) -> RubricScore:
    """Weighted mean per dimension of several scorers' ratings of the same response.

    ``weights`` maps scorer name to weight (or lists one per score); default equal. A weak judge keeps
    its weight unless you lower it; the combined record is weak if any weighted part is.
    """
    if not scores:
        raise WorkbenchError("combine() got no scores.", fix="pass the RubricScores of one response")
    if len({s.response for s in scores}) > 1:
        raise WorkbenchError("combine() got scores of different responses.",
                             fix="combine the scorers' results for one response at a time")
    if weights is None:
        w = [1.0] * len(scores)
    elif isinstance(weights, dict):
        w = [float(weights.get(s.scorer, weights.get(s.scorer.split(":")[0], 0.0))) for s in scores]
    else:
        w = [float(x) for x in weights]
        if len(w) != len(scores):
            raise WorkbenchError(f"{len(w)} weights for {len(scores)} scores.",
                                 fix="give one weight per score")
    if sum(w) <= 0:
        raise WorkbenchError("All combine() weights are zero.",
                             fix="give at least one scorer a positive weight")
    dims = list(dict.fromkeys(d for s in scores for d in s.scores))
    out, evidence = {}, {}
    for d in dims:
        parts = [(wi, s) for wi, s in zip(w, scores, strict=True) if wi > 0 and s.scores.get(d) is not None]
        if parts:
            out[d] = round(sum(wi * s.scores[d] for wi, s in parts) / sum(wi for wi, _ in parts), 2)
            evidence[d] = [f"[{s.scorer}] {e}" for _, s in parts for e in s.evidence.get(d, [])]
    first = scores[0]
    used = [s for wi, s in zip(w, scores, strict=True) if wi > 0]
    return RubricScore(first.query, first.response, "combined(" + "+".join(s.scorer for s in used) + ")", out,
                       evidence, query_id=first.query_id, weak=any(s.weak for s in used),
                       info={"weights": {s.scorer: wi for wi, s in zip(w, scores, strict=True)}})
