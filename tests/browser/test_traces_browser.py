"""04_agent_traces in real JupyterLab: run all; the span tree opens at the run's steps, prompts read as chat
messages, a span folds and unfolds, and the revision tab says what was decided."""

import pytest

from tests.browser.conftest import open_and_run_all

pytestmark = pytest.mark.browser

SPAN = "xpath=//div[contains(@class,'wb-trace-tree')]//details[contains(@class,'wb-span')][summary[contains(., '{}')]]"


def test_tree_opens_at_the_steps_and_reads_as_messages(lab, page, tmp_path):
    base, _ = lab
    open_and_run_all(page, base, "04_agent_traces.ipynb")
    # the last cell replays a step; once its result shows, no cell will re-render the tree under our clicks
    page.wait_for_function("() => [...document.querySelectorAll('.wb-trace-replayed')]"
                           ".some(e => e.innerText.includes('tok/s'))", timeout=240_000)
    root = page.locator(".wb-trace-tree details.wb-span").first  # document order: the root first
    root.wait_for()
    assert root.evaluate("e => e.open")  # not one collapsed row any more
    draft = page.locator(SPAN.format("draft")).first
    body = draft.locator("xpath=./div[@class='wb-span-body']")
    body.wait_for(state="visible")  # the root's children are open too
    assert "completion_tokens" in body.inner_text()
    system = draft.locator(".wb-msg-system")
    assert not system.is_visible()  # a long prompt starts folded
    draft.locator("details.wb-field > summary").first.click()
    system.wait_for(state="visible")
    text = system.inner_text()
    assert text.upper().startswith("SYSTEM") and "\\n" not in text and "\n" in text  # real line breaks
    page.screenshot(path=str(tmp_path / "tree.png"), full_page=True)
    draft.locator("xpath=./summary").click()  # a step folds on a click
    body.wait_for(state="hidden")
    page.locator(".lm-TabBar-tab, .p-TabBar-tab, .widget-tab > .p-TabBar .p-TabBar-tab",
                 has_text="Draft → revision").first.click()
    decision = page.locator(".wb-trace-diff .wb-revision-decision").first
    decision.wait_for(state="visible")
    assert "revision" in decision.inner_text() and ":" in decision.inner_text()  # the decision and its reason
