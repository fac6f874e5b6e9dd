"""`workbench search` against a real index: hits under the score floor are marked weak, and a search with no good hit
says so, in the words notebook 03's widget uses (issue #20: the CLI printed nonsense hits like good ones)."""

import json

import pytest

from workbench import retrieval as R
from workbench.cli import main

GOOD = "behavioural activation activity scheduling"


@pytest.fixture(scope="module")
def index(tmp_path_factory):
    mp = pytest.MonkeyPatch()
    mp.setenv("WORKBENCH_EXPORTS", str(tmp_path_factory.mktemp("cli-search")))
    R.build_index()
    yield
    mp.undo()


def _hit_lines(out: str) -> list[str]:
    return [line for line in out.splitlines() if line[:1].isdigit()]  # a hit's first line starts with its score


def test_nonsense_hits_are_weak_and_no_good_match_is_said(index, capsys):
    assert main(["search", "qzxv blorptangle frimwax"]) == 0
    out, err = capsys.readouterr()
    lines = _hit_lines(out)
    assert len(lines) == 5 and all(f"weak: under {R.SCORE_FLOOR:.2f}, no good match" in line for line in lines)
    assert "No good match: the best hit scores 0." in err and f"below the floor of {R.SCORE_FLOOR:.2f}" in err
    assert "Try other words." in err


def test_good_hits_are_unmarked_and_json_says_which_are_good(index, capsys):
    assert main(["search", GOOD, "--limit", "10", "--json"]) == 0
    out, err = capsys.readouterr()
    hits = json.loads(out)
    assert hits[0]["good"] and "No good match" not in err
    assert [h["good"] for h in hits] == [h["score"] >= R.SCORE_FLOOR for h in hits]
    assert main(["search", GOOD, "--limit", "10"]) == 0
    assert ["weak:" in line for line in _hit_lines(capsys.readouterr().out)] == [not h["good"] for h in hits]


def test_no_good_match_in_a_topic_names_it(index, capsys):
    assert main(["search", GOOD, "--topic", "sleep"]) == 0  # nothing about activity scheduling there (best 0.23)
    err = capsys.readouterr().err
    assert "No good match in topic 'sleep'" in err and "no --topic (any topic)" in err


def test_the_floor_is_retrievals_constant(index, capsys, monkeypatch):
    monkeypatch.setattr(R, "SCORE_FLOOR", 0.99)  # one constant for the widget and the CLI: raise it, all are weak
    assert main(["search", GOOD]) == 0
    out, err = capsys.readouterr()
    assert all("weak: under 0.99" in line for line in _hit_lines(out)) and "below the floor of 0.99" in err
