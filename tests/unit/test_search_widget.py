"""The search widget driven headless against a real index."""

import re

import pytest

from widgets.search import BAR_PX, SearchView, highlight
from workbench import retrieval as R


@pytest.fixture(scope="module")
def index(tmp_path_factory):
    root = tmp_path_factory.mktemp("search")
    mp = pytest.MonkeyPatch()
    mp.setenv("WORKBENCH_EXPORTS", str(root))
    R.build_index()
    yield
    mp.undo()


def test_highlight_marks_content_words_and_escapes():
    out = highlight("Use a <thought> record daily", "thought records?")
    assert "&lt;<mark>thought</mark>&gt;" in out and "<mark>record</mark>" in out and "<mark>Use" not in out


def test_search_shows_ranked_cited_results(index):
    view = SearchView()
    view.query.value = "behavioural activation activity scheduling"
    view.topic.value = "depression"
    view.go.click()
    assert view.hits and all(h.topic == "depression" for h in view.hits)
    assert f"<b>{view.hits[0].citation}</b>" in view.results.value and "<mark>" in view.results.value


def test_empty_query_is_an_error_not_a_crash(index):
    view = SearchView()
    view.go.click()
    assert view.hits == [] and "Empty search query" in view.status.value


def test_build_button_builds_and_rebuilds_a_stale_index(tmp_path, monkeypatch, empty_vector_store):
    import shutil

    from workbench import paths

    shutil.copytree(paths.corpora_dir(), tmp_path / "corpora")
    monkeypatch.setenv("WORKBENCH_CORPORA", str(tmp_path / "corpora"))
    monkeypatch.setenv("WORKBENCH_EXPORTS", str(tmp_path / "exports"))
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "clinic.md").write_text("## Waiting list\nThe Fernbrook clinic's waiting list is reviewed every Tuesday.\n")

    view = SearchView()
    assert view.build.description == "Build index" and "No index" in view.status.value
    view.docs.value = str(docs)
    view.build.click()
    assert view.job.wait(120) is not None and "Indexed" in view.status.value
    assert view.bar.value == view.bar.max == R.manifest()["chunks"] and view.build.description == "Rebuild index"
    view.query.value = "Fernbrook waiting list"
    view.go.click()
    assert view.hits[0].card == "clinic"

    card = tmp_path / "corpora" / "knowledge" / "mi-oars.md"
    card.write_text(card.read_text() + "\nOne more line.\n")
    view = SearchView()
    assert "stale" in view.status.value
    view.build.click()  # the documents folder is remembered from the manifest
    view.job.wait(120)
    assert R.stale_inputs() == [] and R.manifest()["folders"] == [str(docs)]
    assert 0 < R.manifest()["embedded"] < 5 and "reused" in view.status.value


def test_stop_leaves_no_half_built_index(tmp_path, monkeypatch, empty_vector_store):
    monkeypatch.setenv("WORKBENCH_EXPORTS", str(tmp_path / "exports"))
    view = SearchView()
    job = view.start_build()
    view.stop.click()
    assert job.wait(120) is None and job.status == "cancelled"
    assert not R.index_dir().exists() and "Stopped" in view.status.value
    assert not view.build.disabled and view.stop.disabled


def _bars(view) -> list[int]:
    return [int(w) for w in re.findall(r"class='wb-search-bar' data-width='(\d+)'", view.results.value)]


def test_changing_topic_or_limit_searches_again(index):
    view = SearchView()
    view.topic.value = "sleep"  # no query yet: nothing to search, and no error
    assert view.hits == [] and view.results.value == "" and "Empty" not in view.status.value
    view.topic.value = ""
    view.query.value = "how to reduce worry before exams"  # Enter in the box searches
    assert view.hits and {h.topic for h in view.hits} != {"sleep"}
    view.topic.value = "sleep"
    assert view.hits and all(h.topic == "sleep" for h in view.hits)
    view.limit.value = 2
    assert len(view.hits) == 2 and len(_bars(view)) == 2


def test_nonsense_is_no_good_match_and_bars_are_absolute(index):
    view = SearchView()
    view.query.value = "qzxv blorptangle frimwax"
    assert view.hits and not any(h.good for h in view.hits)
    assert "No good match" in view.results.value and "wb-search-nomatch" in view.results.value
    assert view.results.value.count("wb-search-weak") == len(view.hits)
    # the top bar of a nonsense query is short: bars follow the absolute score, not the best hit
    assert _bars(view)[0] == round(BAR_PX * view.hits[0].score) < BAR_PX * R.SCORE_FLOOR
    view.query.value = "behavioural activation activity scheduling"
    assert view.hits[0].good and "wb-search-nomatch" not in view.results.value
    assert _bars(view) == [round(BAR_PX * h.score) for h in view.hits]
    assert view.results.value.count("wb-search-weak") == sum(not h.good for h in view.hits)
    view.topic.value = "sleep"  # nothing about activity scheduling there (best 0.23): said so, naming the topic
    assert not any(h.good for h in view.hits)
    assert "No good match in topic 'sleep'" in view.results.value and "(any topic)" in view.results.value
