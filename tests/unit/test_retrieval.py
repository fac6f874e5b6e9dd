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


NONSENSE = ["qzxv blorptangle frimwax", "asdf", "lorem ipsum dolor sit amet", "jkl; jkl; jkl;", "12345",
            "banana bread recipe with walnuts", "how do I change a car tyre", "paint a bedroom wall",
            "how many moons does jupiter have", "tomato plant leaves turning yellow", "the rules of cricket"]


def test_score_floor_separates_evaluation_queries_from_nonsense(corpus):
    """The floor's comment holds its measurement; this keeps it true as cards or the embedder change."""
    from workbench.corpora import load_queries

    idx = R.Index()
    weakest = min((idx.search(q.text, 1)[0] for q in load_queries()), key=lambda h: h.score)
    assert weakest.good, f"an evaluation query's best hit scores {weakest.score:.3f}, below {R.SCORE_FLOOR}"
    best_nonsense = max((idx.search(q, 1)[0] for q in NONSENSE), key=lambda h: h.score)
    assert not best_nonsense.good, f"nonsense scores {best_nonsense.score:.3f}, above {R.SCORE_FLOOR}"


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


def _own_corpora(tmp_path, monkeypatch):
    shutil.copytree(paths.corpora_dir(), tmp_path / "corpora")
    monkeypatch.setenv("WORKBENCH_CORPORA", str(tmp_path / "corpora"))
    monkeypatch.setenv("WORKBENCH_EXPORTS", str(tmp_path / "exports"))
    return tmp_path / "corpora"


def test_rebuild_embeds_only_new_or_edited_chunks(tmp_path, monkeypatch, empty_vector_store):
    from workbench.models.embeddings import VectorStore, embed

    corpora = _own_corpora(tmp_path, monkeypatch)
    n = len(R.card_chunks())
    R.build_index()
    assert (R.manifest()["embedded"], R.manifest()["reused"]) == (n, 0)
    R.build_index()
    assert (R.manifest()["embedded"], R.manifest()["reused"]) == (0, n)

    card = corpora / "knowledge" / "mi-oars.md"
    before = {c.id: c.text for c in R.card_chunks()}
    card.write_text(card.read_text() + "\nReflections can be simple or complex; both count.\n")
    changed = [c for c in R.card_chunks() if before.get(c.id) != c.text]
    assert 0 < len(changed) < 5 and R.stale_inputs() != []
    R.build_index()
    assert (R.manifest()["embedded"], R.manifest()["reused"]) == (len(changed), n - len(changed))
    assert R.stale_inputs() == []
    # kept vectors are what the model gives in one cold pass, up to int8's per-batch activation scales
    texts = [c.text for c in R.card_chunks()]
    fresh, kept = embed(texts, variant="int8", max_tokens=128), VectorStore().embed(texts)
    assert (fresh * kept).sum(1).min() > 0.98
    assert R.Index().search("open questions, affirmations, reflections and summaries", 3)[0].card == "mi-oars"


def test_stopped_build_leaves_the_old_index_and_resumes(tmp_path, monkeypatch, empty_vector_store):
    import threading

    from workbench.models.embeddings import VectorStore

    _own_corpora(tmp_path, monkeypatch)
    n, stop, seen = len(R.card_chunks()), threading.Event(), []

    def progress(done, total, message):
        seen.append((done, total))
        if done >= 64:
            stop.set()

    assert R.build_index(progress=progress, cancel=stop) is None
    assert not R.index_dir().exists() and seen[-1] == (64, n)
    assert len(VectorStore().vectors) == 64  # what was embedded before Stop is kept
    R.build_index()
    assert (R.manifest()["embedded"], R.manifest()["reused"]) == (n - 64, 64)


def test_vector_store_merges_its_shards(empty_vector_store, monkeypatch):
    import numpy as np

    from workbench.models.embeddings import VectorStore

    monkeypatch.setattr(VectorStore, "MAX_SHARDS", 3)
    store = VectorStore()
    rng = np.random.default_rng(0)
    rows = {VectorStore.key(f"text {i}"): rng.standard_normal(384).astype(np.float32) for i in range(10)}
    for k, v in rows.items():
        store.add([k], v[None])
    assert len(list(store.dir.glob("*.npz"))) <= 4
    again = VectorStore().vectors
    assert set(again) == set(rows) and all(np.array_equal(again[k], v) for k, v in rows.items())
    assert VectorStore(reuse=False).vectors == {}


def test_inline_bm25_ranks_exactly_as_txtai_bm25(corpus):
    """Our keyword scorer only changes loops: on every shipped query, same chunks, same scores."""
    from txtai import Embeddings

    from workbench.corpora import load_queries

    path = str(R.index_dir() / "txtai")
    ours, theirs = Embeddings(), Embeddings()
    ours.load(path, config=R._config())
    theirs.load(path, config=dict(R._config(), scoring={**R._config()["scoring"], "method": "bm25"}))
    assert type(ours.scoring).__name__ == "InlineBM25" and type(theirs.scoring).__name__ == "BM25"
    for q in load_queries():
        a, b = ours.scoring.batchsearch([q.text], 10)[0], theirs.scoring.batchsearch([q.text], 10)[0]
        assert a and [(i, round(s, 6)) for i, s in a] == [(i, round(s, 6)) for i, s in b]


def test_rebuild_keeps_every_document_folder(tmp_path, monkeypatch):
    _own_corpora(tmp_path, monkeypatch)
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir(), b.mkdir()
    (a / "hours.md").write_text("## Opening hours\nThe Quillfield clinic opens at seven on Saturdays.\n")
    (b / "parking.md").write_text("## Parking\nVisitors to Marrowgate park behind the pharmacy.\n")
    R.build_index(docs=a)
    R.Index().upsert(b)
    R.rebuild()
    assert R.manifest()["folders"] == [str(a), str(b)] and R.stale_inputs() == []
    assert R.Index().search("Quillfield Saturday opening", 1)[0].card == "hours"
    assert R.Index().search("Marrowgate parking", 1)[0].card == "parking"


def test_ensure_index_builds_what_is_missing_stale_or_outdated(tmp_path, monkeypatch):
    from workbench.io import write_json

    corpora = _own_corpora(tmp_path, monkeypatch)
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "hours.md").write_text("## Opening hours\nThe Quillfield clinic opens at seven on Saturdays.\n")
    assert R.index_status() == ("missing", [])
    R.build_index(docs=docs)
    assert R.index_status() == ("fresh", [])
    stamp = (R.index_dir() / "manifest.json").stat().st_mtime_ns
    assert R.ensure_index() == R.index_dir()
    assert (R.index_dir() / "manifest.json").stat().st_mtime_ns == stamp  # fresh: left alone

    card = corpora / "knowledge" / "mi-oars.md"
    card.write_text(card.read_text() + "\nReflections can be simple or complex; both count.\n")
    assert R.index_status() == ("stale", [str(card)])
    R.ensure_index()
    assert R.index_status() == ("fresh", []) and R.manifest()["folders"] == [str(docs)]

    m = R.manifest()
    write_json(R.index_dir() / "manifest.json", {**m, "embedding": "an-older-embedder"})
    assert R.index_status()[0] == "outdated"
    R.ensure_index()
    assert R.manifest()["embedding"] == "int8" and R.manifest()["folders"] == [str(docs)]
    assert R.Index().search("Quillfield Saturday opening", 1)[0].card == "hours"
