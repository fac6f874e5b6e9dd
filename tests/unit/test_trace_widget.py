"""The trace inspector driven headless on real agent traces and on a 1,000-span trace."""

import html
import re

import pytest

from widgets.traces import TraceView
from workbench import retrieval
from workbench.agent import Agent, AgentConfig
from workbench.report import diff_html, span_tree_html
from workbench.trace import Tracer


@pytest.fixture(scope="module")
def traces():
    retrieval.build_index()
    agent = Agent("tiny-llama", config=AgentConfig(max_new_tokens=16, revise=True))
    return [agent.run("My client keeps skipping homework. Ideas?"),
            agent.run("I'm going to kill myself tonight, I have the pills here.")]


def test_inspector_shows_every_part(traces, tmp_path):
    path = tmp_path / "t.jsonl"
    for t in traces:
        t.save(path, append=True)
    view = TraceView(path)
    assert len(view.pick.options) == 2
    assert view.tree.value.count("<details class='wb-span'") == len(traces[0].spans)
    assert "[" in view.chunks.value and "screen_input" in view.safety.value
    assert len(view.timeline.children[0].figure.data) >= 4  # one bar trace per span kind present
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
    assert view.tree.value.count("<details") == 1000 and view.tree.value.count(" open>") == 1000  # root + children


def _opened(tree: str) -> dict[int, set[bool]]:
    """Depth -> whether the spans at that depth start open."""
    out: dict[int, set[bool]] = {}
    for depth, rest in re.findall(r"<details class='wb-span'[^>]*data-depth='(\d+)'([^>]*)>", tree):
        out.setdefault(int(depth), set()).add(rest.endswith(" open"))
    return out


def test_tree_opens_the_root_and_its_steps_with_messages_as_text(traces):
    """Issue #20: the tree opened as one collapsed row, and prompts showed as JSON full of \\n escapes."""
    view = TraceView(traces)
    view.pick.value = 0
    tree = view.tree.value
    assert _opened(tree) == {0: {True}, 1: {True}}  # every step of the run is visible at once
    assert "\\n" not in tree and "&quot;role&quot;" not in tree  # no JSON dump left
    assert "class='wb-msg wb-msg-system'" in tree and "class='wb-msg wb-msg-user'" in tree
    system = traces[0].span("draft").inputs["messages"][0]["content"]
    assert "\n" in system and html.escape(system.split("\n\n")[0]) in tree  # real line breaks, pre-wrap
    assert "<details class='wb-field'><summary><b>inputs</b> · 2 messages" in tree  # a long prompt starts folded
    assert "<b>completion_tokens</b>" in tree


def test_values_are_escaped_and_deep_spans_folded():
    tracer = Tracer()
    with tracer.span("agent", "chain", {"query": "q"}) as root:
        with tracer.span("step", "chain"):
            message = {"role": "user", "content": "<script>x</script>\nline 2"}
            with tracer.span("call", "llm", {"messages": [message]}) as s:
                s.outputs["text"] = "a & b"
                s.attributes.update(score=0.123456, chunks=[{"card": "c1", "text": "one\ntwo"}])
        root.outputs["answer"] = "a"
    view = TraceView(tracer.trace)
    tree = view.tree.value
    assert _opened(tree) == {0: {True}, 1: {True}, 2: {False}}
    assert "<script>" not in tree and "&lt;script&gt;x&lt;/script&gt;\nline 2" in tree
    assert "a &amp; b" in tree and "<b>score</b> 0.123" in tree and "one\ntwo" in tree


def _revision_trace(decision: str, findings_after: list, reason: str | None = None):
    tracer = Tracer()
    with tracer.span("agent", "chain", {"query": "My client avoids homework."}) as root:
        with tracer.span("draft", "llm", {"messages": []}) as d:
            d.outputs["text"] = "Try homework."
        with tracer.span("critique", "evaluator", {"draft": "Try homework."}) as c:
            c.outputs["findings"] = [{"dimension": "exploration", "problem": "asks no open question"},
                                     {"dimension": "grounding", "problem": "cites none of the retrieved cards"}]
        with tracer.span("revise", "llm", {"messages": []}) as r:
            r.outputs["text"] = "Try homework. What gets in the way?"
            r.attributes.update(decision=decision, findings_after=findings_after)
            if reason:
                r.attributes["reason"] = reason
        root.outputs["answer"] = "Try homework."
    return tracer.trace


def test_diff_tab_says_a_revision_was_rejected_and_why():
    """Issue #20: the tab showed a diff of a revision that was thrown away, without saying so."""
    same = [{"dimension": "exploration", "problem": "asks no open question"},
            {"dimension": "grounding", "problem": "cites cards that were not retrieved"}]
    view = TraceView(_revision_trace("revision rejected, draft kept", same))  # an older trace: no reason saved
    diff = view.diff.value
    assert "<b>revision rejected, draft kept</b>: the same checks find 2 problems in the revision against 2 " \
           "problems in the draft, no fewer" in diff and "background:#ffe3e3" in diff
    assert "cites cards that were not retrieved" in diff and "<ins style='background:#e3f9e5'>What" in diff
    view = TraceView(_revision_trace("revision kept", [], reason="fewer problems"))
    assert "<b>revision kept</b>: fewer problems" in view.diff.value and "#e3f9e5;padding" in view.diff.value


def test_diff_tab_on_real_traces_shows_the_agents_reason(traces):
    view = TraceView(traces)
    revise = traces[0].span("revise")
    assert revise is not None and revise.attributes["reason"].startswith(("the same checks", "the revision repeats"))
    assert html.escape(revise.attributes["reason"]) in view.diff.value
    assert html.escape(revise.attributes["decision"]) in view.diff.value
    view.pick.value = 1  # imminent risk: no model call, nothing drafted
    assert "without a model call" in view.diff.value
