"""03_retrieval in real JupyterLab: run all, search by typing and Enter, then rebuild the index from the widget."""

import pytest

from tests.browser.conftest import open_and_run_all

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
    build = page.locator("button.wb-search-build").first
    assert "Rebuild" in build.inner_text()
    build.click()
    page.wait_for_function("() => [...document.querySelectorAll('.wb-search-status')]"
                           ".some(e => /Indexed \\d+ chunks .*reused/.test(e.innerText))", timeout=120_000)
