"""00_quickstart in real JupyterLab: run all, type a message, click Send, see an answer."""

import pytest

from tests.browser.conftest import open_and_run_all

pytestmark = pytest.mark.browser


def test_quickstart_chat_in_jupyterlab(lab, page, tmp_path):
    base, _ = lab
    open_and_run_all(page, base, "00_quickstart.ipynb")
    errors = page.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']", has_text="Error")
    assert errors.count() == 0, errors.first.inner_text()
    send = page.locator("button.wb-chat-send")
    send.wait_for()
    page.screenshot(path=str(tmp_path / "after-run-all.png"), full_page=True)
    box = page.locator(".wb-chat-message textarea")
    box.fill("Wie geht es? I keep waking at 4am and can't get back to sleep.")
    send.click()
    page.wait_for_function(
        """() => {
          const t = document.querySelector('.wb-chat-message textarea');
          const s = document.querySelector('.wb-chat-stats');
          return t && t.value === '' && s && s.innerText.includes('tok/s');
        }""",
        timeout=120_000,
    )
    answer = page.locator(".wb-chat-answer").inner_text()
    assert answer.strip(), "no answer text appeared"
    assert "tok/s" in page.locator(".wb-chat-stats").inner_text()
