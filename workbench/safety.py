"""Crisis screening: notice risk in a message and choose the words that must come first.

``screen(text)`` returns a :class:`Screen` — risk yes/no, a level on a C-SSRS-style ladder
(none → concern → elevated → imminent), who is at risk (the speaker, a clinician's client, or
someone else), the risk categories of ``corpora/safety/categories.yaml`` and the spans of the
input that drove the decision. ``escalation(screen)`` gives the first words of the reply, with
the emergency number and crisis line of the user's locale.

Why rules *and* a classifier. The rules are explicit, auditable and carry the knowledge that a
240-message data set cannot teach: the C-SSRS ladder (wish to be dead, active thoughts, method,
intent, plan or means, attempt in progress), what counts as an idiom, a denial, a resolved
history or a joke, and who is speaking. They return evidence spans, so a reviewer can see why.
But rules only catch the wordings someone thought of. A logistic regression on MiniLM sentence
embeddings, trained on the shipped screening set, recognises paraphrases by meaning. The two are
combined for recall: either can raise risk; the classifier only overrides an explicit benign
reading of the rules (an idiom, a denial, resolved history) when it is very confident; the rules
decide subject, categories and evidence and set the level, which the classifier can raise.

The screen never produces, and the rules never encode, method details; they match on the words
people use to say they are at risk, not on how.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from typing import Any

from workbench.errors import WorkbenchError
from workbench.safety_rules import DISCUSSION, ENDORSE, LEVELS, RANK, TOPICAL, rules, sentence, subject_of

__all__ = ["CATEGORIES", "IMMINENT_FOLLOW_UP", "REPLACED", "Screen", "escalation", "evaluate_screening", "guard_reply",
           "screen", "screen_reply"]

CATEGORIES = ("suicidal_ideation", "self_harm", "harm_to_others", "abuse", "substance_withdrawal",
              "medical_emergency")

# Classifier thresholds on P(risk): chosen a priori, not tuned on held-out folds.
_CLF_RISK = 0.5        # risk when no rule fired either way and the message uses words of the risk domain
_CLF_OVERRIDE = 0.9    # otherwise, or despite an explicit benign reading (idiom, denial, resolved history, joke)
_CLF_RAISE = 0.7       # the classifier's level may raise the rules' level when this sure of it


@dataclass
class Screen:
    """The result of screening one message."""

    risk: bool
    level: str
    subject: str
    categories: list[str] = field(default_factory=list)
    evidence: list[dict] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# ---- classifier ---------------------------------------------------------------------------------
@dataclass
class _Classifier:
    risk: Any        # LogisticRegression: none vs risk
    level: Any       # LogisticRegression over LEVELS
    category: Any    # LogisticRegression over categories, fitted on risky examples


def _fit(vectors, examples) -> _Classifier:
    """Logistic regressions on sentence embeddings; a fraction of a second on 240 examples."""
    import numpy as np
    from sklearn.linear_model import LogisticRegression

    y_risk = np.array([e.risk for e in examples])
    y_level = np.array([e.level for e in examples])
    risky = np.flatnonzero(y_risk)
    lr = dict(C=4.0, max_iter=2000, class_weight="balanced")
    return _Classifier(LogisticRegression(**lr).fit(vectors, y_risk),
                       LogisticRegression(**lr).fit(vectors, y_level),
                       LogisticRegression(**lr).fit(vectors[risky], [examples[i].category for i in risky]))


@lru_cache(maxsize=2)
def _screening_data(path: str):
    from workbench.corpora import load_screening
    from workbench.models.embeddings import embed

    examples = load_screening(path)
    return examples, embed([e.text for e in examples])


def _screening_path() -> str:
    from workbench import paths

    return str(paths.corpora_dir() / "safety" / "screening.jsonl")


@lru_cache(maxsize=2)
def _classifier(path: str) -> _Classifier:
    examples, vectors = _screening_data(path)
    return _fit(vectors, examples)


def _screen_with(text: str, clf: _Classifier | None, vector=None) -> Screen:
    """Rules plus a given classifier (None: rules only); ``vector`` is the text's embedding if known."""
    hits, benign = rules(text)
    level = max((h.level for h in hits), key=RANK.__getitem__, default="none")
    categories = sorted({h.category for h in hits}, key=lambda c: (-max(RANK[h.level] for h in hits
                                                                        if h.category == c), CATEGORIES.index(c)))
    evidence = [h.span() for h in sorted(hits, key=lambda h: h.start)]
    if clf is not None:
        if vector is None:
            from workbench.models.embeddings import embed

            vector = embed([text])[0]
        x = vector.reshape(1, -1)
        p_risk = float(clf.risk.predict_proba(x)[0][list(clf.risk.classes_).index(True)])
        levels = dict(zip(clf.level.classes_, clf.level.predict_proba(x)[0], strict=True))
        clf_level = max((lv for lv in LEVELS[1:]), key=lambda lv: levels.get(lv, 0.0))
        whole = {"start": 0, "end": len(text), "text": text, "rule": f"classifier (p={p_risk:.2f})"}
        threshold = _CLF_RISK if (TOPICAL.search(text) and not benign) else _CLF_OVERRIDE
        if level == "none" and p_risk >= threshold:
            level, benign = clf_level, []
            categories = [str(clf.category.predict(x)[0])]
            evidence = [whole]
        elif level != "none" and RANK[clf_level] > RANK[level] and levels.get(clf_level, 0.0) >= _CLF_RAISE:
            level = clf_level
            evidence.append(whole)
    if level == "none":
        return Screen(False, "none", "none", [], sorted(benign, key=lambda e: e["start"]))
    subject, marker = subject_of(text, hits)
    if marker:
        evidence = sorted(evidence + [marker], key=lambda e: (e["start"], e["end"]))
    return Screen(True, level, subject, categories, evidence)


def screen(text: str, *, locale: str | None = None) -> Screen:
    """Screen one message for current risk (rules + the classifier trained on the shipped set).

    ``locale`` is only checked here (an unknown one raises early); rules for English, Spanish and
    Hindi always run, and the locale matters for :func:`escalation`.
    """
    if not isinstance(text, str):
        raise WorkbenchError(f"screen() needs a string, got {type(text).__name__}.", fix="pass the message text")
    if locale is not None:
        _resources(locale)
    if not text.strip():
        return Screen(False, "none", "none", [], [])
    return _screen_with(text, _classifier(_screening_path()))


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
        if risk.level == "imminent" and risk.subject == "self":
            answer = IMMINENT_FOLLOW_UP  # no room for a small model's improvisation here
        answer = escalation(risk, locale) + "\n\n" + answer
        decision += "; escalation resources placed first"
    return answer, {"screen": out.to_dict(), "scope": unsafe}, decision



_ALIASES = {"GB": "UK", "EN-GB": "UK", "EN-US": "US", "ES-ES": "ES", "ES-MX": "MX", "HI-IN": "IN", "EN-IN": "IN",
            "EN-AU": "AU", "EN-CA": "CA", "EN-NZ": "NZ", "EN-IE": "IE"}


def _resources(locale: str | None) -> dict:
    from workbench.corpora import load_safety_config

    res = load_safety_config()["resources"]
    known = list(res["locales"])
    code = locale or os.environ.get("WORKBENCH_LOCALE") or res["default"]
    key = str(code).strip().upper().replace("_", "-")
    key = _ALIASES.get(key, key)
    if key not in res["locales"] and "-" in key and key.rsplit("-", 1)[1] in res["locales"]:
        key = key.rsplit("-", 1)[1]
    if key not in res["locales"]:
        raise WorkbenchError(f"Unknown locale {code!r}.", where="corpora/safety/resources.yaml",
                             fix=f"use one of: {', '.join(known)} (or set WORKBENCH_LOCALE)")
    return res["locales"][key]


def escalation(screen: Screen, locale: str | None = None) -> str:
    """What to say first for this screen, with the locale's emergency number and crisis line; '' when none."""
    from workbench.corpora import load_safety_config

    loc = _resources(locale)
    if not screen.risk or screen.level == "none":
        return ""
    subject = screen.subject if screen.subject in ("self", "client", "other") else "self"
    templates = load_safety_config()["escalation"]["templates"]
    tpl = next((t for t in templates if t["level"] == screen.level and t["subject"] == subject), None)
    if tpl is None:
        raise WorkbenchError(f"No escalation template for level {screen.level!r}, subject {subject!r}.",
                             where="corpora/safety/escalation.yaml", fix="add one template per (level, subject)")
    line = loc["crisis_line"]
    return " ".join(tpl["text"].split()).format(emergency=loc["emergency"],
                                                crisis_line=f"{line['name']} ({line['contact']})")


# ---- evaluation ---------------------------------------------------------------------------------
def evaluate_screening(folds: int = 5, seed: int = 0) -> dict:
    """Stratified k-fold cross-validation of the combined screen on the shipped set.

    In each fold the classifier is fitted on the training folds only; the held-out messages are
    screened with rules + that classifier. Also reports the rules alone and the classifier alone
    (same folds) so their contributions are visible.
    """
    import numpy as np
    from sklearn.model_selection import StratifiedKFold

    examples, vectors = _screening_data(_screening_path())
    n = len(examples)
    combined: list[Screen | None] = [None] * n
    clf_only = np.zeros(n, dtype=bool)
    strata = [e.level for e in examples]
    for train, test in StratifiedKFold(folds, shuffle=True, random_state=seed).split(np.zeros(n), strata):
        clf = _fit(vectors[train], [examples[i] for i in train])
        for i in test:
            combined[i] = _screen_with(examples[i].text, clf, vectors[i])
        clf_only[test] = clf.risk.predict(vectors[test]).astype(bool)
    rules = [_screen_with(e.text, None) for e in examples]
    truth = np.array([e.risk for e in examples])

    def binary(pred) -> dict:
        pred = np.asarray(pred, dtype=bool)
        tp, fp, fn = int((pred & truth).sum()), int((pred & ~truth).sum()), int((~pred & truth).sum())
        p = tp / (tp + fp) if tp + fp else 0.0
        r = tp / (tp + fn) if tp + fn else 0.0
        return {"recall": r, "precision": p, "f1": 2 * p * r / (p + r) if p + r else 0.0, "tp": tp, "fp": fp, "fn": fn}

    out = binary([s.risk for s in combined])
    out["level_accuracy"] = float(np.mean([s.level == e.level for s, e in zip(combined, examples, strict=True)]))
    out["subject_accuracy"] = float(np.mean([s.subject == e.subject for s, e in zip(combined, examples, strict=True)]))
    out["per_language_recall"] = {
        lang: float(np.mean([combined[i].risk for i in range(n) if examples[i].lang == lang and examples[i].risk]))
        for lang in sorted({e.lang for e in examples})}
    out["errors"] = [{"id": e.id, "text": e.text, "gold": [e.level, e.subject], "got": [s.level, s.subject]}
                     for s, e in zip(combined, examples, strict=True) if (s.level, s.subject) != (e.level, e.subject)]
    out["rules_only"] = binary([s.risk for s in rules])
    out["classifier_only"] = binary(clf_only)
    out.update(folds=folds, seed=seed, n=n)
    return out
