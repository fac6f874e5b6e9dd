"""The rule layer of crisis screening. The tables are data in this package (``cues``: risk cues on the
C-SSRS ladder and the risk categories; ``readings``: what cancels or qualifies a cue, and who is at
risk); this module applies them. ``rules(text)`` returns the hits and the benign spans;
``safety.py`` combines them with the classifier.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from workbench.safety_rules.cues import RULES
from workbench.safety_rules.pattern import FLAGS, p
from workbench.safety_rules.readings import (
    CLINICIAN,
    DENIAL,
    DISCUSSION,
    ENDORSE,
    HISTORY_OLD,
    IDIOM,
    JOKE,
    RESOLVED,
    RETURNING,
    SELF_APPLIED,
    SERIOUS,
    STUDY,
    TIMELINE,
    TOPICAL,
    WHO,
    WITHDRAWAL_BAD,
    WITHDRAWAL_CONTEXT,
    WITHDRAWAL_PLAN,
    WITHDRAWAL_SEVERE,
)

__all__ = ["DISCUSSION", "ENDORSE", "LEVELS", "RANK", "TOPICAL", "Hit", "rules", "sentence", "subject_of", "who_of"]

LEVELS = ("none", "concern", "elevated", "imminent")
RANK = {lv: i for i, lv in enumerate(LEVELS)}
OTHER_SELF = p(r"self|selves|\b(?:his|her|their)\b|\bse\b|\bhim\b|\bthem\b")  # "himself", "their": not the speaker


@dataclass
class Hit:
    rule: str
    category: str
    level: str
    start: int
    end: int
    text: str
    who: str = "any"
    tags: frozenset = frozenset()

    def span(self, rule: str | None = None) -> dict:
        return {"start": self.start, "end": self.end, "text": self.text, "rule": rule or self.rule}


def who_of(text: str, start: int, end: int) -> str:
    """self/other from the cue itself, else from the nearest person mentioned before it in its sentence."""
    for m in WHO.finditer(text, start, end):
        if m.group("other") and OTHER_SELF.search(m.group()):
            return "other"
    for m in WHO.finditer(text, start, end):
        if m.group("self"):
            return "self"
    sentence_start = max((text.rfind(c, 0, start) for c in ".!?।;"), default=-1) + 1
    window = text[max(sentence_start, start - 60):start]
    last = None
    for m in WHO.finditer(window):
        last = "other" if m.group("other") else "self"
    return last or "any"


_ABUSED_ME = p(r"\bme\b", r"मुझे", r"\bmujhe\b")


def sentence(text: str, start: int, end: int) -> str:
    lo = max((text.rfind(c, 0, start) for c in ".!?।;"), default=-1) + 1
    his = [i for i in (text.find(c, end) for c in ".!?।;") if i >= 0]
    return text[lo:min(his, default=len(text))]


def _overlaps(hit: Hit, spans: list[tuple[int, int]]) -> bool:
    return any(hit.start < e and s < hit.end for s, e in spans)


def _matches(pattern: re.Pattern, text: str) -> list[re.Match]:
    return list(pattern.finditer(text))


def rules(text: str) -> tuple[list[Hit], list[dict]]:
    """Risk cues that survive idiom, denial, study, joke and history readings, plus the benign spans found."""
    hits: list[Hit] = []
    for name, cat, level, tags, pat in RULES:
        for m in pat.finditer(text):
            h = Hit(name, cat, level, m.start(), m.end(), m.group(), tags=frozenset(tags))
            h.who = "other" if cat == "harm_to_others" else who_of(text, m.start(), m.end())
            if cat == "abuse" and _ABUSED_ME.search(sentence(text, m.start(), m.end())) and not re.search(
                    r"\b(?:her|him|them|his|their)\b", m.group(), FLAGS):
                h.who = "self"  # the speaker is the one threatened or hurt
            hits.append(h)
    ctx = _matches(WITHDRAWAL_CONTEXT, text)
    if ctx:
        severe, bad = _matches(WITHDRAWAL_SEVERE, text), _matches(WITHDRAWAL_BAD, text)
        sym, level = (severe, "imminent") if severe else (bad, "elevated") if bad else ([], "")
        if sym:
            who = who_of(text, ctx[0].start(), ctx[0].end())
            for m in (ctx[0], sym[0]):
                hits.append(Hit("withdrawal_" + level, "substance", level, m.start(), m.end(), m.group(),
                                 who=who))
    for m in WITHDRAWAL_PLAN.finditer(text):
        hits.append(Hit("withdrawal_risk", "substance", "concern", m.start(), m.end(), m.group(),
                         who=who_of(text, m.start(), m.end())))

    benign: list[dict] = []

    def drop(kind: str, spans: list[re.Match] | None, keep) -> None:
        nonlocal hits
        kept = [h for h in hits if keep(h)]
        if len(kept) < len(hits) and spans:
            benign.extend({"start": m.start(), "end": m.end(), "text": m.group(), "rule": kind} for m in spans)
        hits = kept

    idioms = _matches(IDIOM, text)
    drop("idiom", idioms, lambda h: not _overlaps(h, [m.span() for m in idioms]))
    denials = _matches(DENIAL, text)
    drop("denial", denials, lambda h: not _overlaps(h, [m.span() for m in denials]) or h.level == "imminent"
         and h.rule != "intent_plan")
    study = _matches(STUDY, text)
    if study and not SELF_APPLIED.search(text):
        drop("study_or_fiction", study, lambda h: h.category != "suicidal_ideation" and h.category != "self_harm")
    jokes = _matches(JOKE, text)
    if jokes and not SERIOUS.search(text):
        drop("joke", jokes, lambda h: not ({"slang", "threat"} & h.tags))
    old = _matches(HISTORY_OLD, text)
    if old and any("history" in h.tags for h in hits):
        resolved, returning = _matches(RESOLVED, text), RETURNING.search(text)
        if resolved and not returning:
            drop("resolved_history", old + resolved, lambda h: h.level == "imminent")
        else:  # history with current distress, or history alone: at least a gentle check
            for h in hits:
                if "history" in h.tags:
                    h.level = "concern"
    # with no risk left, every benign reading found is evidence for "none" (and makes the classifier cautious)
    if not hits:
        for kind, found in (("idiom", idioms), ("denial", denials), ("study_or_fiction", study),
                            ("resolved_history", old if RESOLVED.search(text) else [])):
            if not any(b["rule"] == kind for b in benign):
                benign.extend({"start": m.start(), "end": m.end(), "text": m.group(), "rule": kind} for m in found)
    # an intent cue with an immediate timeline is imminent
    if any("intent" in h.tags for h in hits):
        for m in TIMELINE.finditer(text):
            hits.append(Hit("timeline", "suicidal_ideation", "imminent", m.start(), m.end(), m.group(),
                             who=next(h.who for h in hits if "intent" in h.tags)))
    return hits, benign


def subject_of(text: str, hits: list[Hit]) -> tuple[str, dict | None]:
    m = CLINICIAN.search(text)
    if m:
        return "client", {"start": m.start(), "end": m.end(), "text": m.group(), "rule": "clinician_report"}
    if any(h.category == "harm_to_others" for h in hits):
        return "other", None
    ranked = sorted(hits, key=lambda h: -RANK[h.level])
    for h in ranked:
        if h.who != "any":
            return h.who, None
    first = WHO.search(text)
    return ("other" if first and first.group("other") else "self"), None
