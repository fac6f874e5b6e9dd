"""06_tbars_review in real JupyterLab: rate responses by mouse and by keyboard, see the chosen level stand out,
a half-rated item kept as a draft, a typed comment survive Back/Skip, and the ratings in the rater's file."""

import json

import pytest

from tests.browser.conftest import open_and_run_all

pytestmark = pytest.mark.browser

PROGRESS = "() => document.querySelector('.wb-review-progress').innerText"
STATUS = "() => document.querySelector('.wb-review-status').innerText"
# the chosen level against its unchosen neighbour, as the browser draws them
LOOK = """() => {
  const row = document.querySelector('.wb-review-dim-empathy');
  const chosen = row.querySelector('button.wb-level-selected');
  const other = [...row.querySelectorAll('button')].find(b => !b.classList.contains('wb-level-selected'));
  const s = (b) => getComputedStyle(b);
  return {text: chosen && chosen.innerText, n: row.querySelectorAll('button.wb-level-selected').length,
          weight: chosen && s(chosen).fontWeight, bg: chosen && s(chosen).backgroundColor,
          otherBg: s(other).backgroundColor, border: chosen && s(chosen).borderTopColor};
}"""


def _rate_every_dimension(page, level: str) -> None:
    rows = page.locator(".wb-review-dim")
    for i in range(rows.count()):
        rows.nth(i).locator("button", has_text=level).first.click()


def test_review_save_advances_progress(lab, page):
    base, _ = lab
    open_and_run_all(page, base, "06_tbars_review.ipynb")
    from workbench import ratings
    from workbench.corpora import load_rubric

    dims = ratings.dimensions()
    save = page.locator("button.wb-review-save").first
    save.wait_for()
    before = page.evaluate(PROGRESS)
    assert "Item 1 of 6" in before and "0 rated" in before, before
    level = page.locator(".wb-review-dim-empathy button", has_text="4").first
    level.hover()
    assert level.get_attribute("title").startswith("4: "), "the anchor should show on hover"
    level.click()
    # the first click waits for the kernel to finish the notebook's later cells (slow when the machine is busy:
    # a full CI run once took over 30 s here)
    page.wait_for_function(f"() => ({LOOK})().text === '4'", timeout=120_000)
    look = page.evaluate(LOOK)
    assert look["n"] == 1 and int(look["weight"]) >= 600, look
    assert look["bg"] != look["otherBg"], f"the chosen level should look different: {look}"
    # a half-rated item: Save keeps it as a draft, names what is left and does not count it
    page.locator(".wb-review-judgement-safe button", has_text="5").first.click()
    save.click()
    page.wait_for_function(f"() => ({STATUS})().includes('draft')", timeout=30_000)
    assert "Item 1 of 6" in page.evaluate(PROGRESS) and "0 rated" in page.evaluate(PROGRESS)
    status = page.evaluate(STATUS)
    names = [d.name for d in load_rubric().dimensions]
    assert "not counted" in status and names[1] in status and names[0] not in status, status
    _rate_every_dimension(page, "4")
    save.click()
    page.wait_for_function(f"() => ({PROGRESS})().includes('Item 2 of 6')", timeout=30_000)
    after = page.evaluate(PROGRESS)
    assert "1 rated" in after, after
    # a comment typed on the second response survives Back and Skip
    comment = page.locator(".wb-review-comment textarea").first
    comment.fill("second thoughts on the tone")
    page.locator("button.wb-review-back").first.click()
    page.wait_for_function(f"() => ({PROGRESS})().includes('Item 1 of 6')", timeout=30_000)
    page.locator("button.wb-review-skip").first.click()
    page.wait_for_function(f"() => ({PROGRESS})().includes('Item 2 of 6')", timeout=30_000)
    page.wait_for_function("() => document.querySelector('.wb-review-comment textarea').value"
                           " === 'second thoughts on the tone'", timeout=30_000)
    _rate_every_dimension(page, "2")
    save.click()
    page.wait_for_function(f"() => ({PROGRESS})().includes('Item 3 of 6')", timeout=30_000)
    # both complete ratings are in the rater's file (the server shares our exports dir), after the draft
    saved = [json.loads(line) for line in ratings.ratings_path("demo", "reviewer-1").read_text().splitlines()]
    assert [r["scores"]["empathy"] for r in saved[-2:]] == [4, 2]
    assert saved[-2]["judgements"]["safe"] == 5 and saved[-2]["item_id"] != saved[-1]["item_id"]
    assert saved[-1]["comment"] == "second thoughts on the tone" and saved[-3]["scores"][dims[1]] is None
    # a third by keyboard only: click the card, rate two rows, Enter keeps a draft; the rest, Enter saves.
    # JupyterLab's own single-key commands ("3" makes a heading cell in command mode) must not fire meanwhile.
    cells = "() => [document.querySelectorAll('.jp-MarkdownCell').length, document.querySelectorAll('.jp-Cell').length]"
    before_cells = page.evaluate(cells)
    page.locator(".wb-review-query").first.click()
    for key in ("3", "5", "Enter"):
        page.keyboard.press(key)
    page.wait_for_function(f"() => ({STATUS})().includes('draft')", timeout=30_000)
    assert "Item 3 of 6" in page.evaluate(PROGRESS)
    for key in ["4"] * (len(dims) - 2) + ["Enter"]:
        page.keyboard.press(key)
    page.wait_for_function(f"() => ({PROGRESS})().includes('Item 4 of 6')", timeout=30_000)
    saved = [json.loads(line) for line in ratings.ratings_path("demo", "reviewer-1").read_text().splitlines()]
    first, second = dims[:2]
    assert (saved[-1]["scores"][first], saved[-1]["scores"][second]) == (3, 5), saved[-1]
    assert None not in saved[-1]["scores"].values(), saved[-1]
    assert page.evaluate(cells) == before_cells, "a shortcut leaked to JupyterLab"
    # the summary tab renders its tables from the saved ratings
    page.locator(".lm-TabBar-tab", has_text="Summary").first.click()
    page.locator("button.wb-review-summary-refresh").first.click()
    page.wait_for_function("() => !!document.querySelector('.wb-review-summary table.wb-review-means')",
                           timeout=60_000)
