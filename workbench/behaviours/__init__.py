"""Behaviour detection in a written response: what it does, sentence by sentence, with the words that show it.

Learned coders (``behaviours.coders``: :func:`epitome_levels`, :func:`mi_codes`, :func:`code`) give EPITOME
empathy levels and MITI question and reflection codes with probabilities; the patterns below count the
rest in the spirit of MITI 4.2.1 and EPITOME (open and closed questions, simple and complex
reflections, affirmations, autonomy and permission language, persuasion and confrontation,
feeling words, citations, crisis resources, scope violations). The patterns live in
``behaviours.patterns`` (pure data); this module applies them. The T-BARS ``features`` scorer
(``workbench.rubric``) maps the counts to levels, the agent's critique and the rubric share
:func:`scope_violations`, and the evaluation reads the crisis patterns directly. Whether the query
carries risk is the caller's to say (usually ``safety.screen(query).risk``), so this package stays
below the safety screen.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache

from workbench.behaviours.coders import code, epitome_levels, mi_codes
from workbench.behaviours.patterns import (
    ADVICE,
    ASK_OPEN,
    AUX,
    CITATION,
    COMPLEX,
    CRISIS,
    DECLINE,
    DIAGNOSIS,
    DIAGNOSIS_LABEL,
    DOSE,
    DUAL_QUERY,
    FEELING,
    GENERIC_ACK,
    IMPERATIVE,
    MED_ADVICE,
    NOT_A_CLAIM,
    OPEN_QUESTION,
    PHRASES,
    REFLECTION,
    SCOPE_QUERY,
    WH,
    sentences,
)
from workbench.errors import WorkbenchError
from workbench.io import Record

__all__ = ["CITATION", "CRISIS", "FEELING", "OPEN_QUESTION", "SCOPE_VIOLATIONS", "Features", "behaviour_features",
           "code", "crisis_names", "epitome_levels", "mi_codes", "scope_findings", "scope_violations", "sentences"]

# ---- detection --------------------------------------------------------------------------------------


def _is_open(question: str) -> bool:
    """Open if the clause carrying the question starts with a wh-word ('When you say X, are you…?' is not)."""
    kind = None
    for clause in re.split(r"[,:;\u2014\u2013]|\s-\s", question.rstrip("?")):
        c = clause.strip().lower()
        if not c or c.startswith("or "):
            continue  # "Which feels loudest, or is it something else?" keeps the first clause's kind
        c = re.sub(r"^(?:and|so|but|then|also)\s+", "", c)
        if ASK_OPEN.match(c) or re.match(rf"(?:{WH})\b", c):
            kind = "open"
        elif re.match(rf"(?:{AUX})\b", c):
            kind = "closed"
    return kind == "open" if kind else bool(re.search(rf"\b(?:{WH})\b", question, re.I))


@lru_cache(maxsize=1)
def crisis_names() -> re.Pattern | None:
    """Crisis-line names and emergency numbers of every shipped locale, as the escalation text has them."""
    from workbench.corpora import load_safety_config

    try:
        locales = list(load_safety_config()["resources"]["locales"].values())
        names = {str(loc["crisis_line"]["name"]) for loc in locales}
        names |= {str(loc["emergency"]) for loc in locales}
    except (WorkbenchError, KeyError, TypeError):  # a user corpus without resources: generic patterns only
        return None
    return re.compile("|".join(re.escape(n) for n in sorted(names, key=len, reverse=True)), re.I)


@dataclass
class Features(Record):
    """Behaviour features of one response: feature name -> the sentences or phrases that show it, and the
    learned coders' ``codes`` (:func:`code`'s dict) when the caller ran them."""

    spans: dict[str, list[str]]
    risk: bool
    scope_request: bool
    dual_request: bool
    words: int
    codes: dict = field(default_factory=dict)

    def n(self, name: str) -> int:
        return len(self.spans.get(name, []))

    def ev(self, *names: str) -> list[str]:
        """Evidence lines "name: span", each once (a phrase found five times is one line)."""
        return list(dict.fromkeys(f"{name}: {s}" for name in names for s in self.spans.get(name, [])))


def behaviour_features(query: str, response: str, risk: bool, codes: dict | None = None) -> Features:
    """Count MITI/EPITOME-style behaviours in a response. ``risk``: does the query carry risk (the
    caller's safety screen, e.g. ``safety.screen(query).risk``)? It only sets ``Features.risk``. ``codes``:
    the learned coders' output for this pair, kept on the record for the rules that use it."""
    spans: dict[str, list[str]] = {}

    def add(name, span):
        spans.setdefault(name, []).append(span.strip())

    plain = CITATION.sub(lambda m: " " * len(m.group()), response)  # "[gad-worry-management]" is no feeling
    for name, rx in PHRASES.items():
        for m in rx.finditer(plain):
            add(name, m.group())
    for m in CITATION.finditer(response):
        add("citation", m.group())
    if crisis_names() is not None:
        for m in crisis_names().finditer(response):
            if m.group() not in spans.get("crisis resource", []):
                add("crisis resource", m.group())
    sents = sentences(response)
    last_open = -1
    for i, s in enumerate(sents):
        if s.endswith("?") or "?" in s:
            for q in re.findall(r"[^?]*\?", s):
                if _is_open(q):
                    add("open question", q)
                    last_open = i
                else:
                    add("closed question", q)
        elif IMPERATIVE.match(s):
            add("instruction", s)
        if GENERIC_ACK.search(s) and len(s.split()) <= 8:
            add("generic acknowledgement", s)
        elif REFLECTION.search(s) and len(s.split()) >= 6:
            kind = "complex reflection" if COMPLEX.search(s) else "simple reflection"
            add(kind, s)
        if s.count(",") >= 8:
            add("long list", s)
        # "I can't tell you whether you have PTSD" is a decline, not a diagnosis
        if not (DECLINE.search(s) or NOT_A_CLAIM.search(s)):
            for name, rx in (("diagnosis", DIAGNOSIS_LABEL), ("diagnosis", DIAGNOSIS),
                             ("medication advice", MED_ADVICE), ("dose", DOSE)):
                for m in rx.finditer(s):
                    if m.group() not in spans.get(name, []):
                        add(name, m.group())
    for s in sents[last_open + 1:] if last_open >= 0 else []:
        if ADVICE.search(s) or IMPERATIVE.match(s):
            add("advice after question", s)
    dual = bool(DUAL_QUERY.search(query))
    if not dual:
        spans.pop("endorses dual relationship", None)
    return Features(spans, bool(risk), bool(SCOPE_QUERY.search(query)) or dual, dual, len(response.split()),
                    dict(codes or {}))


# Out-of-scope statements (APA 2.01 / 3.05), kind -> the problem the agent's critique reports, in its order.
SCOPE_VIOLATIONS = {"diagnosis": "states a diagnosis", "medication advice": "gives medication advice",
                    "dose": "gives a medication dose", "endorses dual relationship": "endorses a dual relationship"}


def scope_violations(features: Features, *, dual_relationship: bool = True) -> dict[str, list[str]]:
    """Out-of-scope statements in a response, kind -> the phrases (only kinds that occur), so the agent's
    critique and the rubric's boundaries rule judge scope the same way. Declining sentences ("I can't
    tell you whether you have PTSD") never count. ``dual_relationship=False`` leaves out endorsing a
    client's offer (the critique does not check it)."""
    kinds = list(SCOPE_VIOLATIONS)[:None if dual_relationship else 3]
    return {k: list(features.spans[k]) for k in kinds if features.spans.get(k)}


def scope_findings(query: str, response: str, risk: bool) -> list[dict]:
    """The agent's boundaries findings for a draft (its critique and the reply guard): one per kind of
    out-of-scope statement, with the first phrase as evidence."""
    found = scope_violations(behaviour_features(query, response, risk), dual_relationship=False)
    return [{"dimension": "boundaries", "problem": SCOPE_VIOLATIONS[k], "evidence": v[0]} for k, v in found.items()]
