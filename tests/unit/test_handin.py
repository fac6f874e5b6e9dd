"""Hand-ins: the HTML round trip, the hash, tamper detection, re-scoring, escaping and the gradebook."""

from __future__ import annotations

import json
import re

import pytest

from workbench import handin
from workbench.errors import WorkbenchError
from workbench.rubric import default_scores

QUERY = "I can't get myself to do anything in the evenings any more."
GOOD = ("That sounds exhausting. What does a typical evening look like for you? In CBT we might try behavioural "
        "activation, one small planned activity, but I'd like to hear what matters to you first.")
PLAIN = "Try to go to bed earlier."
NASTY = "</script><script>alert('x')</script> <b>bold</b> & \"quotes\""


@pytest.fixture(scope="module")
def answers():
    scored = default_scores([(QUERY, GOOD), (QUERY, PLAIN)], [False, False])
    return [{"variant": "mine", "query_id": "own-1", "query": QUERY, "response": r, "scores": s.scores,
             "mean": s.mean, "risk": False} for r, s in zip((GOOD, PLAIN), scored, strict=True)]


def _record(answers, student="ada", **kw):
    return handin.make("exploration", student, prompts={"mine": "Ask open questions."}, answers=answers,
                       checks={"exploration_delta": 0.8, "alpha": float("nan")}, model="tiny-llama", **kw)


def _edit_payload(path, change, rehash=False):
    """Rewrite the embedded record as a student with a text editor might (optionally recomputing the hash)."""
    text = path.read_text(encoding="utf-8")
    rec = handin.read(path)
    change(rec)
    if rehash:
        rec.content_hash = rec.compute_hash()
    payload = json.dumps(rec.to_dict(), ensure_ascii=False).replace("<", "\\u003c")
    new = re.sub(r'(id="workbench-handin">).*?(</script>)', lambda m: m.group(1) + payload + m.group(2), text,
                 flags=re.S)
    path.write_text(new, encoding="utf-8")


def test_round_trip_and_hash(tmp_path, answers):
    rec = _record(answers)
    path = handin.export(rec, tmp_path / "handin-exploration.html")
    back = handin.read(path)
    assert back == rec
    assert back.checks["alpha"] is None  # NaN is stored as null: the payload stays valid JSON
    assert len(back.content_hash) == 64 and back.content_hash == back.compute_hash()
    assert handin.verify(path) == []
    env = back.environment
    assert env["model"] == "tiny-llama" and env["workbench"] and env["python"] and "torch" in env["packages"]
    assert handin.rescore(back)["changed"].sum() == 0


def test_changed_score_is_caught_by_hash_and_by_rescoring(tmp_path, answers):
    path = handin.export(_record(answers), tmp_path / "a.html")

    def raise_score(rec):
        rec.answers[1]["scores"]["exploration"] = 5

    _edit_payload(path, raise_score)
    problems = handin.verify(path)
    assert any("hash" in p for p in problems) and any("page" in p for p in problems)
    _edit_payload(path, lambda rec: None, rehash=True)  # a careful forger recomputes the hash …
    assert not any("hash" in p for p in handin.verify(path))
    changed = handin.rescore(path)
    changed = changed[changed["changed"]]  # … and re-scoring still finds the score it cannot have
    assert list(changed[["answer", "dimension"]].itertuples(index=False, name=None)) == [(1, "exploration")]


def test_changed_answer_and_edited_page_are_flagged(tmp_path, answers):
    path = handin.export(_record(answers), tmp_path / "a.html")
    _edit_payload(path, lambda rec: rec.answers[0].update(response=GOOD + " Also see a psychiatrist."))
    assert any("hash" in p for p in handin.verify(path))

    other = handin.export(_record(answers), tmp_path / "b.html")
    text = other.read_text(encoding="utf-8")
    other.write_text(text.replace("<h1>exploration</h1>", "<h1>exploration (full marks)</h1>"), encoding="utf-8")
    assert handin.verify(other) == ["the visible page differs from the embedded record (the page was edited)"]


def test_html_escapes_user_text(tmp_path, answers):
    rows = [dict(answers[0], response=NASTY, query=NASTY)]
    rec = handin.make("ex<1>", NASTY, prompts={NASTY: NASTY}, answers=rows, checks={NASTY: NASTY})
    path = handin.export(rec, tmp_path / "x.html")
    text = path.read_text(encoding="utf-8")
    assert "<script>alert" not in text and "<b>bold</b>" not in text
    assert text.count("</script>") == 1  # only the payload's own closing tag
    assert "&lt;b&gt;bold&lt;/b&gt;" in text
    assert handin.read(path).answers[0]["response"] == NASTY and handin.verify(path) == []


def test_gradebook_over_several_handins(tmp_path, answers):
    folder = tmp_path / "submitted"
    for student in ("ada", "ben", "cy"):
        handin.export(_record(answers, student=student), folder / student / "ex1" / "handin-exploration.html")
    _edit_payload(folder / "ben" / "ex1" / "handin-exploration.html",
                  lambda rec: rec.answers[1]["scores"].update(warmth=5), rehash=True)
    (folder / "cy" / "ex1" / "handin-exploration.html").write_text("<html>not a hand-in</html>", encoding="utf-8")
    book = handin.gradebook(folder).set_index("file")
    assert len(book) == 3
    by_student = book.dropna(subset=["student"]).set_index("student")
    assert by_student.loc["ada", ["hash_ok", "page_ok", "scores_ok"]].tolist() == [True, True, True]
    assert by_student.loc["ada", "check:exploration_delta"] == 0.8 and by_student.loc["ada", "answers"] == 2
    assert not by_student.loc["ben", "scores_ok"] and "warmth" in by_student.loc["ben", "problems"]
    broken = book[book["student"].isna()]
    assert len(broken) == 1 and "no workbench hand-in" in broken["problems"].iloc[0]


def test_bad_inputs_say_what_to_do(tmp_path):
    with pytest.raises(WorkbenchError, match="needs a student"):
        handin.make("ex1", " ")
    with pytest.raises(WorkbenchError, match="no response text"):
        handin.make("ex1", "ada", answers=[{"query": "q"}])
    with pytest.raises(WorkbenchError, match="not plain data"):
        handin.make("ex1", "ada", checks={"x": object()})
    with pytest.raises(WorkbenchError, match="No hand-in file"):
        handin.read(tmp_path / "missing.html")


def test_handin_path_keeps_solved_handins_out_of_the_release(tmp_path, monkeypatch):
    course = tmp_path / "course"
    (course / "source" / "ex1").mkdir(parents=True)
    (course / "nbgrader_config.py").write_text("c = get_config()\n")
    monkeypatch.setenv("WORKBENCH_EXPORTS", str(tmp_path / "exports"))
    assert handin.handin_path("ex1", course / "source" / "ex1") == tmp_path / "exports" / "handins" / "handin-ex1.html"
    student = tmp_path / "home" / "ex1"
    student.mkdir(parents=True)
    assert handin.handin_path("ex 1/x", student) == student / "handin-ex-1-x.html"


def test_from_grid_keeps_cells_and_traces(tmp_path):
    from workbench.prompt_lab import Cell, Grid

    cells = [Cell("mine", "q-1", QUERY, GOOD, {"exploration": 4.0}, 4.0, completion_tokens=12, seconds=0.5)]
    grid = Grid({"mine": "Ask open questions."}, [{"id": "q-1", "text": QUERY}], cells, model="tiny-llama",
                dimensions=["exploration"])
    rec = handin.from_grid(grid, "ex1", "ada", checks={"complete": True})
    assert rec.prompts == {"mine": "Ask open questions."} and rec.answers[0]["response"] == GOOD
    assert rec.traces[0] == {"name": "mine · q-1", "tokens": 12, "seconds": 0.5, "risk_level": "none", "replaced": ""}
    assert rec.environment["model"] == "tiny-llama" and rec.content_hash == rec.compute_hash()
