"""03_retrieval in real JupyterLab: run all, search by typing and Enter, see nonsense marked as no good match and
a topic change search again, then rebuild the index from the widget."""

import pytest

from tests.browser.conftest import open_and_run_all
from widgets.search import BAR_PX
from workbench.retrieval import SCORE_FLOOR

pytestmark = pytest.mark.browser


def test_search_and_rebuild(lab, page):
    base, _ = lab
    open_and_run_all(page, base, "03_retrieval.ipynb")
    # the notebook's last cell searches from Python; wait for its results before typing our own query
    page.wait_for_function("() => [...document.querySelectorAll('.wb-search-results')]"
                           ".some(e => e.innerText.includes('['))", timeout=240_000)
    box = page.locator(".wb-search-query input").first
    box.fill("sleep restriction for insomnia")
    box.press("Enter")
    page.wait_for_function("() => [...document.querySelectorAll('.wb-search-results mark')]"
                           ".some(m => /sleep/i.test(m.innerText))", timeout=60_000)
    # nonsense gets no confident-looking hit: a "no good match" line and a bar shorter than the floor's tick
    box.fill("qzxv blorptangle frimwax")
    box.press("Enter")
    page.wait_for_function("() => !!document.querySelector('.wb-search-results .wb-search-nomatch')", timeout=60_000)
    width = page.evaluate("() => document.querySelector('.wb-search-results .wb-search-bar').offsetWidth")
    assert width < BAR_PX * SCORE_FLOOR, width
    # a real query clears the floor; choosing a topic searches again (nothing on it in "trauma")
    box.fill("sleep restriction for insomnia")
    box.press("Enter")
    page.wait_for_function("() => !document.querySelector('.wb-search-results .wb-search-nomatch')", timeout=60_000)
    page.locator(".wb-search-topic select").first.select_option(label="trauma")
    page.wait_for_function("() => /No good match in topic 'trauma'/.test("
                           "document.querySelector('.wb-search-results').innerText)", timeout=60_000)
    page.locator(".wb-search-topic select").first.select_option(label="(any topic)")
    build = page.locator("button.wb-search-build").first
    assert "Rebuild" in build.inner_text()
    build.click()
    page.wait_for_function("() => [...document.querySelectorAll('.wb-search-status')]"
                           ".some(e => /Indexed \\d+ chunks .*reused/.test(e.innerText))", timeout=120_000)
