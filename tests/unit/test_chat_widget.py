"""The chat widget driven headless, the way a user would: set values, click, read what shows."""

import html

from widgets.chat import ChatView


def test_send_streams_an_answer_and_speed():
    view = ChatView(model="tiny-llama", max_new_tokens=16)
    view.message.value = "I can't sleep before exams. Any ideas?"
    view.send.click()
    c = view.job.wait(timeout=120)
    assert c.completion_tokens == 16 and c.text
    assert html.escape(c.text) in view.answer.value
    assert "tok/s" in view.stats.value and not view.send.disabled and view.stop.disabled
    assert [m["role"] for m in view.history] == ["user", "assistant"] and view.message.value == ""


def test_empty_message_shows_error_and_starts_nothing():
    view = ChatView(model="tiny-llama")
    view.message.value = "   "
    view.send.click()
    assert view.job is None and "non-empty user message" in view.stats.value


def test_stop_button_cancels():
    view = ChatView(model="tiny-llama", max_new_tokens=512)
    view.message.value = "Tell me everything about grief."
    view.send.click()
    view.stop.click()
    c = view.job.wait(timeout=120)
    assert c.finish_reason == "cancelled" and c.completion_tokens < 512


def test_persona_picker_fills_system_prompt():
    view = ChatView(model="tiny-llama")
    view.preset.value = "baseline"
    assert view.system.value == view.prompts["baseline"].text
