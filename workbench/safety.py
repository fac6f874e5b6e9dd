"""Crisis screening: notice risk in a message and choose the words that must come first.

``screen(text)`` returns a :class:`Screen`: risk yes/no, a level on a C-SSRS-style ladder
(none → concern → elevated → imminent), who is at risk (the speaker, a clinician's client, or
someone else), the risk categories of ``corpora/safety/categories.yaml`` and the spans of the
input that drove the decision. ``escalation(screen)`` gives the first words of the reply, with
the emergency number and crisis line of the user's locale and what fits the category.

The decision is learned (``safety_model``: a fine-tuned encoder averaged with linear heads over
embeddings, character n-grams and the rules' findings, trained on ``corpora/safety/train/``), because
recall must not depend on someone having written a rule for the exact phrasing. The rules
(``safety_rules``) stay as evidence a clinician can read (the spans shown are the rule cues of the
categories found or, when no rule matched, the sentence the model found most risky) and as a floor:
an explicit first-person cue at elevated or above that no benign reading cancelled counts as risk even
when the model, diluted by ordinary text around it, does not ("Work was awful. I keep thinking about killing
myself. Anyway, how was your day?"), and the level is never below the highest cue's.
``screen_reply``, the guard on the model's own replies, is rules only.

The screen never produces, and the rules never encode, method details; they match on the words
people use to say they are at risk, not on how.
"""

from __future__ import annotations

import os
import re
from dataclasses import asdict, dataclass, field
from typing import Any

from workbench.corpora import RISK_CATEGORIES as CATEGORIES
from workbench.errors import WorkbenchError
from workbench.safety_rules import DISCUSSION, ENDORSE, RANK, rules, sentence

__all__ = ["CATEGORIES", "IMMINENT_FOLLOW_UP", "REPLACED", "Screen", "escalation", "guard_reply", "locale_of", "screen",
           "screen_reply"]

_ALSO = 0.25  # a further category is listed when the category head gives it at least this probability
_SENTENCES = re.compile(r"[^.!?।\n]+[.!?।]*")


@dataclass
class Screen:
    """The result of screening one message (``p_risk``: the model's probability of risk)."""

    risk: bool
    level: str
    subject: str
    categories: list[str] = field(default_factory=list)
    evidence: list[dict] = field(default_factory=list)
    p_risk: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def fixed_reply(self) -> bool:
        """Imminent risk to the speaker: the reply is the escalation and a fixed follow-up, no model words."""
        return self.risk and self.level == "imminent" and self.subject == "self"

    def summary(self) -> str:
        """One line of verdict, then one per evidence span (what ``workbench screen`` prints)."""
        who = f", subject {self.subject}" if self.risk else ""
        cats = f" [{', '.join(self.categories)}]" if self.categories else ""
        lines = [f"risk: {'yes' if self.risk else 'no'} · level {self.level}{who}{cats} · p={self.p_risk:.2f}"]
        return "\n".join(lines + [f"  {e['rule']}: {e['text']!r} ({e['start']}–{e['end']})" for e in self.evidence])


def _top(probs: dict[str, float]) -> str:
    return max(probs, key=probs.get)


def _riskiest_sentence(text: str, model) -> dict:
    """The sentence the model finds most risky, as an evidence span (the whole text when it is one)."""
    spans = [m for m in _SENTENCES.finditer(text) if m.group().strip()]
    if len(spans) > 1:
        probs = list(model.risk_of([m.group() for m in spans]))
        best = spans[max(range(len(spans)), key=probs.__getitem__)]
        start, end = best.start() + len(best.group()) - len(best.group().lstrip()), best.end()
    else:
        start, end = 0, len(text)
    return {"start": start, "end": end, "text": text[start:end], "rule": "model"}


def _screen_with(text: str, model) -> Screen:
    """Screen ``text`` with a given learned model (``safety_model.Learned``)."""
    from workbench.safety_rules import subject_of

    row = model.predict([text])[0]
    hits, benign = rules(text)
    explicit = [h for h in hits if RANK[h.level] >= RANK["elevated"] and h.who == "self"]
    if not row["risk"] and not explicit:
        return Screen(False, "none", "none", [], sorted(benign, key=lambda e: e["start"]), row["p_risk"])
    if row["risk"]:
        cats = sorted((c for c, q in row["category"].items() if q >= _ALSO or c == _top(row["category"])),
                      key=lambda c: -row["category"][c])
    else:  # the speaker's own explicit cue, not cancelled (idiom, denial, fiction, joke, history), is never missed
        cats = sorted({h.category for h in explicit}, key=lambda c: -max(RANK[h.level] for h in explicit
                                                                          if h.category == c))
    level, subject = _top(row["level"]), _top(row["subject"])
    cued = [h for h in hits if h.category in cats]
    top_cue = max((RANK[h.level] for h in cued), default=0)
    if top_cue > RANK[level]:  # an explicit cue is never talked down
        level = next(lv for lv, r in RANK.items() if r == top_cue)
    evidence = [h.span() for h in cued] or [_riskiest_sentence(text, model)]
    _, marker = subject_of(text, hits)
    if marker and subject == "client":
        evidence.append(marker)
    evidence = sorted(evidence, key=lambda e: (e["start"], e["end"]))
    return Screen(True, level, subject, cats, evidence, row["p_risk"])


def screen(text: str, *, locale: str | None = None) -> Screen:
    """Screen one message for current risk.

    ``locale`` is only checked here (an unknown one raises early); it matters for :func:`escalation`.
    The learned model is trained on first use on a machine (a few minutes; ``make setup`` does it) and cached.
    """
    from workbench.safety_model import learned

    if not isinstance(text, str):
        raise WorkbenchError(f"screen() needs a string, got {type(text).__name__}.", fix="pass the message text")
    if locale is not None:
        _resources(locale)
    if not text.strip():
        return Screen(False, "none", "none", [], [])
    return _screen_with(text, learned())


def _discusses(text: str, hit) -> bool:
    """The hit's sentence frames risk as a topic (a cue word), or is a question to the reader."""
    ends = [i for i in (text.find(c, hit.end) for c in ".!?;\n") if i >= 0]
    return bool(DISCUSSION.search(sentence(text, hit.start, hit.end))) or (bool(ends) and text[min(ends)] == "?")


def screen_reply(text: str, *, about_risk: bool = False) -> Screen:
    """The guard after generation: does a model's reply itself voice or invite risk?

    A good reply to a clinician talks about risk ("ask her directly about suicidal thoughts"), which
    ``screen`` reads as a disclosure: it flags 65 of the 341 reference replies in the shipped dialogues.
    Here a disclosure rule counts only when its sentence does not frame risk as something to ask about,
    assess, watch for or reflect back (``safety_rules.DISCUSSION``); wording that endorses or invites
    harm (``safety_rules.ENDORSE``: "better off dead", "take all her pills") counts however it is
    framed; and the classifier, which learned from people's messages rather than replies, is not used.
    With ``about_risk`` (the message disclosed risk, so the reply is bound to talk about it) only that
    endorsing wording counts.
    """
    if not isinstance(text, str):
        raise WorkbenchError(f"screen_reply() needs a string, got {type(text).__name__}.", fix="pass the reply text")
    hits, _ = rules(text)
    voiced = [h.span() | {"category": h.category, "level": h.level} for h in hits
              if not about_risk and not _discusses(text, h)]
    voiced += [{"start": m.start(), "end": m.end(), "text": m.group(), "rule": "endorses harm", "category": category,
                "level": "elevated"} for category, pattern in ENDORSE for m in pattern.finditer(text)]
    if not voiced:
        return Screen(False, "none", "none", [], [])
    level = max((v["level"] for v in voiced), key=RANK.__getitem__)
    categories = sorted({v["category"] for v in voiced}, key=CATEGORIES.index)
    evidence = sorted(({k: v[k] for k in ("start", "end", "text", "rule")} for v in voiced),
                      key=lambda e: (e["start"], e["end"]))
    return Screen(True, level, "other", categories, evidence)


# ---- escalation -------------------------------------------------------------------------------------
# ---- the reply guard ---------------------------------------------------------------------------
IMMINENT_FOLLOW_UP = ("Are you somewhere safe right now? I'm here with you, and I'd like to keep talking while "
                      "you reach out to them.")


REPLACED = ("I can't give that kind of answer (a diagnosis, a medication dose, or content that could put someone "
            "at risk). A doctor, pharmacist or the treating clinician is the right person for it. What would be most "
            "helpful to talk through?")


def guard_reply(query: str, draft: str, risk: Screen | None = None, *, locale: str | None = None):
    """The policy's last step, shared by the agent and the prompt lab: (answer, outputs, decision) for a
    draft, given the screen of the message.

    A draft that gives a diagnosis or a dose (the rubric's scope check), or that voices or invites harm
    (``screen_reply``), is replaced. A risk disclosure gets the escalation resources first, and an imminent one from the
    speaker a fixed follow-up instead of the model's words.
    """
    from workbench.behaviours import scope_findings

    out = screen_reply(draft, about_risk=risk is not None and risk.risk)
    unsafe = scope_findings(query, draft, False)
    answer, decision = (REPLACED, "draft replaced") if unsafe or out.risk else (draft, "draft passed")
    if risk is not None and risk.risk:
        if risk.fixed_reply:
            answer = IMMINENT_FOLLOW_UP  # no room for a small model's improvisation here
        answer = escalation(risk, locale) + "\n\n" + answer
        decision += "; escalation resources placed first"
    return answer, {"screen": out.to_dict(), "scope": unsafe}, decision



_ALIASES = {"GB": "UK", "EN-GB": "UK", "EN-US": "US", "ES-ES": "ES", "ES-MX": "MX", "HI-IN": "IN", "EN-IN": "IN",
            "EN-AU": "AU", "EN-CA": "CA", "EN-NZ": "NZ", "EN-IE": "IE"}


def locale_of(locale: str | None = None) -> str:
    """The resources locale a reply uses (e.g. ``US``): ``locale``, else WORKBENCH_LOCALE, else the file's
    default; aliases such as en-GB resolve. Shown in the agent's trace and the notebooks, so nobody reads
    US numbers without knowing it."""
    from workbench.corpora import load_safety_config

    res = load_safety_config()["resources"]
    code = locale or os.environ.get("WORKBENCH_LOCALE") or res["default"]
    key = str(code).strip().upper().replace("_", "-")
    key = _ALIASES.get(key, key)
    if key not in res["locales"] and "-" in key and key.rsplit("-", 1)[1] in res["locales"]:
        key = key.rsplit("-", 1)[1]
    if key not in res["locales"]:
        raise WorkbenchError(f"Unknown locale {code!r}.", where="corpora/safety/resources.yaml",
                             fix=f"use one of: {', '.join(res['locales'])} (or set WORKBENCH_LOCALE)")
    return key


def _resources(locale: str | None) -> dict:
    from workbench.corpora import load_safety_config

    return load_safety_config()["resources"]["locales"][locale_of(locale)]


def escalation(screen: Screen, locale: str | None = None) -> str:
    """What to say first for this screen, with the locale's numbers; '' when there is no risk.

    Suicidal ideation gets the (level, subject) template; every other category its own text for the
    subject (wound care, same-day medical assessment, duty to report or protect, safety planning), led by
    the subject's urgent line when the level is imminent.
    """
    from workbench.corpora import load_safety_config

    loc = _resources(locale)
    if not screen.risk or screen.level == "none":
        return ""
    subject = screen.subject if screen.subject in ("self", "client", "other") else "self"
    config = load_safety_config()["escalation"]
    category = screen.categories[0] if screen.categories else "suicidal_ideation"
    by_category = (config.get("by_category") or {}).get(category)
    if by_category:
        parts = ([config["urgent"][subject]] if screen.level == "imminent" else []) + [by_category[subject]]
    else:
        tpl = next((t for t in config["templates"] if t["level"] == screen.level and t["subject"] == subject), None)
        if tpl is None:
            raise WorkbenchError(f"No escalation template for level {screen.level!r}, subject {subject!r}.",
                                 where="corpora/safety/escalation.yaml", fix="add one template per (level, subject)")
        parts = [tpl["text"]]
    line = loc["crisis_line"]
    crisis = f"{line['name']} ({line['contact']})"
    return " ".join(" ".join(parts).split()).format(
        emergency=loc["emergency"], crisis_line=crisis, abuse_line=loc.get("abuse_line") or crisis,
        poison_line=loc.get("poison_line") or loc["emergency"])
