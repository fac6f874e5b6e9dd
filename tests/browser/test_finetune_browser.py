"""01_finetune in real JupyterLab: run all, then click Start on the widget and watch the loss curve grow."""

import pytest

from tests.browser.conftest import open_and_run_all

pytestmark = pytest.mark.browser


def test_start_updates_the_loss_curve(lab, page):
    base, _ = lab
    open_and_run_all(page, base, "01_finetune.ipynb")
    start = page.locator("button.wb-ft-start")
    start.wait_for()
    page.wait_for_function(
        """() => [...document.querySelectorAll('.wb-ft-status')].some(e => e.innerText.includes('Done'))""",
        timeout=240_000)  # the notebook's own drive cell finished
    points = """() => {
        const plots = [...document.querySelectorAll('.js-plotly-plot')].filter(p => p.layout && p.layout.title &&
            (p.layout.title.text || p.layout.title) === 'Loss');
        const p = plots[plots.length - 1];
        return p && p.data ? p.data[0].x.length : -1; }"""
    page.wait_for_function(f"({points})() > 0", timeout=60_000)
    start.click()
    page.wait_for_function(f"({points})() === 0", timeout=60_000)  # a fresh run clears the curve
    page.wait_for_function(f"({points})() >= 2", timeout=240_000)  # …and it grows while training
    page.wait_for_function(
        """() => [...document.querySelectorAll('.wb-ft-status')].some(e => e.innerText.includes('Done'))""",
        timeout=240_000)
