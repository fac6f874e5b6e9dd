"""Layout as a person sees it in Chromium: the chat widget never scrolls sideways (wide or narrow window, long
unbroken text), and a report with a wide table stays as wide as its page, the table scrolling in its own box."""

import pytest

from tests.browser.conftest import open_and_run_all

pytestmark = pytest.mark.browser

# every element of the chat that scrolls sideways, and the output area holding it
OVERFLOW = """() => {
  const chat = document.querySelector('.wb-chat');
  const out = chat.closest('.jp-OutputArea-output');
  return [chat, out, ...chat.querySelectorAll('.jupyter-widget-box')]
    .filter(e => e.scrollWidth > e.clientWidth + 1)
    .map(e => `${e.className}: ${e.scrollWidth} > ${e.clientWidth}`);
}"""


def test_chat_has_no_horizontal_scrollbar(lab, page, tmp_path):
    base, _ = lab
    open_and_run_all(page, base, "00_quickstart.ipynb")
    page.wait_for_function("() => [...document.querySelectorAll('.wb-chat-stats')]"
                           ".some(e => e.innerText.includes('tok/s'))", timeout=240_000)  # the example cell's answer
    assert page.evaluate(OVERFLOW) == []
    page.locator(".wb-chat-message textarea").fill("see https://example.org/" + "a" * 400 + " please")
    page.locator("button.wb-chat-send").click()
    page.wait_for_function("() => document.querySelector('.wb-chat-message textarea').value === ''"
                           " && document.querySelector('.wb-chat-stats').innerText.includes('tok/s')",
                           timeout=120_000)
    page.screenshot(path=str(tmp_path / "wide.png"), full_page=True)
    assert page.evaluate(OVERFLOW) == []
    page.set_viewport_size({"width": 760, "height": 1000})  # rows of controls wrap instead of overflowing
    page.wait_for_timeout(500)
    page.screenshot(path=str(tmp_path / "narrow.png"), full_page=True)
    assert page.evaluate(OVERFLOW) == []


def test_report_page_stays_within_its_width(page, tmp_path):
    import pandas as pd

    from workbench.report import Report, dimension_bars

    summary = {"configs": {c: {"tbars_mean": 3.2, "dimensions": {f"dimension {i}": 2 + i / 7 for i in range(8)},
                               "latency_ms": 366443.92} for c in ("base", "rag")}}
    wide = pd.DataFrame([{f"a_rather_long_column_name_{i}": 1234.5678 * i for i in range(30)}] * 3)
    path = (Report("Layout").exchange("q", "x" * 3000, "meta").table(wide).figure(dimension_bars(summary))
            .write(tmp_path / "report.html"))
    page.set_viewport_size({"width": 1280, "height": 900})
    page.goto(path.as_uri())
    page.screenshot(path=str(tmp_path / "report.png"), full_page=True)
    sizes = page.evaluate("""() => {
        const box = document.querySelector('.wb-scroll');
        return {page: document.documentElement.scrollWidth, view: window.innerWidth, box: box.clientWidth,
                table: box.scrollWidth};
    }""")
    assert sizes["page"] <= sizes["view"], sizes
    assert sizes["table"] > sizes["box"] and sizes["box"] <= 980, sizes  # the table scrolls inside its own box
