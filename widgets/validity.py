"""How far the learned behaviour coders agree with experts: the cross-validation on their training data, and
any expert-annotated file you load (EPITOME CSVs, MI JSONL or an AnnoMI-style CSV, T-BARS ratings), as
confusion matrices and calibration plots."""

from __future__ import annotations

import html

import ipywidgets as W

from widgets.common import WIDE_LABEL, JobPanel, JobView, button, hrow, with_class
from widgets.figures import FigureView
from workbench.jobs import Job

__all__ = ["ValidityView"]


def _figures(report: dict) -> list:
    from workbench.report import coder_calibration, coder_confusion

    heads = report.get("heads", {})
    if not heads:
        return []
    grid = [FigureView(coder_confusion(h, st)) for h, st in heads.items()]
    rows = [hrow(grid[i:i + 3]) for i in range(0, len(grid), 3)]  # wrap in a narrow notebook, never clipped
    if any(st.get("calibration") for st in heads.values()):
        rows.append(FigureView(coder_calibration(heads)))
    return rows


def _table(report: dict) -> str:
    from workbench.validity import format_report

    return f"<pre style='white-space:pre-wrap'>{html.escape(format_report(report))}</pre>"


class ValidityView(JobView, W.VBox):
    """``ValidityView()`` in a notebook cell; set ``.file`` and ``.fmt``, then ``.validate_btn.click()``."""

    def __init__(self, file: str = "", fmt: str = "mi"):
        from workbench.validity import shipped_cv

        cv = shipped_cv()
        self.cv = cv
        head = (f"<h4>Cross-validated on the training data ({cv['k']}-fold, {cv['n_pairs']} pairs)</h4>" if cv else
                "<h4>No cross-validation shipped</h4><p>Run <code>workbench coders --cv 4 --epitome DIR</code>.</p>")
        cv_view = W.VBox([W.HTML(head)] + ([W.HTML(_table(cv))] + _figures(cv) if cv else []))
        self.file = with_class(W.Text(value=file, description="Annotated file", style=WIDE_LABEL,
                                      layout=W.Layout(flex="1 1 24em"),  # fills the row; Format wraps when narrow
                                      placeholder="EPITOME folder or CSV, MI .jsonl/.csv, or T-BARS ratings .csv"),
                               "wb-validity-file")
        self.fmt = W.Dropdown(options=["epitome", "mi", "ratings"], value=fmt, description="Format")
        self.rates_only = W.Checkbox(value=False, description="Agreement only (a frozen split)", indent=False)
        self.validate_btn = button("Validate", "info", "wb-validity-run", icon="check")
        self.panel = JobPanel(self.validate_btn, "wb-validity", bar="Pairs", progress="Coded {done}/{total}{eta}")
        self.report = with_class(W.HTML(), "wb-validity-report")
        self.plots = W.VBox()
        self.result = None
        self.validate_btn.on_click(lambda _: self.start())
        super().__init__([W.Accordion([cv_view], titles=("Training data (cross-validated)",)),
                          W.HTML("<h4>Validate on your expert-annotated file</h4>"), hrow([self.file, self.fmt]),
                          self.rates_only, hrow(self.panel.controls), self.status, self.report, self.plots])

    def start(self) -> Job | None:
        if self.panel.busy:
            return self.job
        if not self.file.value.strip():
            self.panel.say("Type the path of an annotated file (or an EPITOME folder) first.", "error")
            return None
        return self.panel.run(self._validate, "validate", "Loading the coders…")

    def _validate(self, job: Job):
        from workbench.validity import validate

        rep = validate(self.file.value.strip(), self.fmt.value, rates_only=self.rates_only.value,
                       progress=lambda done, total: job.progress(done, total), cancel=job.cancelled)
        if rep is None:
            self.panel.say("Stopped: nothing was measured.", "warn")
            return None
        self.result = rep
        self.report.value = _table(rep)
        self.plots.children = _figures(rep)
        self.panel.say(f"Validated {rep['n_pairs']} pairs.", "ok")
        return rep
