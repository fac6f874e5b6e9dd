"""Retrieval over the real cards with the real MiniLM model and txtai: chunking, search, filters,
upsert, staleness, errors."""

import json
import shutil

import pytest

from workbench import paths
from workbench import retrieval as R
from workbench.cli import main
from workbench.errors import WorkbenchError


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """A private copy of the corpora and exports, so a test may edit a card."""
    root = tmp_path_factory.mktemp("retrieval")
    mp = pytest.MonkeyPatch()
    shutil.copytree(paths.corpora_dir(), root / "corpora")
    mp.setenv("WORKBENCH_CORPORA", str(root / "corpora"))
    mp.setenv("WORKBENCH_EXPORTS", str(root / "exports"))
    R.build_index()
    yield root
    mp.undo()


def test_chunks_follow_headings_with_overlap():
    body = "## One\n" + "alpha " * 50 + "\n## Two\nbeta gamma"
    a, b = R.chunk_markdown("c1", "Card", body, topic="sleep", source="S 2020")
    assert (a.heading, b.heading) == ("One", "Two") and a.card == b.card == "c1" and b.topic == "sleep"
    assert b.text.startswith("Card. Two. (…alpha") and b.text.endswith("beta gamma")


def test_search_cites_the_right_card(corpus):
    hits = R.Index().search("What columns go in a thought record?", 3)
    assert "cbt-thought-records" in [h.card for h in hits]
    assert hits[0].citation == f"[{hits[0].card}]" and hits[0].score >= hits[-1].score


def test_metadata_filter(corpus):
    hits = R.Index().search("how to help", 5, topic="sleep")
    assert hits and {h.topic for h in hits} == {"sleep"}


def test_recall_at_5_on_shipped_queries_is_reported(corpus):
    from workbench.corpora import load_queries

    idx, found, total = R.Index(), 0, 0
    for q in load_queries():
        cards = {h.card for h in idx.search(q.text, 5)}
        found += any(c in cards for c in q.relevant_cards)
        total += 1
    recall = found / total
    print(f"recall@5 (any relevant card in top 5) = {recall:.2f} over {total} queries")
    assert recall >= 0.6


def test_upsert_adds_user_documents(corpus, tmp_path):
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "clinic-policy.md").write_text("## Out-of-hours contact\nThe Larkspur clinic duty phone is staffed "
                                           "until ten at night; after that, callers are sent to the crisis team.\n")
    before = R.manifest()["chunks"]
    assert R.Index().upsert(docs) == 1
    hits = R.Index().search("Larkspur duty phone hours", 3)
    assert hits[0].card == "clinic-policy" and R.manifest()["chunks"] == before + 1


def test_changed_card_marks_index_stale(corpus):
    assert R.stale_inputs() == []
    card = corpus / "corpora" / "knowledge" / "mi-oars.md"
    card.write_text(card.read_text() + "\nOne more sentence.\n")
    assert R.stale_inputs() == [str(card)]


def test_errors_say_what_to_do(corpus, tmp_path, monkeypatch):
    with pytest.raises(WorkbenchError, match="Empty search query"):
        R.Index().search("  ")
    monkeypatch.setenv("WORKBENCH_EXPORTS", str(tmp_path))
    with pytest.raises(WorkbenchError, match="workbench index --name knowledge"):
        R.Index()


def test_cli_search_json(corpus, capsys):
    assert main(["search", "grounding when a client dissociates", "--json", "--limit", "2"]) == 0
    hits = json.loads(capsys.readouterr().out)
    assert len(hits) == 2 and hits[0]["citation"].startswith("[")
