"""05_psychometrics in real JupyterLab: run all, click Run profile, see the radar drawn; then compare two
configurations in the widget and see the shift and the MTMM heatmaps."""

import pytest

from tests.browser.conftest import open_and_run_all

pytestmark = pytest.mark.browser

# A slow machine, made repeatable: plotly's FigureWidget front end is a 5 MB module that each figure compiles when it
# first shows; on a busy 2-core machine that took seconds, and the plots were shown before it was ready. This delays
# that module's start by 1.5 s (below anywidget's 2 s limit, which drops the widget's later messages altogether).
SLOW_PLOTLY_MODULE = """(() => {
  const Native = window.Blob;
  window.Blob = class extends Native {
    constructor(parts, options) {
      if (options && options.type === 'text/javascript' && parts && parts.length === 1
          && typeof parts[0] === 'string' && parts[0].includes('FigureModel')) {
        parts = ['await new Promise(r => setTimeout(r, 1500));\\n' + parts[0]];
      }
      super(parts, options);
    }
  };
})();"""

DRAWN = """() => [...document.querySelectorAll('.wb-profile-plots .js-plotly-plot')].map(
    p => ({title: String((p.layout && p.layout.title && p.layout.title.text) || ''),
           traces: (p.data || []).length, paths: p.querySelectorAll('g.trace path').length}))"""


def _run_cell(page, text: str) -> None:
    page.locator(".jp-CodeCell", has_text=text).first.locator(".jp-InputArea-editor").click()
    page.keyboard.press("Shift+Enter")


def test_first_run_draws_the_radar_and_reliability(lab, page):
    """Issue #20: on the first run the radar and reliability charts were empty axes (the kernel's figures had their
    traces, the browser's none); a second run was fine. Here the widget's first figures in a fresh browser."""
    base, _ = lab
    page.add_init_script(SLOW_PLOTLY_MODULE)
    page.goto(f"{base}/lab/tree/05_psychometrics.ipynb?reset")
    page.locator("text=/Python 3 \\(ipykernel\\) \\| Idle/").first.wait_for(timeout=120_000)
    _run_cell(page, "TINY = MODEL")
    _run_cell(page, "view = ProfileView(")
    run = page.locator("button.wb-profile-run")
    run.wait_for()
    run.click()  # the user's path: a click in the browser, the kernel idle
    page.wait_for_function(
        """() => [...document.querySelectorAll('.wb-profile-status')].some(e => e.innerText.includes('Done'))
               && document.querySelectorAll('.wb-profile-plots .js-plotly-plot').length >= 3""",
        timeout=240_000,
    )
    page.wait_for_timeout(3000)  # past the slow module: whatever is not drawn by now stays empty
    radar, reliability, heatmap = page.evaluate(DRAWN)[:3]
    assert radar["title"].startswith("Trait profile") and radar["traces"] >= 4 and radar["paths"] > 0, radar
    assert reliability["title"] == "Reliability per trait" and reliability["paths"] > 0, reliability
    assert heatmap["traces"] == 1, heatmap


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
