"""04_agent_traces in real JupyterLab: run all, expand a span in the tree, see its details."""

import pytest

from tests.browser.conftest import open_and_run_all

pytestmark = pytest.mark.browser


def test_expand_a_span(lab, page):
    base, _ = lab
    open_and_run_all(page, base, "04_agent_traces.ipynb")
    # the last cell replays a step; once its result shows, no cell will re-render the tree under our clicks
    page.wait_for_function("() => [...document.querySelectorAll('.wb-trace-replayed')]"
                           ".some(e => e.innerText.includes('tok/s'))", timeout=240_000)
    root = page.locator(".wb-trace-tree details.wb-span > summary").first  # document order: the root first
    root.wait_for()
    root.click()  # the root span "agent" opens to show its steps
    draft = page.locator(".wb-trace-tree details.wb-span > summary", has_text="draft").first
    draft.wait_for()
    body = page.locator("xpath=//details[contains(@class,'wb-span')][summary[contains(., 'draft')]]"
                        "/div[@class='wb-span-body']").first
    assert not body.is_visible()
    draft.click()
    body.wait_for(state="visible")
    assert "completion_tokens" in body.inner_text()
