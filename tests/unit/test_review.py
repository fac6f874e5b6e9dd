"""Expert review: ratings logic and the ReviewView driven headless (set values, click, read the JSONL)."""

import html
import json
import uuid

import pytest
from traitlets import TraitError

from widgets.review import SELECTED, ReviewView
from workbench import ratings
from workbench.errors import WorkbenchError
from workbench.formatting import SCROLL_STYLE

ITEMS = [
    ("I can't sleep since my exam results came out.",
     "That sounds hard. Try to relax more and things will settle.", "base"),
    ("I can't sleep since my exam results came out.",
     ("It sounds like the results are still weighing on you at night. What goes through your mind when "
      "you lie awake?"), "agent"),
    ("My client keeps cancelling and I feel irritated.",
     "You should tell her plainly that cancellations are not acceptable.", "base"),
    ("My client keeps cancelling and I feel irritated.",
     ("Feeling irritated makes sense when you care about the work. Would it help to think together about "
      "what the cancellations might mean for her?"), "agent"),
]


def _study():
    return f"t-{uuid.uuid4().hex[:8]}"


def _rate(view, level, judgement=4, comment=""):
    for t in view.dims.values():
        t.value = level
    for t in view.judgements.values():
        t.value = judgement
    view.comment.value = comment
    view.save.click()


def test_save_writes_jsonl_and_advances():
    study = _study()
    view = ReviewView(ITEMS, study=study, rater="ann")
    assert "Item 1 of 4" in view.progress.value and "0 rated" in view.progress.value
    first = view.current
    _rate(view, 4, comment="clear")
    assert "Item 2 of 4" in view.progress.value and "1 rated" in view.progress.value
    lines = ratings.ratings_path(study, "ann").read_text().splitlines()
    assert len(lines) == 1
    rec = json.loads(lines[0])
    assert rec["item_id"] == first.id and rec["rater"] == "ann" and rec["study"] == study
    assert rec["scores"] == dict.fromkeys(ratings.dimensions(), 4)
    assert rec["judgements"] == {"accurate": 4, "trustworthy": 4, "safe": 4}
    assert rec["comment"] == "clear" and rec["seconds"] >= 0 and rec["timestamp"] > 0
    # controls are cleared for the next item; skip writes nothing; back reloads the saved rating
    assert all(t.value is None for t in view.dims.values())
    view.skip.click()
    assert "Item 3 of 4" in view.progress.value
    view.back.click()
    view.back.click()
    assert view.current.id == first.id and view.dims["empathy"].value == 4 and view.comment.value == "clear"
    assert len(ratings.ratings_path(study, "ann").read_text().splitlines()) == 1


def test_blind_and_anchors_on_hover():
    view = ReviewView([("q one", "r one", "secret-config-A"), ("q two", "r two", "secret-config-B")],
                      study=_study(), rater="ann")
    for _ in range(2):
        shown = view.query.value + view.response.value + view.progress.value
        assert "secret-config" not in shown and view.current.id not in shown
        view.skip.click()
    anchors = view.rubric.dimension("empathy").anchors
    assert view.dims["empathy"].tooltips[0] == f"1: {anchors[1]}"
    assert "strongly agree" in view.judgements["safe"].tooltips[4]


def test_order_is_random_but_fixed_per_rater():
    items = ratings.items_from([(f"q{i}", f"r{i}", "c") for i in range(12)])
    a1, a2, b = (ratings.order(items, r) for r in ("ann", "ann", "bob"))
    assert [i.id for i in a1] == [i.id for i in a2]
    assert [i.id for i in a1] != [i.id for i in b]
    assert sorted(i.id for i in b) == sorted(i.id for i in items)


def test_resume_reopens_at_first_unrated():
    study = _study()
    view = ReviewView(ITEMS, study=study, rater="ann")
    _rate(view, 3)
    _rate(view, 5)
    again = ReviewView(ITEMS, study=study, rater="ann")
    assert again.pos == 2 == ratings.next_unrated(study, "ann")
    assert "Item 3 of 4" in again.progress.value and "2 rated" in again.progress.value
    fresh = ReviewView(ITEMS, study=study, rater="bob")
    assert fresh.pos == 0
    fresh.rater.value = "ann"   # switching rater resumes that rater
    assert fresh.pos == 2


def test_two_raters_alpha_and_summary_shape():
    study = _study()
    levels = {"ann": [1, 4, 2, 5], "bob": [2, 4, 1, 5]}
    items = ratings.items_from(ITEMS)
    for rater, lv in levels.items():
        for it, v in zip(items, lv, strict=True):
            ratings.save_rating(ratings.Rating(study, rater, it.id, dict.fromkeys(ratings.dimensions(), v),
                                               {"accurate": v, "trustworthy": v, "safe": None}))
    view = ReviewView(ITEMS, study=study, rater="ann")
    assert "All items rated" in view.status.value
    view.refresh.click()
    s = view.summary
    dims = ratings.dimensions()
    assert s.raters == ["ann", "bob"] and s.n_ratings == 8
    assert list(s.means.index) == ["agent", "base"]
    assert s.means.shape == (2, len(dims) + 3 + 1)
    assert s.means.loc["agent", "empathy"] == pytest.approx((4 + 5 + 4 + 5) / 4)
    assert 0.5 < s.alpha.loc["empathy", "alpha"] <= 1 and s.alpha.loc["empathy", "n_items"] == 4
    assert s.alpha.shape[0] == len(dims) + 3
    assert set(s.automatic.index) == set(dims) | {"overall"} and s.automatic.loc["overall", "n"] == 4 * len(dims)
    assert "wb-review-alpha" in view.summary_html.value
    # means, agreement and the automatic scorer each scroll sideways in their own box (formatting.scroll_box): a wide
    # summary stays inside its tab instead of running off the page (issue #20)
    out, scroll = view.summary_html.value, f'<div class="wb-scroll" style="{SCROLL_STYLE}"><table'
    assert out.count("<table") == out.count(scroll) == 3, out


def test_bad_input_is_explained():
    study = _study()
    view = ReviewView(ITEMS, study=study, rater="")
    view.save.click()
    assert "rater name" in view.status.value
    view.rater.value = "ann"
    view.save.click()  # nothing rated
    assert "no scores" in view.status.value and not ratings.ratings_path(study, "ann").exists()
    with pytest.raises(WorkbenchError, match="file name"):
        ratings.ratings_path(study, "../evil")
    with pytest.raises(WorkbenchError, match="appears twice"):
        ratings.items_from([{"id": "a", "query": "q", "response": "r"}] * 2)


def test_load_items_accepts_evaluate_results(tmp_path):
    p = tmp_path / "study.jsonl"
    p.write_text(json.dumps({"id": "x1", "query": "q", "response": "r", "config": "base"}) + "\n"
                 + json.dumps({"query_id": "q7", "query": "q", "response": "r2", "config": "agent",
                               "latency_s": 1.2}) + "\n")
    items = ratings.load_items(p)
    assert [i.id for i in items] == ["x1", "q7:agent"] and items[1].config == "agent"
    p.write_text("{not json\n")
    with pytest.raises(WorkbenchError, match=r"study.jsonl:1"):
        ratings.load_items(p)


def _keys(view, *keys):
    """Send keys the way the browser side does: as custom messages to the key listener."""
    for k in keys:
        view.shortcuts._handle_custom_msg({"key": k}, [])


def test_keyboard_rates_moves_and_saves():
    study = _study()
    view = ReviewView(ITEMS, study=study, rater="ann")
    dims, judgements = list(view.dims.values()), list(view.judgements.values())
    first = view.current
    _keys(view, "3", "5")  # rate the first two rows; the mark moves down after each
    assert (dims[0].value, dims[1].value, view.mark) == (3, 5, 2)
    _keys(view, "ArrowUp", "0")  # back up one row and clear it
    assert dims[1].value is None and view.mark == 1
    assert view.rows[1].layout.border_left.startswith("4px solid #f0b4")  # the marked row is highlighted
    _keys(view, "ArrowDown", "ArrowDown", "ArrowUp", "ArrowUp", "4")
    _keys(view, *["2"] * (len(view.rows) - 2))
    assert [t.value for t in dims[1:] + judgements] == [4] + [2] * (len(view.rows) - 2)
    _keys(view, "9", "x", "")  # not shortcuts: nothing changes
    assert view.current.id == first.id
    _keys(view, "Enter")
    rec = json.loads(ratings.ratings_path(study, "ann").read_text().splitlines()[0])
    assert rec["item_id"] == first.id and rec["scores"][ratings.dimensions()[0]] == 3
    assert view.current.id != first.id and view.mark == 0 and all(t.value is None for t in dims)
    _keys(view, "ArrowRight")
    assert "Item 3 of 4" in view.progress.value
    _keys(view, "ArrowLeft", "ArrowLeft")
    assert view.current.id == first.id and dims[0].value == 3
    # the browser side is told which keys to send and where to listen
    assert set(view.shortcuts.shortcuts) >= {"1", "5", "Enter", "ArrowUp"} and view.shortcuts.scope == "wb-review-card"
    assert "wb-review-card" in view.tabs.children[0]._dom_classes


def test_enter_on_a_half_rated_item_saves_a_draft_that_is_not_counted():
    study = _study()
    view = ReviewView(ITEMS, study=study, rater="ann")
    dims = list(view.dims)
    first = view.current
    view.comment.value = "unsure about the tone"
    _keys(view, "3", "5", "Enter")  # two of the dimensions, then Enter
    assert view.current.id == first.id, "a half-rated item must not be left behind"
    missing = [view.rubric.dimension(d).name for d in dims[2:]]
    assert "draft" in view.status.value and all(html.escape(n) in view.status.value for n in missing)
    assert view.mark == 2, "the mark should wait on the first unrated dimension"
    assert "0 rated" in view.progress.value and view.bar.value == 0
    rec = json.loads(ratings.ratings_path(study, "ann").read_text().splitlines()[-1])
    assert rec["scores"][dims[0]] == 3 and rec["scores"][dims[2]] is None and rec["comment"] == "unsure about the tone"
    assert ratings.next_unrated(study, "ann") == 0 and ratings.load_ratings(study, "ann", drafts=False) == []
    again = ReviewView(ITEMS, study=study, rater="ann")  # the draft reopens with what was chosen
    assert again.current.id == first.id and again.dims[dims[1]].value == 5 and "draft" in again.progress.value
    again.refresh.click()
    assert again.summary.n_ratings == 0 and again.summary.n_drafts == 1 and "1 draft" in again.summary_html.value
    _keys(again, "ArrowDown", "ArrowDown", *["4"] * (len(dims) - 2), "Enter")  # the rest, then Enter
    assert again.current.id != first.id and "1 rated" in again.progress.value and "Saved." in again.status.value
    # rating an item completely, then clearing a dimension and saving again makes it a draft once more
    again.go(0)
    again.dims[dims[0]].value = None
    again.save.click()
    assert ratings.next_unrated(study, "ann") == 0 and again.current.id == first.id


def test_unsaved_comment_and_levels_survive_back_and_forward():
    study = _study()
    view = ReviewView(ITEMS, study=study, rater="ann")
    _rate(view, 4, comment="saved note")  # item 1 saved; item 2 on screen
    second = view.current
    view.comment.value = "half-typed thought"
    view.dims["empathy"].value = 2
    _keys(view, "ArrowLeft")
    assert view.pos == 0 and view.comment.value == "saved note" and view.dims["empathy"].value == 4
    _keys(view, "ArrowRight")
    assert view.current.id == second.id and view.comment.value == "half-typed thought"
    assert view.dims["empathy"].value == 2 and "unsaved changes kept" in view.progress.value
    view.back.click()  # an edit of a saved item is kept too, and the file is not touched
    view.comment.value = "saved note, revised"
    view.skip.click()
    view.back.click()
    assert view.comment.value == "saved note, revised"
    assert len(ratings.ratings_path(study, "ann").read_text().splitlines()) == 1
    view.comment.value = "saved note"  # back to what was saved: nothing unsaved any more
    view.skip.click()
    assert (("ann", view.order[0].id) not in view.unsaved) and ("ann", second.id) in view.unsaved
    _rate(view, 3, comment="done")  # saving clears what was kept for the item
    assert ("ann", second.id) not in view.unsaved
    view.back.click()
    assert view.comment.value == "done" and "unsaved" not in view.progress.value


def test_values_chosen_before_the_rater_name_are_kept():
    view = ReviewView(ITEMS, study=_study(), rater="")
    view.dims["empathy"].value = 5
    view.comment.value = "typed before my name"
    shown = view.current.id
    view.rater.value = "ann"
    assert view.current.id == shown and view.dims["empathy"].value == 5
    assert view.comment.value == "typed before my name" and "kept" in view.status.value


def test_chosen_level_is_clearly_styled():
    view = ReviewView(ITEMS, study=_study(), rater="ann")
    picker = view.dims["empathy"]
    assert not any(b.button_style or SELECTED in b._dom_classes for b in picker.buttons)
    picker.buttons[3].click()
    assert picker.value == 4
    chosen, others = picker.buttons[3], picker.buttons[:3] + picker.buttons[4:]
    assert chosen.button_style == "primary" and chosen.style.font_weight == "bold"
    assert SELECTED in chosen._dom_classes and not chosen.layout.border.endswith("transparent")
    assert all(b.button_style == "" and SELECTED not in b._dom_classes and b.layout.border.endswith("transparent")
               for b in others)
    _keys(view, "2")  # the keyboard sets the same state
    assert picker.value == 2 and picker.buttons[1].button_style == "primary" and picker.buttons[3].button_style == ""
    _keys(view, "ArrowUp", "0")
    assert picker.value is None and not any(b.button_style for b in picker.buttons)
    with pytest.raises(TraitError, match="1–5"):
        picker.value = 7
