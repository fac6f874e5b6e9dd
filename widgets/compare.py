"""Baseline comparison: pick configurations and a query set, run them in the background, compare, drill down.

Thin over :func:`workbench.evaluate.evaluate` (and :func:`~workbench.evaluate.load_run` for a saved
run): a results table, the per-dimension bar chart, and per (query, configuration) the response,
its T-BARS scores with evidence, and its trace in a :class:`~widgets.traces.TraceView`.
"""

from __future__ import annotations

import html
from pathlib import Path

import ipywidgets as W

from widgets.common import (
    WIDE_LABEL,
    JobPanel,
    JobView,
    button,
    error_text,
    highlight_evidence,
    hrow,
    model_picker,
    with_class,
)
from widgets.figures import FigureView
from workbench.formatting import duration, frame_html, number, scroll_box, value
from workbench.jobs import Job

__all__ = ["CompareView"]


class CompareView(JobView, W.VBox):
    """``CompareView(queries=None, configs=("base", "cotherapist"), model=None, limit=None)``.

    ``queries``: a JSONL path, a list of queries (``corpora.Query`` or dicts), or None for the shipped
    set. ``out``: the run folder (default a new one under ``exports/evaluations/``).
    """

    def __init__(self, queries=None, configs=("base", "cotherapist"), model: str | None = None,
                 limit: int | None = None, *, max_new_tokens: int = 200, train_missing: bool = False,
                 out: str | Path | None = None):
        from workbench.evaluate import CONFIGS

        self.model = model_picker(model)
        self._query_list = None if queries is None or isinstance(queries, (str, Path)) else list(queries)
        self.queries = with_class(W.Text(
            value=str(queries) if isinstance(queries, (str, Path)) else "",
            placeholder=(f"{len(self._query_list)} queries given in Python" if self._query_list
                         else "shipped set (corpora/queries)"),
            description="Queries", layout=W.Layout(width="60%")), "wb-compare-queries")
        self.limit = with_class(W.BoundedIntText(value=limit or 0, min=0, max=100000, description="Limit (0 = all)",
                                                 style=WIDE_LABEL,
                                                 layout=W.Layout(width="180px")), "wb-compare-limit")
        self.tokens = W.BoundedIntText(value=max_new_tokens, min=1, max=4096, description="Max tokens",
                                       layout=W.Layout(width="180px"))
        self.train_missing = W.Checkbox(value=train_missing, description="train the adapter if missing")
        self.checks = {c: with_class(W.Checkbox(value=c in configs, description=c, indent=False,
                                                layout=W.Layout(width="120px")), f"wb-compare-config-{c}")
                       for c in CONFIGS}
        self.out = out
        self.run = button("Run comparison", "primary", "wb-compare-run", icon="play")
        self.panel = JobPanel(self.run, "wb-compare", bar="Answered",
                              progress="{done}/{total} answers generated and scored{eta}")
        self.saved_path = with_class(W.Text(placeholder="exports/evaluations/…", description="Saved run",
                                            layout=W.Layout(width="60%")), "wb-compare-saved-path")
        self.open_btn = button("Open saved run", "", "wb-compare-open", icon="folder-open")
        self.table = with_class(W.HTML(), "wb-compare-table")
        self.chart = with_class(W.VBox(), "wb-compare-chart")
        self.pick = with_class(W.Dropdown(description="Answer", layout=W.Layout(width="90%")), "wb-compare-pick")
        self.response = with_class(W.HTML(), "wb-compare-response")
        self.scores = with_class(W.HTML(), "wb-compare-scores")
        self.trace_btn = button("Open trace", "info", "wb-compare-open-trace", icon="sitemap", disabled=True)
        self.trace_box = with_class(W.VBox(), "wb-compare-trace")
        self.result = None  # the EvalRun shown
        self.trace_view = None
        self._traces: dict[str, object] | None = None
        self.run.on_click(lambda _: self.start())
        self.open_btn.on_click(lambda _: self.open_run())
        self.pick.observe(lambda _: self._show_row(), names="value")
        self.trace_btn.on_click(lambda _: self.open_trace())
        super().__init__([
            hrow([self.model, self.tokens, self.limit]), self.queries,
            hrow([W.Label("Configurations:")] + list(self.checks.values())), self.train_missing,
            hrow(self.panel.controls), self.status,
            hrow([self.saved_path, self.open_btn]),
            self.table, self.chart,
            self.pick, self.response, self.scores, self.trace_btn, self.trace_box])

    # ---- running ----
    @property
    def configs(self) -> list[str]:
        return [c for c, box in self.checks.items() if box.value]

    def _out_dir(self) -> Path:
        if self.out:
            return Path(self.out)
        from workbench.evaluate import new_run_dir

        return new_run_dir()

    def start(self) -> Job:
        return self.panel.run(self._work, "compare", f"Loading {self.model.value}…")

    def _work(self, job: Job):
        from workbench.evaluate import evaluate

        queries = self.queries.value.strip() or self._query_list
        r = evaluate(queries, self.configs, model=self.model.value, out=self._out_dir(),
                     progress=lambda d, t: job.progress(d, t), cancel=job.cancelled,
                     train_missing=self.train_missing.value, max_new_tokens=self.tokens.value,
                     limit=self.limit.value or None)
        self.show(r)
        if r.status == "cancelled":
            self.panel.say(f"Stopped after {r.done}/{r.total}; the partial run is saved in {r.out_dir} "
                           "(run evaluate with the same folder to resume).", "warn")
        else:
            self.panel.say(f"Done: {r.done}/{r.total} in {duration(r.wall_s)}. Saved {r.out_dir}", "ok")
        return r

    def open_run(self, path: str | Path | None = None):
        """Show a saved run folder (results.jsonl, summary.json, traces.jsonl) without generating anything."""
        from workbench.errors import WorkbenchError
        from workbench.evaluate import load_run

        path = Path(path or self.saved_path.value.strip())
        self.saved_path.value = str(path)
        try:
            if not (path / "results.jsonl").is_file():
                raise WorkbenchError(f"No saved evaluation in {path}.", where=str(path / "results.jsonl"),
                                     fix="pick a folder under exports/evaluations/ written by evaluate")
            r = load_run(path)
            if not r.summary.get("configs"):
                raise WorkbenchError(f"{path} has results but no summary.json.", where=str(path),
                                     fix="rescore it: workbench.evaluate.rescore(folder)")
        except (WorkbenchError, OSError, ValueError) as exc:
            self.panel.say(error_text(exc), "error")
            return None
        self.show(r)
        self.panel.say(f"Opened {path}: {len(r.rows)} answers ({r.status}).", "ok")
        return r

    # ---- showing ----
    def show(self, r) -> None:
        from workbench.report import dimension_bars
        from workbench.results import summary_frame

        self.result, self._traces, self.trace_view = r, None, None
        self.trace_box.children = []
        frame = summary_frame(r.summary)
        self.table.value = frame_html(frame, "wb-compare-summary") if not frame.empty else "<i>No answers yet.</i>"
        self.chart.children = [FigureView(dimension_bars(r.summary))]
        self.pick.options = [(f"{x.query_id} · {x.config} · T-BARS {number(x.tbars_mean)}"
                              + (" · risk" if x.risk else ""), i) for i, x in enumerate(r.rows)]
        self.pick.value = 0 if r.rows else None
        self._show_row()

    @property
    def row(self):
        if self.result is None or self.pick.value is None:
            return None
        return self.result.rows[self.pick.value]

    def _show_row(self) -> None:
        x = self.row
        self.trace_btn.disabled = x is None
        if x is None:
            self.response.value = self.scores.value = ""
            return
        self.response.value = (
            f"<div style='color:#52606d'><b>{html.escape(x.query_id)}</b> · {html.escape(x.config)} "
            f"({html.escape(value(x.model))}): {html.escape(x.query)}</div>"
            f"<div style='white-space:pre-wrap;overflow-wrap:anywhere;border-left:4px solid #2680c2;padding:4px 10px'>"
            f"{highlight_evidence(x.response, x.evidence)}</div>")
        evidence = x.evidence
        dims = "".join(
            f"<tr><td>{html.escape(d)}</td><td>{number(v)}</td>"
            f"<td>{'<br>'.join(html.escape(e) for e in evidence.get(d, [])) or '<i>none</i>'}</td></tr>"
            for d, v in x.tbars.items())
        extra = {"T-BARS mean": x.tbars_mean, "key points covered": x.keypoint_coverage,
                 "citation precision": x.citation_precision, "safety handled": x.safety_handled,
                 "latency ms": x.latency_ms, "tokens/s": x.tokens_per_s}
        hit = x.keypoints_hit
        self.scores.value = (
            scroll_box("<table class='wb-compare-dims'><tr><th>dimension</th><th>level</th><th>evidence</th></tr>"
                       f"{dims}</table>")
            + "<div>" + " · ".join(f"{k.removesuffix(' ms')}: {html.escape(value(v, k))}" for k, v in extra.items())
            + "</div>"
            + (f"<div>key points hit: {html.escape('; '.join(hit))}</div>" if hit else "")
            + (f"<div>citations: {html.escape(', '.join(x.citations))}</div>"
               if x.citations else ""))

    def open_trace(self):
        """Open the chosen answer's trace (from the run's traces.jsonl) in a TraceView below."""
        from widgets.traces import TraceView
        from workbench.errors import WorkbenchError
        from workbench.trace import Trace

        x = self.row
        if x is None:
            return None
        try:
            if self._traces is None:
                path = Path(self.result.out_dir) / "traces.jsonl"
                self._traces = {t.trace_id: t for t in Trace.load_all(path)} if path.is_file() else {}
            trace = self._traces.get(x.trace_id)
            if trace is None:
                raise LookupError(f"trace {x.trace_id} is not in {self.result.out_dir}/traces.jsonl")
            self.trace_view = TraceView(trace)
        except (WorkbenchError, OSError, LookupError) as exc:
            self.panel.say(error_text(exc), "error")
            return None
        self.trace_box.children = [self.trace_view]
        return self.trace_view
