"""05_psychometrics in real JupyterLab: run all, click Run profile, see the radar drawn; then compare two
configurations in the widget and see the shift and the MTMM heatmaps."""

import pytest

from tests.browser.conftest import open_and_run_all

pytestmark = pytest.mark.browser


def test_profile_widget_draws_radar(lab, page):
    base, _ = lab
    open_and_run_all(page, base, "05_psychometrics.ipynb")
    run = page.locator("button.wb-profile-run")
    run.wait_for()
    run.click()
    page.wait_for_function(
        """() => [...document.querySelectorAll('.wb-profile-status')].some(e => e.innerText.includes('Done'))
               && document.querySelectorAll('.js-plotly-plot').length >= 3""",
        timeout=240_000,
    )
    radar_points = page.evaluate(
        "() => [...document.querySelectorAll('.js-plotly-plot')].map(p => p.data && p.data[0] && p.data[0].type)")
    assert "scatterpolar" in radar_points
    page.locator(".wb-profile-compare select").select_option(label="base vs prompted")
    run.click()
    page.wait_for_function(
        """() => document.querySelector('.wb-compare-table') !== null
               && [...document.querySelectorAll('.js-plotly-plot')].some(p => (p.layout && p.layout.title
                   && String(p.layout.title.text || '').startsWith('MTMM')))""",
        timeout=480_000,
    )
    assert "shift prompted − base" in page.locator(".wb-compare-table").inner_text()
