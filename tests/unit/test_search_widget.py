"""The search widget driven headless against a real index."""


import pytest

from widgets.search import SearchView, highlight
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
