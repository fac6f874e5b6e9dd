"""The validity panel headless: the shipped cross-validation as figures, and a file validated by a click."""

from __future__ import annotations

import json

from widgets.validity import ValidityView

TURNS = [
    ("I've been skipping my insulin on weekends.", "What gets in the way on weekends?", "open", "none"),
    ("I've been skipping my insulin on weekends.", "Weekends are when it slips.", "none", "simple"),
    ("I don't know, it's fine.", "Have you talked to your nurse about it?", "closed", "none"),
]


def test_panel_shows_cross_validation_and_validates_a_file(tmp_path):
    view = ValidityView()
    assert view.cv is not None, "weights/cv.json ships with the coders"
    cv_box = view.children[0].children[0]
    assert "Cross-validated" in cv_box.children[0].value and "macro-F1" in cv_box.children[1].value
    heats = [v.figure for row in cv_box.children[2:] for v in getattr(row, "children", [row])]
    assert any(f.data[0].type == "heatmap" for f in heats) and any(f.data[0].type == "scatter" for f in heats)

    path = tmp_path / "few.jsonl"
    path.write_text("".join(json.dumps({"context": c, "text": t, "question": q, "reflection": r}) + "\n"
                            for c, t, q, r in TURNS))
    view.file.value = ""
    assert view.start() is None and "path of an annotated file" in view.status.value
    view.file.value = str(path)
    view.validate_btn.click()
    rep = view.job.wait(timeout=300)
    assert rep["n_pairs"] == 3 and "Validated 3 pairs" in view.status.value
    assert "question" in view.report.value and "kappa" in view.report.value
    z = view.plots.children[0].children[0].figure.data[0].z
    assert sum(map(sum, z)) == 3
    view.file.value = str(tmp_path / "absent.jsonl")
    view.validate_btn.click()
    try:
        view.job.wait(timeout=60)
    except Exception:
        pass
    assert "absent.jsonl" in view.status.value


def test_evidence_is_highlighted_in_the_answer():
    from widgets.common import highlight_evidence

    out = highlight_evidence("That sounds hard <b>. What helps you most?",
                             {"exploration": ["open question (p 0.93): What helps you most?"],
                              "empathy": ["no emotional reaction or interpretation found"]})
    assert out.count("<mark") == 1 and "title='exploration · open question (p 0.93)'" in out
    assert "&lt;b&gt;" in out  # the rest is escaped
