"""`make classroom` in Chromium: the Voilà apps show widgets and prose but no code; a student edits a prompt, runs
it and sees the scores; in the review app a student picks a level and saves a draft.

The server is started from the exact command line ``make -n classroom`` prints, so the test covers the target's
flags (stripped sources, hidden tracebacks), not a copy of them.
"""

from __future__ import annotations

import json
import re
import shlex
import signal
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

from tests.browser.conftest import _free_port, chromium_page, isolated_env, require_browser

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]
EDIT = "Ask one open question about what the person feels."
# any sign of a notebook's code or of a failure, as Voilà would show it
CODE_SHOWN = """() => {
  const sel = '.jp-CodeCell .jp-InputArea, .jp-CodeCell .jp-InputPrompt, .cm-editor, .CodeMirror, .jp-Editor,'
            + ' [data-mime-type="application/vnd.jupyter.stderr"]';
  const found = [...document.querySelectorAll(sel)].filter(e => e.offsetParent !== null).map(e => e.className);
  const text = document.body.innerText;
  return found.concat(['import ', 'PromptLabView(', 'ReviewView(', 'Traceback'].filter(s => text.includes(s)));
}"""


def _voila_command(port: int) -> list[str]:
    """The voila command line of `make classroom`, as make itself expands it."""
    out = subprocess.run(["make", "-n", "-s", "classroom", f"CLASSROOM_PORT={port}"], cwd=ROOT, check=True,
                         capture_output=True, text=True).stdout.replace("\\\n", " ")
    lines = [shlex.split(line) for line in out.splitlines() if "/voila " in line]
    assert len(lines) == 1, f"expected one voila command in `make -n classroom`:\n{out}"
    return lines[0]


@pytest.fixture(scope="module")
def classroom(tmp_path_factory):
    """`make classroom`'s Voilà server on a free port, its own Jupyter dirs and exports; yields (base, exports)."""
    require_browser()
    home = tmp_path_factory.mktemp("voila")
    env = isolated_env(home, WORKBENCH_EXPORTS=str(home / "exports"))
    port = _free_port()
    cmd = _voila_command(port)
    assert "--strip_sources=True" in cmd and "--no-browser" in cmd, cmd
    log = open(home / "server.log", "w")
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(240):
            try:
                urllib.request.urlopen(base, timeout=2)
                break
            except OSError:
                if proc.poll() is not None:
                    pytest.fail(f"voila exited: {(home / 'server.log').read_text()[-2000:]}")
                time.sleep(0.5)
        else:
            pytest.fail("voila did not answer within 120 s")
        yield base, home / "exports"
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
        log.close()
        print(f"voila log: {home / 'server.log'}")


@pytest.fixture
def app(classroom, tmp_path):
    with chromium_page(tmp_path) as pg:
        yield pg


def _open(page, base: str, notebook: str, ready: str) -> None:
    """Open a Voilà app and wait until the kernel has run it and the widget ``ready`` is drawn (slow on a busy
    2-core machine: Voilà executes the whole notebook before the widgets appear)."""
    page.goto(f"{base}/voila/render/{notebook}", timeout=240_000)
    page.locator(ready).first.wait_for(timeout=240_000)


def test_tree_lists_both_apps(classroom, app):
    base, _ = classroom
    app.goto(base, timeout=120_000)
    app.get_by_text("prompt_lab.ipynb").first.wait_for(timeout=120_000)  # the listing is drawn by script
    text = app.locator("body").inner_text()
    assert "prompt_lab.ipynb" in text and "review.ipynb" in text, text


def test_student_edits_prompt_runs_it_and_sees_scores(classroom, app, tmp_path):
    base, exports = classroom
    _open(app, base, "prompt_lab.ipynb", "button.wb-lab-run")
    assert "What to do" in app.locator("body").inner_text(), "the student's instructions should show"
    assert app.evaluate(CODE_SHOWN) == []
    assert app.locator(".wb-lab-summary table").count() == 0, "no scores before a run"
    second = app.locator(".wb-lab-variant textarea").nth(1)
    second.fill(second.input_value() + "\n" + EDIT)
    app.locator("button.wb-lab-run").first.click()
    # the first click waits for the kernel; generating and scoring 2 variants x 2 queries takes a while when busy
    app.locator(".wb-lab-summary table").first.wait_for(timeout=300_000)
    # drawn by plotly's mime renderer (its JupyterLab extension, which Voilà loads) from the output's figure bundle,
    # with both variants' bars: not a FigureWidget, whose traces could arrive after a slow front end drew it (#20)
    app.wait_for_function("() => { const p = document.querySelector('.js-plotly-plot');"
                          " return p && p.data && p.data.length === 2 && p.data[0].y.length > 0"
                          " && p.matches('.widget-output .jp-RenderedPlotly'); }",
                          timeout=120_000)
    app.wait_for_function("() => document.querySelector('.wb-lab-status').innerText.includes('Done')",
                          timeout=120_000)
    app.locator(".wb-lab-summary").first.scroll_into_view_if_needed()  # Voilà scrolls its own box, not the page
    app.screenshot(path=str(tmp_path / "scores.png"))
    summary = app.locator(".wb-lab-summary table").first.inner_text()
    assert "baseline" in summary and "cotherapist" in summary and "mean" in summary, summary
    grid = app.locator(".wb-lab-grid table").first.inner_text()
    assert "q-002" in grid and "q-032" in grid, grid
    assert app.evaluate(CODE_SHOWN) == []
    saved = [json.loads(p.read_text()) for p in (exports / "prompt_lab").glob("*.json")]
    assert len(saved) == 1 and saved[0]["variants"]["cotherapist"].endswith(EDIT), "the run used the edited prompt"


def test_student_rates_an_answer_in_the_review_app(classroom, app):
    base, exports = classroom
    _open(app, base, "review.ipynb", "button.wb-review-save")
    assert app.evaluate(CODE_SHOWN) == []
    app.wait_for_function("() => document.querySelector('.wb-review-response').innerText.length > 40")
    shown = app.locator(".wb-review-card").first.inner_text()
    assert "Item 1 of 6" in shown and "Enter your rater name" in shown, shown
    assert not re.search(r"\bc-0\d|\bagent\b|\bbase\b", shown), "the review is blind: no item id or configuration"
    rater = app.locator(".wb-review-rater input").first
    rater.fill("student-a")
    rater.press("Enter")
    app.wait_for_function("() => document.querySelector('.wb-review-status').innerText.includes('Resuming')",
                          timeout=120_000)
    app.locator(".wb-review-dim-empathy button", has_text="4").first.click()
    app.wait_for_function("() => { const b = document.querySelector('.wb-review-dim-empathy .wb-level-selected');"
                          " return b && b.innerText === '4'; }", timeout=120_000)
    app.locator("button.wb-review-save").first.click()
    app.wait_for_function("() => document.querySelector('.wb-review-status').innerText.includes('draft')",
                          timeout=60_000)
    saved = [json.loads(line) for line in (exports / "ratings" / "classroom" / "student-a.jsonl").read_text()
             .splitlines()]
    assert [r["scores"]["empathy"] for r in saved] == [4], saved
