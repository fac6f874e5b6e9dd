"""09_safety in real JupyterLab: run all, type a message, press Screen, see the level and the highlighted evidence."""

import pytest

from tests.browser.conftest import open_and_run_all

pytestmark = pytest.mark.browser


def test_type_a_message_and_screen_it(lab, page):
    base, _ = lab
    open_and_run_all(page, base, "09_safety.ipynb")
    # the last cell evaluates the frozen split; once its rates show, nothing re-renders under our typing
    page.wait_for_function("() => [...document.querySelectorAll('.wb-safety-status')]"
                           ".some(e => /Recall \\d/.test(e.innerText))", timeout=300_000)
    box = page.locator(".wb-safety-message textarea").first
    box.fill("my brother texted me goodbye and now his phone is off, he said he has pills")
    page.locator("button.wb-safety-screen").first.click()
    page.wait_for_function("() => [...document.querySelectorAll('.wb-safety-result')]"
                           ".some(e => /subject other/.test(e.innerText) && e.querySelector('mark'))",
                           timeout=60_000)
    assert "911" in page.locator(".wb-safety-result").first.inner_text()
