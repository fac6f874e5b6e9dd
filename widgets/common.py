"""Pieces every view shares: status lines, error display, the model picker and the job panel.

A view's long work runs in a :class:`workbench.jobs.Job`; :class:`JobPanel` is the one place that
wires such a job to a start button, a Stop button, a progress bar and a status line, so each view
only says what to run and how to show its result.
"""

from __future__ import annotations

import html
from collections.abc import Callable
from contextlib import contextmanager
from typing import Any

import ipywidgets as W

from workbench import paths
from workbench.formatting import duration
from workbench.jobs import Job

__all__ = ["WIDE_LABEL", "JobPanel", "JobView", "button", "error_text", "full_width", "highlight_evidence",
           "hrow", "model_picker", "running", "status_html", "with_class"]

# A description over about ten characters is cut to fit ipywidgets' 80 px label ("Learning r…"): give such a
# control ``style=WIDE_LABEL`` and the label takes the width its text needs.
WIDE_LABEL = {"description_width": "initial"}


def full_width(**kw) -> W.Layout:
    """As wide as the enclosing box and no wider. Every widget has a 2 px side margin, so ``width: 100%`` alone
    overflows its box, and boxes scroll: a permanent horizontal scrollbar. This layout drops the side margins."""
    return W.Layout(width="100%", margin="2px 0", **kw)


def hrow(children, **kw) -> W.HBox:
    """Controls side by side that wrap onto the next line in a narrow notebook instead of scrolling sideways."""
    return W.HBox(list(children), layout=W.Layout(flex_flow="row wrap", **kw))


def status_html(text: str, kind: str = "info") -> str:
    color = {"info": "#486581", "ok": "#27ab83", "error": "#cf1124", "warn": "#cb6e17"}[kind]
    return f'<div style="color:{color};white-space:pre-wrap;overflow-wrap:anywhere">{html.escape(text)}</div>'


def error_text(exc: BaseException) -> str:
    """WorkbenchErrors already say what/where/fix; anything else is shown with its type."""
    from workbench.errors import WorkbenchError

    return str(exc) if isinstance(exc, WorkbenchError) else f"{type(exc).__name__}: {exc}"


def highlight_evidence(text: str, evidence: dict[str, list[str]]) -> str:
    """The answer as HTML with each T-BARS evidence span marked where it occurs ("open question (p 0.93):
    What…" marks "What…"); the dimension and the finding on hover. Overlapping spans keep the first."""
    marks = []
    for dim, lines in evidence.items():
        for line in lines:
            finding, sep, span = line.partition(": ")
            at = text.find(span.strip()) if sep and len(span.strip()) > 2 else -1
            if at >= 0:
                marks.append((at, at + len(span.strip()), f"{dim} · {finding}"))
    out, pos = [], 0
    for start, end, title in sorted(marks, key=lambda m: (m[0], -m[1])):
        if start < pos:
            continue
        out += [html.escape(text[pos:start]), f"<mark title='{html.escape(title, quote=True)}'>"
                f"{html.escape(text[start:end])}</mark>"]
        pos = end
    return "".join(out + [html.escape(text[pos:])])


def with_class(widget: W.Widget, *css: str) -> W.Widget:
    """``widget`` with CSS classes added: the browser tests and notebooks find controls by them."""
    for c in css:
        if c:
            widget.add_class(c)
    return widget


def button(description: str, style: str = "", css: str = "", **kw) -> W.Button:
    """A button at least the usual width that grows with its label, so "Rebuild index" is never cut short."""
    kw.setdefault("layout", W.Layout(width="auto", min_width="var(--jp-widgets-inline-width-short)"))
    return with_class(W.Button(description=description, button_style=style, **kw), css)


def model_picker(model: str | None = None, description: str = "Model") -> W.Dropdown:
    """The registry's models; ``model`` (default ``WORKBENCH_MODEL``) is chosen, and added if it is a path."""
    from workbench.models import list_models

    names = [s.name for s in list_models()]
    model = model or paths.default_model()
    names += [] if model in names else [model]
    return W.Dropdown(options=names, value=model, description=description)


@contextmanager
def running(status: W.HTML, start: W.Button, stop: W.Button):
    """Background work in a view: Start off and Stop on while it runs; a failure shows in ``status``."""
    start.disabled, stop.disabled = True, False
    try:
        yield
    except Exception as exc:
        status.value = status_html(error_text(exc), "error")
        raise
    finally:
        start.disabled, stop.disabled = False, True


class JobPanel:
    """A start button, a Stop button, an optional progress bar and a status line around one Job at a time.

    ``prefix`` names the CSS classes (``{prefix}-stop``, ``{prefix}-progress``, ``{prefix}-status``);
    ``bar`` is the progress bar's label (None: no bar); ``progress`` is the status line while the work
    reports, formatted with the job's ``done``, ``total``, ``message`` and ``eta`` (", about 3 min 5 s left").
    """

    def __init__(self, start: W.Button, prefix: str, bar: str | None = None, progress: str = "",
                 status_css: str | None = None):
        self.start, self.progress = start, progress
        self.stop = button("Stop", "warning", f"{prefix}-stop", icon="stop", disabled=True)
        self.bar = (with_class(W.IntProgress(value=0, min=0, max=1, description=bar), f"{prefix}-progress")
                    if bar else None)
        self.status = with_class(W.HTML(), status_css or f"{prefix}-status")
        self.job: Job | None = None
        self.stop.on_click(lambda _: self.cancel())

    @property
    def controls(self) -> list[W.Widget]:
        """Start, Stop and the bar, to lay out in one row."""
        return [w for w in (self.start, self.stop, self.bar) if w is not None]

    @property
    def busy(self) -> bool:
        return self.job is not None and self.job.running

    def say(self, text: str, kind: str = "info") -> None:
        self.status.value = status_html(text, kind)

    def run(self, fn: Callable[[Job], Any], name: str, message: str = "") -> Job:
        """Start ``fn(job)`` in the background unless a job is running (then return that one).

        While it runs Start is off and Stop on; an exception shows in the status line and is kept in
        ``job.error`` (``job.wait()`` raises it).
        """
        if self.busy:
            return self.job
        if self.bar is not None:
            self.bar.value = 0
        if message:
            self.say(message)
        self.start.disabled, self.stop.disabled = True, False
        self.job = Job(lambda job: self._guarded(fn, job), name=name).on_progress(self._on_progress).start()
        return self.job

    def cancel(self) -> None:
        if self.job is not None:
            self.job.cancel()

    def _guarded(self, fn: Callable[[Job], Any], job: Job):
        with running(self.status, self.start, self.stop):
            return fn(job)

    def _on_progress(self, job: Job) -> None:
        if self.bar is not None:
            self.bar.max, self.bar.value = max(job.total, 1), job.done
        if self.progress and job.running and job.total:
            eta = f", about {duration(job.eta_s)} left" if job.eta_s is not None else ""
            self.say(self.progress.format(done=job.done, total=job.total, message=job.message, eta=eta))


class JobView:
    """Mixin for a view holding its JobPanel in ``self.panel``: ``view.job``, ``.stop``, ``.bar``, ``.status``."""

    panel: JobPanel

    @property
    def job(self) -> Job | None:
        return self.panel.job

    @property
    def stop(self) -> W.Button:
        return self.panel.stop

    @property
    def bar(self) -> W.IntProgress | None:
        return self.panel.bar

    @property
    def status(self) -> W.HTML:
        return self.panel.status
