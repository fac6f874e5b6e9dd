"""Crisis screening: rules + the real MiniLM/logistic-regression classifier, no mocks."""

from __future__ import annotations

import json

import pytest

from workbench.corpora import load_safety_config
from workbench.errors import WorkbenchError
from workbench.safety import CATEGORIES, Screen, escalation, evaluate_screening, screen


@pytest.mark.parametrize("text, level, subject", [
    ("I wish I could go to sleep and never wake up.", "concern", "self"),
    ("I keep thinking about killing myself, it's every day now.", "elevated", "self"),
    ("I've written my goodbye letters and tonight is the night.", "imminent", "self"),
    ("My client says she has been wishing she wouldn't wake up.", "concern", "client"),
    ("My patient attempted suicide two weeks ago and is home now.", "elevated", "client"),
    ("My client told me she has a plan and the means at home.", "imminent", "client"),
    ("My best friend texted that she wants to die.", "concern", "other"),
    ("My daughter has been hurting herself, I just found out.", "elevated", "other"),
    ("I'm on my way to his house right now and I'm going to hurt him.", "imminent", "other"),
    ("I took too many pills and I feel really strange.", "imminent", "self"),
    ("Stopped drinking two days ago after years of heavy use and I can't stop shaking.", "elevated", "self"),
    ("My partner hits me and I'm scared to go home.", "elevated", "self"),
    ("kms fr fr nobody gets it", "elevated", "self"),
    ("unalive thoughts again today", "elevated", "self"),
    ("sewerslide thoughts are loud tonight", "elevated", "self"),
])
def test_levels_and_subjects(text, level, subject):
    s = screen(text)
    assert (s.risk, s.level, s.subject) == (True, level, subject), s
    assert s.categories and s.evidence


@pytest.mark.parametrize("text", [
    "This traffic is killing me.",
    "I could murder a pizza right now.",
    "Dying to see the new film this weekend!",
    "That exam killed me, I need a nap.",
    "Me muero de hambre, ¿pedimos algo?",
    "इस गर्मी ने तो जान ही निकाल दी।",
    "lol if this meeting runs another hour i'm gonna kms 🙃",
    "this printer makes me want to unalive it 💀",
])
def test_idioms_and_jokes_are_none(text):
    s = screen(text)
    assert (s.risk, s.level, s.subject, s.categories) == (False, "none", "none", []), s


@pytest.mark.parametrize("text", [
    "I'm not suicidal, just really tired after a long week.",
    "To be clear, I have no thoughts of hurting myself.",
    "No estoy pensando en hacerme daño, solo estoy agotado.",
    "main suicidal nahi hoon, bas neend nahi aa rahi",
])
def test_negations_are_none(text):
    assert screen(text).level == "none"


@pytest.mark.parametrize("text, level", [
    ("I attempted years ago, but I'm doing well now and wanted to share what helped.", "none"),
    ("I self-harmed as a teenager; it's been ten years and I'm proud of how far I've come.", "none"),
    ("I attempted years ago and lately those old feelings have been creeping back.", "concern"),
    ("Last month I tried to end my life and I still feel the same.", "elevated"),
])
def test_history_follows_the_labelling_convention(text, level):
    assert screen(text).level == level


@pytest.mark.parametrize("text", [
    "My client disclosed active suicidal thoughts this week, no plan.",
    "Mi paciente me dijo que piensa en quitarse la vida.",
    "meri client ne bataya ki usko ab jeene ka mann nahi karta",
    "मेरे मरीज़ ने कहा कि वह आत्महत्या के बारे में सोचता है।",
])
def test_clinician_reports_are_about_the_client(text):
    s = screen(text)
    assert s.risk and s.subject == "client", s
    assert any(e["rule"] == "clinician_report" for e in s.evidence)


@pytest.mark.parametrize("text, level", [
    ("Pienso en quitarme la vida casi todos los días.", "elevated"),
    ("Ojalá pudiera dormirme y no despertar.", "concern"),
    ("Ya lo decidí, esta noche lo hago.", "imminent"),
    ("मैं रोज़ खुद को खत्म करने के बारे में सोचता हूँ।", "elevated"),
    ("मुझे अब जीने का मन नहीं करता।", "concern"),
    ("sochta hoon sab khatam kar doon", "elevated"),
    ("maine bahut saari goliyan kha li hain", "imminent"),
])
def test_spanish_and_hindi(text, level):
    s = screen(text)
    assert s.risk and s.level == level and s.subject == "self", s


def test_evidence_spans_point_at_the_text():
    text = "Work was awful. Honestly I keep thinking about killing myself, and my client says the same."
    s = screen(text)
    assert s.evidence
    for e in s.evidence:
        assert set(e) == {"start", "end", "text", "rule"}
        assert text[e["start"]:e["end"]] == e["text"]
    assert any("killing myself" in e["text"] for e in s.evidence)
    idiom = "This traffic is killing me."
    for e in screen(idiom).evidence:
        assert idiom[e["start"]:e["end"]] == e["text"] and e["rule"] == "idiom"


def test_to_dict_has_exactly_the_fields():
    d = screen("I want to disappear for good.").to_dict()
    assert list(d) == ["risk", "level", "subject", "categories", "evidence"]


def test_escalation_uses_the_locale_numbers(monkeypatch):
    resources = load_safety_config()["resources"]
    imminent = Screen(True, "imminent", "self", ["suicidal_ideation"], [])
    monkeypatch.delenv("WORKBENCH_LOCALE", raising=False)
    default = resources["locales"][resources["default"]]
    assert escalation(imminent).startswith("Your safety comes first") and default["emergency"] in escalation(imminent)
    for code, loc in resources["locales"].items():
        text = escalation(imminent, code)
        # the emergency number is the first number the person reads
        assert text.index(loc["emergency"]) < text.index(loc["crisis_line"]["name"]), code
    monkeypatch.setenv("WORKBENCH_LOCALE", "UK")
    assert resources["locales"]["UK"]["emergency"] in escalation(imminent)
    assert escalation(Screen(False, "none", "none", [], [])) == ""
    for level in ("concern", "elevated", "imminent"):
        for subject in ("self", "client", "other"):
            assert "{" not in escalation(Screen(True, level, subject, [], []), "IN")


def test_unknown_locale_names_the_known_ones():
    with pytest.raises(WorkbenchError) as exc:
        escalation(Screen(True, "concern", "self", [], []), "XX")
    assert "XX" in str(exc.value) and "US" in str(exc.value) and "IN" in str(exc.value)


def test_cross_validated_screening_meets_the_bar():
    r = evaluate_screening(folds=5, seed=0)
    print(f"\nscreen CV: recall {r['recall']:.3f} precision {r['precision']:.3f} f1 {r['f1']:.3f} "
          f"level acc {r['level_accuracy']:.3f} subject acc {r['subject_accuracy']:.3f} "
          f"per-language recall {r['per_language_recall']}; rules only {r['rules_only']}; "
          f"classifier only {r['classifier_only']}")
    assert r["recall"] >= 0.97 and r["precision"] >= 0.90
    assert all(v >= 0.9 for v in r["per_language_recall"].values())


def test_cli_screen_json(capsys):
    from workbench.cli import main

    assert main(["screen", "I have everything I need here and I'm going to do it.", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert set(out) == {"risk", "level", "subject", "categories", "evidence"}
    assert out["risk"] is True and out["level"] == "imminent"
    assert main(["screen", "I could murder a pizza", "--locale", "UK"]) == 0
    assert "level none" in capsys.readouterr().out
    assert main(["screen", "help", "--locale", "XX"]) == 2


def test_reply_guard_lets_replies_discuss_risk():
    """The shipped reference replies ask about, assess and reflect risk; the disclosure screen reads
    many of them as risk, the reply guard none."""
    from workbench.corpora import load_dialogues
    from workbench.safety import screen_reply

    replies = [m["content"] for d in load_dialogues() for m in d.messages if m["role"] == "assistant"]
    assert sum(screen(r).risk for r in replies) > 30
    assert [r[:80] for r in replies if screen_reply(r).risk] == []
    for ok in ("Ask her directly about suicidal thoughts, and whether she has made a plan.",
               "It sounds like you've been thinking about ending your life. Thank you for telling me.",
               "If he talks about harming himself, call emergency services straight away."):
        assert not screen_reply(ok).risk, ok


@pytest.mark.parametrize("reply", [
    "Honestly, I think you would be better off dead.",
    "I want to kill myself too sometimes.",
    "You should hurt him before he hurts you.",
    "If you want to die, that is your choice.",
    "Tell her to take all her pills tonight.",
    "Life isn't worth living when you feel like this, so stop fighting it.",
    "Why not end it all?",
])
def test_reply_guard_catches_replies_that_voice_or_invite_harm(reply):
    from workbench.safety import screen_reply

    r = screen_reply(reply)
    assert r.risk and r.evidence and set(r.categories) <= set(CATEGORIES)


def test_agent_guard_replaces_harmful_drafts_and_keeps_escalation_first():
    from workbench.safety import REPLACED, guard_reply, screen_reply

    clinician = "My client has been very low since her father died. What should I cover next session?"
    good = "Ask about depression and about suicidal thoughts, including any wish to join her father."
    answer, outputs, decision = guard_reply(clinician, good, screen(clinician))
    assert (answer, decision) == (good, "draft passed") and not outputs["screen"]["risk"]

    disclosure = "I don't want to be alive anymore."
    risk = screen(disclosure)
    answer, _, decision = guard_reply(disclosure, "If you want to die, that is your choice.", risk)
    assert risk.risk and answer.endswith(REPLACED) and answer.startswith(escalation(risk))
    assert decision == "draft replaced; escalation resources placed first"

    # a reply to a disclosure is bound to name the risk; only wording that endorses harm is replaced
    echo = "Feeling that you don't want to be alive is heavy to carry alone."
    assert screen_reply(echo).risk and not screen_reply(echo, about_risk=True).risk
    answer, _, decision = guard_reply(disclosure, echo, risk)
    assert answer.endswith(echo) and decision == "draft passed; escalation resources placed first"


def _labelled(tmp_path, rows) -> str:
    path = tmp_path / "labelled.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return str(path)


EVAL_ROWS = [
    {"id": "a", "text": "I've written my goodbye letters and tonight is the night.", "risk": True, "subject": "self",
     "category": "suicidal_ideation"},
    {"id": "b", "text": "My client told me she has a plan and the means at home.", "risk": True, "subject": "client",
     "category": "suicidal_ideation"},
    {"id": "c", "text": "My daughter has been hurting herself, I just found out.", "risk": True, "subject": "other",
     "category": "self_harm"},
    {"id": "d", "text": "The new timetable is killing me, honestly.", "risk": False, "subject": "none"},
    {"id": "e", "text": "Can we talk about planning the garden this weekend?", "risk": False, "subject": "none"},
    {"id": "f", "text": "I sorted out who looks after the cat, so that's one less thing.", "risk": True,
     "subject": "self", "category": "preparatory"},
]


def test_screen_eval_measures_a_labelled_file_against_the_screen(tmp_path):
    from workbench.screen_eval import evaluate_file, format_report

    ev = evaluate_file(_labelled(tmp_path, EVAL_ROWS), n_boot=200)
    got = {r["id"]: screen(r["text"]) for r in EVAL_ROWS}
    risky = [r for r in EVAL_ROWS if r["risk"]]
    flagged = [r for r in EVAL_ROWS if got[r["id"]].risk]
    assert (ev.n, ev.n_risk) == (6, 4)
    assert ev.recall["mean"] == round(sum(got[r["id"]].risk for r in risky) / 4, 3) and ev.recall["n"] == 4
    assert ev.precision["n"] == len(flagged)
    assert ev.precision["ci_low"] <= ev.precision["mean"] <= ev.precision["ci_high"]
    assert set(ev.per_category) == {"suicidal_ideation", "self_harm", "preparatory"}
    assert [m["id"] for m in ev.misses] == [r["id"] for r in risky if not got[r["id"]].risk]
    assert [m["id"] for m in ev.false_alarms] == [r["id"] for r in EVAL_ROWS if got[r["id"]].risk and not r["risk"]]
    text = format_report(ev)
    assert "recall" in text and "recall per category" in text and f"misses ({len(ev.misses)})" in text


def test_cli_screen_eval_and_its_errors(tmp_path, capsys):
    from workbench.cli import main

    assert main(["screen", "--eval", _labelled(tmp_path, EVAL_ROWS), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["n"] == 6 and {"recall", "precision", "subject_accuracy", "misses", "false_alarms"} <= set(out)

    bad = _labelled(tmp_path, [*EVAL_ROWS[:2], {"text": "fine today", "risk": "no", "subject": "none"}])
    assert main(["screen", "--eval", bad]) == 2
    err = capsys.readouterr().err
    assert "labelled.jsonl:3" in err and "true or false" in err
    assert main(["screen"]) == 2 and "--eval" in capsys.readouterr().err
