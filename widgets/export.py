"""Export view: pick a model and variants, export to ONNX, then see parity and speed beside PyTorch."""

from __future__ import annotations

import html

import ipywidgets as W

from widgets.common import button, running, status_html
from workbench import paths
from workbench.jobs import Job


def parity_table_html(reports: list[dict]) -> str:
    rows = "".join(
        f"<tr><td>{html.escape(r['variant'])}</td><td>{r['max_abs_logit_diff']:.3g}</td>"
        f"<td>{r['mean_abs_logit_diff']:.3g}</td><td>{r['greedy_agreement']:.2f}</td><td>{r['ppl']:.2f}</td>"
        f"<td>{r['ppl_delta_pct']:+.2f} %</td>"
        f"<td>{'faithful' if r['passed'] else 'FAILS: ' + html.escape(', '.join(f['metric'] for f in r['failures']))}"
        "</td></tr>" for r in reports)
    return ("<table class='wb-parity'><tr><th>variant</th><th>max |Δlogit|</th><th>mean |Δlogit|</th>"
            "<th>greedy agreement</th><th>perplexity</th><th>Δ vs fp32</th><th>verdict</th></tr>" + rows + "</table>")


class ExportView(W.VBox):
    def __init__(self, model: str | None = None, variants=("fp32", "int8", "int4"), max_new_tokens: int = 64):
        from workbench.export import VARIANTS
        from workbench.models import list_models

        names = [s.name for s in list_models()]
        model = model or paths.default_model()
        names += [] if model in names else [model]
        self.model = W.Dropdown(options=names, value=model, description="Model")
        self.variants = {v: W.Checkbox(value=v in variants, description=v, indent=False) for v in VARIANTS}
        self.max_new_tokens = max_new_tokens
        self.start_button = button("Export", "primary", "wb-export-start", icon="play")
        self.stop = button("Stop", "warning", "wb-export-stop", icon="stop", disabled=True)
        self.status = W.HTML()
        self.status.add_class("wb-export-status")
        self.table = W.HTML()
        self.plot = W.VBox()
        self.job: Job | None = None
        self.result: dict | None = None
        self.start_button.on_click(lambda _: self.start())
        self.stop.on_click(lambda _: self.job and self.job.cancel())
        super().__init__([W.HBox([self.model, *self.variants.values()]), W.HBox([self.start_button, self.stop]),
                          self.status, self.table, self.plot])

    def start(self) -> Job:
        if self.job is not None and self.job.running:
            return self.job
        self.table.value, self.plot.children = "", []
        self.start_button.disabled, self.stop.disabled = True, False
        self.job = Job(self._work, name="export").start()
        return self.job

    def _work(self, job: Job):
        import plotly.graph_objects as go

        from workbench.export import export_and_compare
        from workbench.report import speed_chart

        chosen = [v for v, box in self.variants.items() if box.value]
        with running(self.status, self.start_button, self.stop):
            if not chosen:
                self.status.value = status_html("Tick at least one variant.", "warn")
                return None
            r = export_and_compare(self.model.value, chosen, max_new_tokens=self.max_new_tokens,
                                   progress=lambda m: setattr(self.status, "value", status_html(m)),
                                   cancel=job.cancelled)
            self.result = r
            if job.cancelled.is_set():
                self.status.value = status_html("Stopped; finished variants are kept and reused next time.", "warn")
                return r
            self.table.value = parity_table_html(r["parity"])
            self.plot.children = [go.FigureWidget(speed_chart(r["speed"]))]
            self.status.value = status_html(f"Done. Variants in {r['export'].root}", "ok")
            return r
