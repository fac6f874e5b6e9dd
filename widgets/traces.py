"""Trace inspector: span tree, timeline, retrieved chunks, safety decisions, draft→revision diff, replay."""

from __future__ import annotations

import html
from pathlib import Path

import ipywidgets as W

from widgets.common import JobPanel, JobView, button, status_html, with_class
from widgets.figures import FigureView

__all__ = ["TraceView"]


class TraceView(JobView, W.VBox):
    """``TraceView(traces)`` with a Trace, a list of them, or a JSONL file written by ``Trace.save``."""

    def __init__(self, traces):
        from workbench.trace import Trace

        if isinstance(traces, (str, Path)):
            traces = Trace.load_all(traces)
        self.traces = [traces] if isinstance(traces, Trace) else list(traces)
        self.pick = W.Dropdown(options=[(f"{i + 1}. {t.query[:70]}", i) for i, t in enumerate(self.traces)],
                               description="Trace", layout=W.Layout(width="90%"))
        self.answer = W.HTML()
        self.tree = with_class(W.HTML(), "wb-trace-tree")
        self.timeline = W.VBox()
        self.chunks = W.HTML()
        self.safety = W.HTML()
        self.diff = with_class(W.HTML(), "wb-trace-diff")
        self.edit = W.Textarea(description="Message", layout=W.Layout(width="95%", height="80px"))
        self.replay_btn = button("Replay through the agent", "info", "wb-trace-replay", icon="redo")
        self.replayed = with_class(W.HTML(), "wb-trace-replayed")
        self.panel = JobPanel(self.replay_btn, "wb-trace-replay", bar="Steps", progress="{message}{eta}")
        self.last_replay = None
        self.pick.observe(lambda _: self.show(), names="value")
        self.replay_btn.on_click(lambda _: self.replay())
        tabs = W.Tab(children=[self.tree, self.timeline, self.chunks, self.safety, self.diff,
                               W.VBox([self.edit, W.HBox(self.panel.controls), self.status, self.replayed])])
        for i, title in enumerate(["Spans", "Timeline", "Retrieved", "Safety", "Draft → revision", "Replay"]):
            tabs.set_title(i, title)
        super().__init__([self.pick, self.answer, tabs])
        self.show()

    @property
    def trace(self):
        return self.traces[self.pick.value]

    def show(self) -> None:
        from workbench.report import trace_timeline
        from workbench.trace_html import revision_html, span_tree_html

        t = self.trace
        self.answer.value = (f"<div style='white-space:pre-wrap;border-left:4px solid #27ab83;padding:4px 10px'>"
                             f"{html.escape(t.answer)}</div>")
        self.tree.value = span_tree_html(t)
        self.timeline.children = [FigureView(trace_timeline(t))]
        chunks = [c for s in t.spans if s.kind == "retriever" for c in s.attributes.get("chunks", [])]
        self.chunks.value = "".join(
            f"<div><b>[{html.escape(c['card'])}]</b> {html.escape(c['heading'])} · score {c['score']:.3f}"
            f"<div style='color:#52606d'>{html.escape(c['text'][:400])}…</div></div>" for c in chunks
        ) or "<i>No retrieval in this trace.</i>"
        guards = [s for s in t.spans if s.kind == "guardrail"]
        calm = ("no risk", "draft passed")
        self.safety.value = "".join(
            f"<div style='padding:4px;{'' if s.attributes.get('decision') in calm else 'background:#ffe3e3'}'>"
            f"<b>{s.name}</b>: {html.escape(s.attributes.get('decision', ''))}</div>" for s in guards
        ) or "<i>Safety screening was switched off.</i>"
        self.diff.value = revision_html(t)
        self.edit.value = t.query

    @staticmethod
    def _decisions(t) -> str:
        return " · ".join(f"{s.name}: {s.attributes.get('decision', '')}" for s in t.spans if s.kind == "guardrail")

    def replay(self):
        """Run the agent again on the edited message, in the background with a step-by-step progress bar and
        Stop: the same screen, retrieval and guard as the original. The new trace is kept in ``last_replay``;
        the Job is returned (``view.job.wait()`` waits for it)."""
        return self.panel.run(self._replay, "replay", "Starting the agent…")

    def _replay(self, job):
        from workbench.agent import replay

        self.replayed.value = ""
        t = replay(self.trace, self.edit.value, progress=job.progress, cancel=job.cancelled)
        if t is None:
            self.panel.say("Stopped: the replay did not finish.", "warn")
            return None
        self.last_replay = t
        tok = [s.attributes for s in t.spans if s.kind == "llm"]
        speed = f"{sum(a.get('completion_tokens', 0) for a in tok)} tokens · {tok[-1]['tokens_per_s']:.1f} tok/s · " \
            if tok else "no model call · "
        self.replayed.value = (f"<div style='white-space:pre-wrap'>{html.escape(t.answer)}</div>"
                               + status_html(speed + (self._decisions(t) or "screening off"), "ok"))
        self.panel.say(f"Replayed in {t.root.duration_ms / 1000:.1f} s.", "ok")
        return t
