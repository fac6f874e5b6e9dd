"""06_tbars_review's validity panel in real JupyterLab: the cross-validated confusion matrices render, and a file
typed into the panel is validated by a click."""

import json

import pytest

from tests.browser.conftest import open_and_run_all

pytestmark = pytest.mark.browser


def test_validate_a_file_in_the_panel(lab, page, tmp_path):
    base, _ = lab
    path = tmp_path / "coded.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in [
        {"context": "I smoke when I'm bored.", "text": "What else could fill those moments?", "question": "open",
         "reflection": "none"},
        {"context": "I smoke when I'm bored.", "text": "Boredom is a trigger for you.", "question": "none",
         "reflection": "simple"}]))
    open_and_run_all(page, base, "06_tbars_review.ipynb")
    page.locator(".wb-validity-file input").first.fill(str(path))
    page.locator("button.wb-validity-run").first.click()
    page.wait_for_function("() => [...document.querySelectorAll('.wb-validity-status')]"
                           ".some(e => /Validated 2 pairs/.test(e.innerText))", timeout=120_000)
    report = page.locator(".wb-validity-report").first.inner_text()
    assert "question" in report and "kappa" in report
    page.locator(".jupyter-widget-Collapse-header", has_text="cross-validated").first.click()
    page.wait_for_function("() => document.querySelectorAll('.js-plotly-plot, .plotly').length > 0",
                           timeout=60_000)
