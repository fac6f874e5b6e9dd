"""06_tbars_review in real JupyterLab: rate two responses by mouse and one by keyboard, see progress advance,
find them in the ratings file."""

import json

import pytest

from tests.browser.conftest import open_and_run_all

pytestmark = pytest.mark.browser

PROGRESS = "() => document.querySelector('.wb-review-progress').innerText"


def test_review_save_advances_progress(lab, page):
    base, _ = lab
    open_and_run_all(page, base, "06_tbars_review.ipynb")
    save = page.locator("button.wb-review-save").first
    save.wait_for()
    before = page.evaluate(PROGRESS)
    assert "Item 1 of 6" in before and "0 rated" in before, before
    level = page.locator(".wb-review-dim-empathy button", has_text="4").first
    level.hover()
    assert level.get_attribute("title").startswith("4: "), "the anchor should show on hover"
    level.click()
    page.locator(".wb-review-judgement-safe button", has_text="5").first.click()
    save.click()
    page.wait_for_function(f"() => ({PROGRESS})().includes('Item 2 of 6')", timeout=30_000)
    after = page.evaluate(PROGRESS)
    assert "1 rated" in after, after
    status = page.locator(".wb-review-status").first.inner_text()
    assert "Saved" in status, status
    # a second response, then both ratings are in the rater's file (the server shares our exports dir)
    page.locator(".wb-review-dim-empathy button", has_text="2").first.click()
    save.click()
    page.wait_for_function(f"() => ({PROGRESS})().includes('Item 3 of 6')", timeout=30_000)
    from workbench import ratings

    saved = [json.loads(line) for line in ratings.ratings_path("demo", "reviewer-1").read_text().splitlines()]
    assert [r["scores"]["empathy"] for r in saved[-2:]] == [4, 2]
    assert saved[-2]["judgements"]["safe"] == 5 and saved[-2]["item_id"] != saved[-1]["item_id"]
    # a third by keyboard only: click the card, rate the first two rows, Enter saves. JupyterLab's own
    # single-key commands ("3" makes a heading cell in command mode) must not fire meanwhile.
    cells = "() => [document.querySelectorAll('.jp-MarkdownCell').length, document.querySelectorAll('.jp-Cell').length]"
    before_cells = page.evaluate(cells)
    page.locator(".wb-review-query").first.click()
    for key in ("3", "5", "Enter"):
        page.keyboard.press(key)
    page.wait_for_function(f"() => ({PROGRESS})().includes('Item 4 of 6')", timeout=30_000)
    saved = [json.loads(line) for line in ratings.ratings_path("demo", "reviewer-1").read_text().splitlines()]
    first, second = ratings.dimensions()[:2]
    assert (saved[-1]["scores"][first], saved[-1]["scores"][second]) == (3, 5), saved[-1]
    assert page.evaluate(cells) == before_cells, "a shortcut leaked to JupyterLab"
    # the summary tab renders its tables from the saved ratings
    page.locator(".lm-TabBar-tab", has_text="Summary").first.click()
    page.locator("button.wb-review-summary-refresh").first.click()
    page.wait_for_function("() => !!document.querySelector('.wb-review-summary table.wb-review-means')",
                           timeout=60_000)
