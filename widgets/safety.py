"""The crisis screen, interactively: type a message and see its level, subject, categories, the evidence
highlighted in the text and the escalation reply; evaluate a labelled file with a confusion view by category."""

from __future__ import annotations

import html

import ipywidgets as W

from widgets.common import WIDE_LABEL, JobPanel, JobView, button, error_text, full_width, status_html, with_class
from widgets.figures import FigureView
from workbench.jobs import Job

__all__ = ["SafetyView", "highlight"]

_LEVEL_COLOURS = {"none": "#27ab83", "concern": "#f0b429", "elevated": "#e66a00", "imminent": "#d64545"}


def highlight(text: str, evidence: list[dict]) -> str:
    """The message as HTML with each evidence span marked (overlapping spans merge); the rule on hover."""
    out, at = [], 0
    for e in sorted(evidence, key=lambda e: (e["start"], -e["end"])):
        start = max(e["start"], at)
        if start >= e["end"]:
            continue
        out += [html.escape(text[at:start]),
                f"<mark title='{html.escape(e['rule'])}'>{html.escape(text[start:e['end']])}</mark>"]
        at = e["end"]
    return "".join(out + [html.escape(text[at:])])


class SafetyView(JobView, W.VBox):
    """``SafetyView()`` in a notebook cell; ``.screen_btn.click()`` and ``.eval_btn.click()`` drive it from Python."""

    def __init__(self, file: str = "", locale: str | None = None):
        from workbench.corpora import load_safety_config

        locales = list(load_safety_config()["resources"]["locales"])
        self.message = with_class(W.Textarea(placeholder="Type a message, then Screen", description="Message",
                                             layout=full_width(height="70px")), "wb-safety-message")
        self.locale = W.Dropdown(options=locales, value=locale if locale in locales else locales[0],
                                 description="Locale")
        self.screen_btn = button("Screen", "primary", "wb-safety-screen", icon="shield")
        self.result = with_class(W.HTML(), "wb-safety-result")
        self.last = None
        self.file = with_class(W.Text(value=file, description="Labelled file", layout=full_width(), style=WIDE_LABEL,
                                      placeholder="a .jsonl with text, risk, subject[, category, level, lang]"),
                               "wb-safety-file")
        self.list_errors = W.Checkbox(value=False, description="List misses and false alarms (leave off for a "
                                                                   "frozen split)", indent=False)
        self.eval_btn = button("Evaluate", "info", "wb-safety-eval", icon="check")
        self.panel = JobPanel(self.eval_btn, "wb-safety", bar="Messages", progress="Screened {done}/{total}{eta}")
        self.report = with_class(W.HTML(), "wb-safety-report")
        self.confusion = W.VBox()
        self.evaluation = None
        self.screen_btn.on_click(lambda _: self.screen())
        self.eval_btn.on_click(lambda _: self.start())
        super().__init__([self.message, W.HBox([self.screen_btn, self.locale]), self.result,
                          W.HTML("<h4>Evaluate on a labelled file</h4>"), self.file, self.list_errors,
                          W.HBox(self.panel.controls), self.status, self.report, self.confusion])

    def screen(self):
        """Screen the message (synchronous: about 20 ms once the model is loaded)."""
        from workbench.safety import escalation, screen

        try:
            s = self.last = screen(self.message.value, locale=self.locale.value)
            reply = escalation(s, self.locale.value)
        except Exception as exc:
            self.result.value = status_html(error_text(exc), "error")
            return None
        badge = (f"<span style='background:{_LEVEL_COLOURS[s.level]};color:white;padding:2px 8px;"
                 f"border-radius:4px'>{s.level}</span>")
        who = f" · subject <b>{s.subject}</b> · {', '.join(s.categories)}" if s.risk else ""
        self.result.value = (
            f"<div>{badge}{who} · p(risk) {s.p_risk:.2f}</div>"
            f"<div style='white-space:pre-wrap;margin:6px 0'>{highlight(self.message.value, s.evidence)}</div>"
            + (f"<div style='border-left:4px solid #d64545;padding:4px 10px'>{html.escape(reply)}</div>"
               if reply else "<div><i>No escalation: the reply would be the model's own.</i></div>"))
        return s

    def start(self) -> Job | None:
        if self.panel.busy:
            return self.job
        if not self.file.value.strip():
            self.panel.say("Type the path of a labelled .jsonl file first (text, risk, subject per line).", "error")
            return None
        return self.panel.run(self._evaluate, "screen-eval", "Loading the screen…")

    def _evaluate(self, job: Job):
        from workbench.report import screen_confusion
        from workbench.screen_eval import evaluate_file, format_report

        ev = evaluate_file(self.file.value.strip(), locale=self.locale.value,
                           progress=lambda done, total: job.progress(done, total), cancel=job.cancelled)
        if ev is None:
            self.panel.say("Stopped: nothing was measured.", "warn")
            return None
        if not self.list_errors.value:
            ev.misses, ev.false_alarms = [], []
        self.evaluation = ev
        self.report.value = f"<pre style='white-space:pre-wrap'>{html.escape(format_report(ev))}</pre>"
        self.confusion.children = [FigureView(screen_confusion(ev))]
        self.panel.say(f"Recall {ev.recall['mean']:.3f}, precision {ev.precision['mean']:.3f} on {ev.n} messages "
                       f"({ev.ms_per_message} ms each)", "ok")
        return ev
