"""Judging a draft answer: the agent's rule critique, and the choice among several candidate drafts.

The chooser weighs what a clinician would: the T-BARS rating of the default scorer (learned behaviour codes),
how many of the facts the model was given the draft actually uses (grounding, by embedding similarity, the
same test as key-point coverage), repetition (a small model loops: "You're not alone. You're not alone."),
and the rule findings. A draft that crosses the scope line (a diagnosis or a dose) is never chosen over one
that does not.
"""

from __future__ import annotations

from collections.abc import Sequence

from workbench.behaviours import CITATION, FEELING, OPEN_QUESTION, scope_findings

__all__ = ["WEIGHTS", "choose", "critique", "rate", "revision_verdict"]

# value = T-BARS mean (1-5) + grounding · share of facts used + repetition · distinct-2 − findings · count
WEIGHTS = {"grounding": 1.0, "repetition": 1.0, "findings": 0.25, "scope": 10.0}


def critique(query: str, draft: str, *, speaker: str, risk: bool, retrieved: list[str]) -> list[dict]:
    """Rule checks of a draft against T-BARS dimensions; each finding names its dimension and evidence."""
    found = []

    def issue(dim, problem, evidence=""):
        found.append({"dimension": dim, "problem": problem, "evidence": evidence})

    if not draft.strip():
        issue("structure", "the draft is empty")
        return found
    found += scope_findings(query, draft, risk)  # the rubric's scope check: declining sentences never count
    if speaker == "client" and not FEELING.search(draft):
        issue("empathy", "does not acknowledge what the person feels")
    if not OPEN_QUESTION.search(draft):
        issue("exploration", "asks no open question")
    cited = set(CITATION.findall(draft))
    if retrieved and not cited & set(retrieved):
        issue("grounding", "cites none of the retrieved cards", ", ".join(retrieved))
    if cited - set(retrieved):
        issue("grounding", "cites cards that were not retrieved", ", ".join(sorted(cited - set(retrieved))))
    if len(draft.split()) > 260:
        issue("structure", "too long to act on", f"{len(draft.split())} words")
    return found


def revision_verdict(findings: Sequence[dict], after: Sequence[dict], revised: str) -> tuple[bool, str]:
    """Whether a revision replaces the draft, and why, in words for the trace. A small model may echo the
    rewrite request or make things worse, so a revision is kept only when the same checks find fewer problems."""
    def count(x) -> str:
        return f"{len(x)} problem{'' if len(x) == 1 else 's'}"

    if "fix these points" in revised.lower():
        return False, "the revision repeats the rewrite instruction instead of answering"
    kept = len(after) < len(findings)
    return kept, (f"the same checks find {count(after)} in the revision against {count(findings)} in the draft"
                  + ("" if kept else ", no fewer"))


def rate(query: str, drafts: Sequence[str], *, facts: Sequence[str] = (), speaker: str = "client",
         risk=None, retrieved: Sequence[str] = ()) -> list[dict]:
    """Per draft: ``tbars`` (default scorer's mean), ``grounding`` (share of ``facts`` it uses; None without
    facts), ``distinct_2``, ``findings`` (the critique) and the ``value`` the chooser maximises."""
    from workbench.results import distinct_n, keypoint_coverage
    from workbench.rubric import default_scores

    scores = default_scores([(query, d) for d in drafts], risk)
    rows = []
    for draft, s in zip(drafts, scores, strict=True):
        findings = critique(query, draft, speaker=speaker, risk=bool(getattr(risk, "risk", risk)),
                            retrieved=list(retrieved))
        grounding = keypoint_coverage(list(facts), draft)[0] if facts and draft.strip() else (0.0 if facts else None)
        scope = sum(f["dimension"] == "boundaries" for f in findings)
        value = ((s.mean or 0.0) + WEIGHTS["grounding"] * (grounding or 0.0)
                 + WEIGHTS["repetition"] * distinct_n(draft) - WEIGHTS["findings"] * (len(findings) - scope)
                 - WEIGHTS["scope"] * scope)
        rows.append({"tbars": s.mean, "grounding": grounding, "distinct_2": distinct_n(draft),
                     "findings": findings, "value": round(value, 4)})
    return rows


def choose(rows: Sequence[dict]) -> int:
    """The index of the draft with the highest value (the first on a tie: the greedy draft comes first)."""
    return max(range(len(rows)), key=lambda i: (rows[i]["value"], -i))
