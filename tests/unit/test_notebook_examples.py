"""Checks the notebooks' last cells used to make, kept here so the notebooks stay for people (they now end in
plain examples). Most such checks already live beside their widget's tests; these had no home there."""

import ast
import json
from pathlib import Path

from workbench.ratings import items_from

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"
# nbgrader's exercise sources (and the copies nbgrader makes of them) end in autograded test cells that assert: they
# are the students' checks, not prose for people
EXERCISES = {NOTEBOOKS / "classroom" / d for d in ("source", "release", "submitted", "autograded", "feedback")}

ITEMS = [  # notebook 06's study: a plain and a skilled reply to each of three messages
    ("Since my exam results came out I lie awake every night going over them.",
     "That sounds hard. Try to relax more before bed and things will settle down.", "base"),
    ("Since my exam results came out I lie awake every night going over them.",
     "It sounds like the results are still replaying at night. What goes through your mind when you lie there?",
     "agent"),
    ("I have started drinking most evenings just to switch off after work.",
     "Lots of people do that. Just make sure you drink water too.", "base"),
    ("I have started drinking most evenings just to switch off after work.",
     "It sounds like the evenings have become the only place you can put the day down. Would it be okay if we "
     "looked at what the drinking does for you?", "agent"),
]


def test_notebook_06_scripted_raters_rate_every_item(tmp_path, monkeypatch):
    from widgets.review import ReviewView
    from workbench import ratings

    monkeypatch.setenv("WORKBENCH_EXPORTS", str(tmp_path))
    items = items_from(ITEMS)
    for name, lift in (("demo-rater-a", 0), ("demo-rater-b", 1)):
        ratings.clear_rater("demo", name)
        v = ReviewView(items, study="demo", rater=name)
        for _ in items:
            it = v.current
            for control in v.dims.values():
                control.value = min(5, 3 + (lift if it.config == "agent" else 0))
            for control in v.judgements.values():
                control.value = 4 if it.config == "agent" else 2
            v.save.click()
        lines = ratings.ratings_path("demo", name).read_text().splitlines()
        assert len(lines) == len(items), (name, len(lines), v.status.value)
        assert ratings.next_unrated("demo", name) is None
    assert ratings.raters("demo") == ["demo-rater-a", "demo-rater-b"]
    assert ratings.summary("demo", items).means.loc["agent", "empathy"] == 3.5


def test_notebook_09_a_clinicians_note_is_about_the_client_and_an_idiom_is_nothing():
    from widgets.safety import SafetyView

    view = SafetyView()
    view.message.value = "pt 16F disclosed stepfather hits her, scared to go home tonight"
    view.screen_btn.click()
    assert view.last.risk and view.last.subject == "client", view.last
    view.message.value = "this commute is killing me"
    view.screen_btn.click()
    assert not view.last.risk, view.last


def _assert_lines(nb: dict) -> list[str]:
    """The first line of each ``assert`` statement in the notebook's code cells (magics turned into Python first)."""
    from IPython.core.inputtransformer2 import TransformerManager

    found = []
    for i, cell in enumerate(nb["cells"]):
        if cell["cell_type"] == "code":
            src = TransformerManager().transform_cell("".join(cell["source"]))
            found += [f"cell {i}: {src.splitlines()[n.lineno - 1].strip()}" for n in ast.walk(ast.parse(src))
                      if isinstance(n, ast.Assert)]
    return found


def test_the_check_finds_an_assert_among_magics():
    cell = {"cell_type": "code", "source": ["%time x = 1\n", "if x:\n", "    assert x == 1, 'x'\n"]}
    prose = {"cell_type": "markdown", "source": "assert"}
    assert _assert_lines({"cells": [prose, cell]}) == ["cell 1: assert x == 1, 'x'"]


def test_user_notebooks_have_no_bare_asserts():
    """Notebooks are for people: a check a notebook once made lives in tests/ (like the ones above), not as an assert
    a reader trips over. Recursive, so the Voilà apps in classroom/apps are covered too."""
    books = [p for p in sorted(NOTEBOOKS.rglob("*.ipynb")) if ".ipynb_checkpoints" not in p.parts
             and not any(d in p.parents for d in EXERCISES)]
    assert NOTEBOOKS / "classroom" / "apps" / "prompt_lab.ipynb" in books and len(books) >= 10
    found = {str(p.relative_to(NOTEBOOKS)): a for p in books if (a := _assert_lines(json.loads(p.read_text())))}
    assert not found, f"asserts in user notebooks (move them to tests/): {found}"
