"""The trace inspector driven headless on real agent traces and on a 1,000-span trace."""

import pytest

from widgets.traces import TraceView
from workbench import retrieval
from workbench.agent import Agent, AgentConfig
from workbench.report import diff_html, span_tree_html
from workbench.trace import Tracer


@pytest.fixture(scope="module")
def traces():
    retrieval.build_index()
    agent = Agent("tiny-llama", config=AgentConfig(max_new_tokens=16))
    return [agent.run("My client keeps skipping homework. Ideas?"),
            agent.run("I'm going to kill myself tonight, I have the pills here.")]


def test_inspector_shows_every_part(traces, tmp_path):
    path = tmp_path / "t.jsonl"
    for t in traces:
        t.save(path, append=True)
    view = TraceView(path)
    assert len(view.pick.options) == 2
    assert view.tree.value.count("<details") == len(traces[0].spans)
    assert "[" in view.chunks.value and "screen_input" in view.safety.value
    assert len(view.timeline.children[0].data) >= 4  # one bar trace per span kind present
    view.pick.value = 1
    assert "background:#ffe3e3" in view.safety.value and "imminent" in view.safety.value


def test_replay_with_edited_input_runs_the_whole_loop(traces):
    view = TraceView(traces[0])
    assert view.edit.value == traces[0].query
    view.edit.value = "What is a thought record?"
    view.replay_btn.click()
    assert view.job.wait() is view.last_replay and view.bar.value == view.bar.max
    assert "tok/s" in view.replayed.value and "screen_input: no risk" in view.replayed.value
    assert view.last_replay.query == "What is a thought record?"
    assert view.last_replay.span("retrieve").outputs["cards"] != traces[0].span("retrieve").outputs["cards"]


def test_an_edited_risk_message_is_screened_and_escalated(traces):
    """Replay used to call the model directly: no screen, and the old question's cards."""
    view = TraceView(traces[0])
    view.edit.value = "I gave my dog to my sister and wrote letters to everyone. Tonight I'm done."
    view.replay_btn.click()
    t = view.job.wait()
    assert t.span("screen_input").outputs["risk"] and "escalation" in t.span("screen_output").attributes["decision"]
    assert "988" in t.answer.split("\n\n")[0] and "no model call" in view.replayed.value  # imminent: no drafting


def test_replay_can_be_stopped(traces):
    view = TraceView(traces[0])
    view.edit.value = "How do I explain exposure to an anxious teenager?"
    job = view.replay()
    job.on_progress(lambda j: j.message.startswith("writing draft") and view.stop.click())  # Stop mid-run
    job.wait()
    assert job.status == "cancelled" and view.last_replay is None and "Stopped" in view.status.value
    assert not view.replay_btn.disabled and view.stop.disabled


def test_diff_marks_changes():
    out = diff_html("ask one question", "ask one open question")
    assert "<ins style='background:#e3f9e5'>open</ins>" in out and "<del" not in out


def test_thousand_span_trace_renders():
    tracer = Tracer()
    with tracer.span("agent", "chain", {"query": "q"}) as root:
        for i in range(999):
            with tracer.span(f"step-{i}", "evaluator"):
                pass
        root.outputs["answer"] = "a"
    t = tracer.trace
    assert len(t.spans) == 1000
    assert span_tree_html(t).count("<details") == 1000
    view = TraceView(t)
    assert view.tree.value.count("<details") == 1000
