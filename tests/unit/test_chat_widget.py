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
    # cut by the limit: say so and what to change, not a bare "· length"
    assert c.finish_reason == "length" and "· length" not in view.stats.value
    assert "stopped at the token limit (16 tokens): raise max new tokens" in view.stats.value


def test_layout_never_scrolls_sideways():
    """Full-width boxes drop the 2 px side margins (width 100% plus margins overflowed the view, which then showed
    a permanent horizontal scrollbar); rows of controls wrap; buttons grow with their labels."""
    view = ChatView(model="tiny-llama")
    assert "wb-chat" in view._dom_classes
    for box in (view.system, view.message):
        assert box.layout.width == "100%" and box.layout.margin == "2px 0"
    rows = [c for c in view.children if c.__class__.__name__ == "HBox"]
    assert len(rows) == 2 and all(r.layout.flex_flow == "row wrap" for r in rows)
    assert view.clear.layout.width == "auto"


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


def test_a_risk_disclosure_gets_escalation_before_any_model_text():
    """The chat goes through the agent's screen and guard: resources first, then the model's words."""
    view = ChatView(model="tiny-llama", max_new_tokens=8)
    view.message.value = "my brother keeps saying everyone would be better off without him and he gave his bike away"
    view.send.click()
    c = view.job.wait(timeout=120)
    first = view.history[-1]["content"].split("\n\n")[0]
    assert "988" in first and c is not None and "escalation resources placed first" in view.stats.value


def test_imminent_risk_from_the_speaker_gets_the_fixed_follow_up():
    from workbench.safety import IMMINENT_FOLLOW_UP

    view = ChatView(model="tiny-llama", max_new_tokens=8)
    view.message.value = "I have everything ready and I'm ending it tonight, this is goodbye"
    view.send.click()
    assert view.job.wait(timeout=120) is None  # no model text: the guard's fixed follow-up
    assert view.history[-1]["content"].endswith(IMMINENT_FOLLOW_UP) and "911" in view.answer.value
