"""Export view: pick a model and variants, export to ONNX, then see parity and speed beside PyTorch."""

from __future__ import annotations

import html

import ipywidgets as W

from widgets.common import JobPanel, JobView, button, model_picker
from widgets.figures import FigureView
from workbench.jobs import Job

__all__ = ["ExportView", "parity_table_html"]


def _verdict(r: dict) -> str:
    """Each check as measured value against its limit, the broken ones in red, so a failure says by how much."""
    from workbench.parity import check_text, parity_checks

    checks = "".join(f"<div style='color:{'#27ab83' if c['passed'] else '#cf1124'}'>{'✓' if c['passed'] else '✗'} "
                     f"{html.escape(check_text(c))}</div>" for c in parity_checks(r))
    return f"<b>{'faithful' if r['passed'] else 'FAILS'}</b>{checks}"


def parity_table_html(reports: list[dict]) -> str:
    rows = "".join(
        f"<tr><td>{html.escape(r['variant'])}</td><td>{r['max_abs_logit_diff']:.3g}</td>"
        f"<td>{r['mean_abs_logit_diff']:.3g}</td><td>{r['greedy_agreement']:.2f}</td><td>{r['ppl']:.2f}</td>"
        f"<td>{r['ppl_delta_pct']:+.2f} %</td><td class='wb-parity-verdict'>{_verdict(r)}</td></tr>" for r in reports)
    return ("<table class='wb-parity'><tr><th>variant</th><th>max |Δlogit|</th><th>mean |Δlogit|</th>"
            "<th>greedy agreement</th><th>perplexity</th><th>Δ vs fp32</th><th>verdict: measured (limit)</th></tr>"
            + rows + "</table>")


class ExportView(JobView, W.VBox):
    def __init__(self, model: str | None = None, variants=("fp32", "int8", "int4"), max_new_tokens: int = 64):
        from workbench.models.onnx_export import VARIANTS

        self.model = model_picker(model)
        self.variants = {v: W.Checkbox(value=v in variants, description=v, indent=False) for v in VARIANTS}
        self.max_new_tokens = max_new_tokens
        self.start_button = button("Export", "primary", "wb-export-start", icon="play")
        self.panel = JobPanel(self.start_button, "wb-export", bar="Steps", progress="{message}{eta}")
        self.table = W.HTML()
        self.plot = W.VBox()
        self.result: dict | None = None
        self.start_button.on_click(lambda _: self.start())
        super().__init__([W.HBox([self.model, *self.variants.values()]), W.HBox(self.panel.controls),
                          self.status, self.table, self.plot])

    def start(self) -> Job:
        if not self.panel.busy:
            self.table.value, self.plot.children = "", []
        return self.panel.run(self._work, "export", "Starting the export…")

    def _work(self, job: Job):
        from workbench.parity import export_and_compare
        from workbench.report import speed_chart

        chosen = [v for v, box in self.variants.items() if box.value]
        if not chosen:
            self.panel.say("Tick at least one variant.", "warn")
            return None
        r = export_and_compare(self.model.value, chosen, max_new_tokens=self.max_new_tokens,
                               progress=lambda m: job.progress(message=m), steps=job.progress, cancel=job.cancelled)
        self.result = r
        if job.cancelled.is_set():
            self.panel.say("Stopped; finished variants are kept and reused next time.", "warn")
            return r
        self.table.value = parity_table_html(r["parity"])
        self.plot.children = [FigureView(speed_chart(r["speed"]))]
        self.panel.say(f"Done. Variants in {r['export'].root}", "ok")
        return r
