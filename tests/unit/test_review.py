"""Expert review: ratings logic and the ReviewView driven headless (set values, click, read the JSONL)."""

import json
import uuid

import pytest

from widgets.review import ReviewView
from workbench import ratings
from workbench.errors import WorkbenchError

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
