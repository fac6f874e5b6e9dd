"""The safety widget driven headless on the real screen: type, click, read what shows; evaluate a file."""

import json

from widgets.safety import SafetyView, highlight


def test_screen_shows_level_subject_evidence_and_the_reply_first():
    view = SafetyView(locale="UK")
    view.message.value = "My client told me her partner strangled her last night and she is scared to go home."
    view.screen_btn.click()
    s = view.last
    assert s.risk and s.subject == "client" and s.categories[0] == "abuse", s
    assert "<mark" in view.result.value and s.level in view.result.value and "client" in view.result.value
    assert "duty to report" in view.result.value  # the abuse reply for a clinician
    view.message.value = "I could murder a pizza"
    view.screen_btn.click()
    assert not view.last.risk and "No escalation" in view.result.value


def test_an_unknown_locale_or_non_text_shows_the_error_not_a_traceback():
    view = SafetyView()
    view.locale.options = [*view.locale.options, "XX"]
    view.locale.value = "XX"
    view.message.value = "I want to die"
    view.screen_btn.click()
    assert view.last is None and "Unknown locale" in view.result.value


def test_highlight_marks_overlapping_spans_once():
    text = "I keep thinking about killing myself tonight"
    out = highlight(text, [{"start": 22, "end": 36, "rule": "a"}, {"start": 30, "end": 44, "rule": "b<>"}])
    assert out.count("<mark") == 2 and "killing myself" in out and "b&lt;&gt;" in out
    assert out.replace("<mark title='a'>", "").replace("<mark title='b&lt;&gt;'>", "").replace("</mark>", "") == text


def test_evaluate_a_labelled_file_with_a_confusion_view(tmp_path):
    rows = [
        {"text": "gave away my guitar and wrote goodbye letters, done after tonight", "risk": True, "subject": "self",
         "category": "suicidal_ideation", "lang": "en"},
        {"text": "pt reports purging daily and fainted twice this week", "risk": True, "subject": "client",
         "category": "eating_disorder", "lang": "en"},
        {"text": "this spreadsheet is killing me", "risk": False, "subject": "none", "lang": "en"},
    ]
    path = tmp_path / "few.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    view = SafetyView(file=str(path))
    view.eval_btn.click()
    ev = view.job.wait(timeout=300)
    assert ev.n == 3 and "recall per category" in view.report.value and "Recall" in view.status.value
    heat = view.confusion.children[0].figure.data[0]
    assert sum(map(sum, heat.z)) == 3 and "none" in heat.y
    assert ev.misses == [] and ev.false_alarms == []  # not listed unless asked
    view.file.value = "  "
    assert view.start() is None and "path of a labelled" in view.status.value
    view.list_errors.value = True
    view.file.value = str(tmp_path / "absent.jsonl")
    view.eval_btn.click()
    try:
        view.job.wait(timeout=60)
    except Exception:
        pass
    assert "absent.jsonl" in view.status.value
