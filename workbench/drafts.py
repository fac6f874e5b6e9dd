"""Judging a draft answer: the agent's rule critique, and the choice among several candidate drafts.

The first draft is greedy, the model's own best answer; the others are sampled. The chooser keeps the greedy
draft unless it fails a check another draft passes: it loops (distinct-2 under ``LOOP``: a small model repeats
"You're not alone. You're not alone.") or crosses the scope line (a diagnosis or a dose). Among drafts that
all pass, or all fail, the ``value`` decides: the T-BARS rating of the default scorer (learned behaviour
codes), the share of the given facts the draft uses (grounding, by embedding similarity, the same test as
key-point coverage), its distinct-2 and the rule findings.

Why greedy first: on the 81 shipped queries (#17) the sampled draft won on value two times in three, mostly on
distinct-2, yet covered fewer of the queries' clinical key points than the greedy draft (0.110 against 0.147
on the 66 without risk). Sampling buys variety, not substance.
"""

from __future__ import annotations

from collections.abc import Sequence

from workbench.behaviours import CITATION, FEELING, OPEN_QUESTION, scope_findings

__all__ = ["LOOP", "WEIGHTS", "choose", "choice_reason", "critique", "rate", "revision_verdict"]

LOOP = 0.5  # a draft whose distinct-2 is below this repeats itself

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


def _passes(row: dict) -> bool:
    return row.get("distinct_2", 1.0) >= LOOP and not any(f["dimension"] == "boundaries"
                                                          for f in row.get("findings", ()))


def choose(rows: Sequence[dict]) -> int:
    """The index of the draft to keep: the first (greedy) one when it passes the loop and scope checks, else the
    highest-valued draft among those that pass (all of them when none does; the first on a tie)."""
    if not rows:
        raise ValueError("no drafts to choose from")
    if _passes(rows[0]):
        return 0
    pool = [i for i in range(len(rows)) if _passes(rows[i])] or range(len(rows))
    return max(pool, key=lambda i: (rows[i]["value"], -i))


def choice_reason(rows: Sequence[dict], best: int) -> str:
    """Why ``choose`` kept draft ``best``, for the trace."""
    if not any(_passes(r) for r in rows):
        return f"no draft passes the loop and scope checks; draft {best + 1} has the highest value"
    if best == 0:
        return "the greedy draft passes the loop and scope checks"
    first = rows[0]
    why = (f"repeats itself (distinct-2 {first['distinct_2']:.2f} < {LOOP})" if first.get("distinct_2", 1.0) < LOOP
           else "crosses the scope line")
    return f"the greedy draft {why}; draft {best + 1} passes, value {rows[best]['value']:.2f}"
