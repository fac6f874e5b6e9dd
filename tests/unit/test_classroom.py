"""The classroom exercises as nbgrader assignments: well-formed cells, a release without solutions or hidden tests,
and autograding that gives the solved notebooks full marks and wrong or unsolved ones less (on the tiny model)."""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

COURSE = Path(__file__).resolve().parents[2] / "notebooks" / "classroom"
EXERCISES = {"ex1_exploration": "exploration", "ex2_risk_prompt": "risk_prompt", "ex3_agreement": "agreement"}
MARKERS = ("### BEGIN SOLUTION", "### END SOLUTION", "### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS")

pytest.importorskip("nbgrader", reason="nbgrader is the `classroom` extra: pip install -e '.[classroom]'")


def _nb(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def _source(cell) -> str:
    return "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]


@pytest.mark.parametrize("assignment", EXERCISES)
def test_source_notebooks_are_well_formed(assignment):
    nb = _nb(COURSE / "source" / assignment / f"{EXERCISES[assignment]}.ipynb")
    cells = nb["cells"]
    assert all(c.get("id") for c in cells), "every cell needs an id"
    meta = [c["metadata"]["nbgrader"] for c in cells]
    ids = [m["grade_id"] for m in meta]
    assert len(ids) == len(set(ids)), "grade_ids must be unique"
    tests = [(c, m) for c, m in zip(cells, meta, strict=True) if m["grade"]]
    solutions = [c for c, m in zip(cells, meta, strict=True) if m["solution"]]
    assert tests and solutions
    assert all(m["locked"] and m["points"] > 0 and c["cell_type"] == "code" for c, m in tests)
    assert all("### BEGIN SOLUTION" in _source(c) and "### END SOLUTION" in _source(c) for c in solutions)
    assert any("### BEGIN HIDDEN TESTS" in _source(c) for c, _ in tests), "each exercise hides some tests"
    assert "handin.export" in _source(cells[-1]), "each exercise ends with its hand-in"


def _nbgrader(course: Path, *args: str) -> subprocess.CompletedProcess:
    # nbgrader runs `alembic` by name when it creates gradebook.db: the venv's bin must be on PATH even when the
    # venv is not activated (as in CI, which calls .venv/bin/python directly).
    path = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    env = os.environ | {"WORKBENCH_MODEL": "tiny-llama", "HF_HUB_OFFLINE": "1", "PATH": path,
                        "WORKBENCH_EXPORTS": str(course.parent / "exports")}
    run = subprocess.run([sys.executable, "-m", "nbgrader", *args], cwd=course, env=env, capture_output=True,
                         text=True, timeout=1200)
    assert run.returncode == 0, f"nbgrader {' '.join(args)} failed:\n{run.stdout[-3000:]}\n{run.stderr[-3000:]}"
    return run


def _submit(course: Path, student: str, assignment: str, notebook: Path, edit=None) -> None:
    dest = course / "submitted" / student / assignment
    dest.mkdir(parents=True)
    nb = _nb(notebook)
    if edit:
        edit(nb)
    (dest / notebook.name).write_text(json.dumps(nb), encoding="utf-8")


def _reverse_ratings(nb: dict) -> None:
    """A well-formed but wrong answer to exercise 3: every rating mirrored (1 <-> 5)."""
    cell = next(c for c in nb["cells"] if c["metadata"]["nbgrader"]["grade_id"] == "ratings")
    cell["source"] = ('RATINGS = {"empathy": [2, 5, 2, 5, 4], "exploration": [2, 5, 3, 5, 4], '
                      '"safety": [1, 2, 2, 5, 2], "warmth": [3, 5, 3, 4, 3]}\n')


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    """The course copied, released, submitted by three students and autograded once for all the tests below."""
    root = tmp_path_factory.mktemp("classroom") / "course"
    root.mkdir()
    shutil.copy(COURSE / "nbgrader_config.py", root)
    shutil.copytree(COURSE / "source", root / "source", ignore=shutil.ignore_patterns("handin-*.html", ".*"))
    for assignment in EXERCISES:
        _nbgrader(root, "generate_assignment", assignment, "--force")
    for assignment, name in EXERCISES.items():
        _submit(root, "solved", assignment, root / "source" / assignment / f"{name}.ipynb")
        _submit(root, "unsolved", assignment, root / "release" / assignment / f"{name}.ipynb")
    _submit(root, "wrong", "ex3_agreement", root / "source" / "ex3_agreement" / "agreement.ipynb",
            edit=_reverse_ratings)
    for assignment in EXERCISES:
        _nbgrader(root, "autograde", assignment, "--force")
    _nbgrader(root, "export", "--to", str(root / "grades.csv"))
    return root


def test_release_strips_solutions_and_hidden_tests(course):
    for assignment, name in EXERCISES.items():
        release = course / "release" / assignment
        text = (release / f"{name}.ipynb").read_text(encoding="utf-8")
        assert not any(m in text for m in MARKERS), f"{assignment}: a marker survived into the release"
        assert "raise NotImplementedError()" in text
        assert not list(release.glob("handin-*.html")), "no solved hand-in may reach the students"
        source = (course / "source" / assignment / f"{name}.ipynb").read_text(encoding="utf-8")
        assert "### BEGIN HIDDEN TESTS" in source  # the source keeps them, for autograding
    assert "INSTRUCTOR" not in (course / "release" / "ex3_agreement" / "agreement.ipynb").read_text(encoding="utf-8")


def test_autograde_gives_full_marks_only_to_solved_work(course):
    with open(course / "grades.csv", encoding="utf-8") as fh:
        rows = {(r["assignment"], r["student_id"]): r for r in csv.DictReader(fh)}
    for assignment in EXERCISES:
        solved = rows[(assignment, "solved")]
        assert float(solved["max_score"]) > 0
        assert float(solved["score"]) == float(solved["max_score"]), f"{assignment}: the solution lost marks"
        assert float(rows[(assignment, "unsolved")]["score"]) == 0, f"{assignment}: the empty release scored"
    wrong = rows[("ex3_agreement", "wrong")]
    # the visible format check passes; the hidden agreement test, restored at autograding, fails
    assert 0 < float(wrong["score"]) < float(wrong["max_score"])


def test_autograded_runs_leave_verifiable_handins(course):
    from workbench import handin

    files = sorted((course / "autograded" / "solved").glob("*/handin-*.html"))
    assert [f.parent.name for f in files] == list(EXERCISES)
    book = handin.gradebook(files)
    assert book[["hash_ok", "page_ok", "scores_ok"]].all().all(), book["problems"].tolist()
    assert set(book["exercise"]) == set(EXERCISES) and (book["model"] == "tiny-llama").all()
