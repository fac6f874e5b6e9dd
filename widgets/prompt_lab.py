"""Prompt lab: 2-4 system-prompt variants side by side, run over chosen queries, a scored grid, save a variant."""

from __future__ import annotations

import html

import ipywidgets as W

from widgets.common import (
    WIDE_LABEL,
    JobPanel,
    JobView,
    button,
    error_text,
    full_width,
    highlight_evidence,
    hrow,
    model_picker,
    status_html,
    with_class,
)
from widgets.figures import FigureView
from workbench.formatting import number, scroll_box
from workbench.jobs import Job

__all__ = ["MAX_VARIANTS", "PromptLabView"]

MAX_VARIANTS = 4


class _Column(W.VBox):
    """One variant: a name, a library preset to start from, and the editable system prompt."""

    def __init__(self, prompts: dict, preset: str, on_preset):
        self.preset = W.Dropdown(options=[("(blank)", "")] + [(p, p) for p in prompts],
                                 value=preset if preset in prompts else "", description="Start from",
                                 layout=full_width())
        self.name = W.Text(value=preset or "variant", description="Name", layout=full_width())
        self.text = with_class(W.Textarea(value=prompts[preset].text if preset in prompts else "",
                                          layout=full_width(height="180px")), "wb-lab-variant")
        self.preset.observe(lambda ch: on_preset(self, ch["new"]), names="value")
        super().__init__([self.preset, self.name, self.text], layout=W.Layout(flex="1 1 0", min_width="220px"))


class PromptLabView(JobView, W.VBox):
    """``PromptLabView()`` in a notebook; ``.run.click()`` / ``.save.click()`` drive it from Python."""

    def __init__(self, model: str | None = None, queries=None, variants=("baseline", "cotherapist"),
                 max_new_tokens: int = 96):
        from workbench.corpora import DIMENSIONS, load_prompts, load_queries

        self.prompts = load_prompts()
        self.model = model_picker(model)
        self.max_new_tokens = W.IntSlider(value=max_new_tokens, min=8, max=384, step=8, description="Max tokens")
        self.columns_box = W.HBox(layout=full_width(flex_flow="row wrap"))
        self.columns: list[_Column] = []
        for v in list(variants)[:MAX_VARIANTS] or ["baseline", "cotherapist"]:
            self._add_column(v)
        self.add = button("Add variant", css="wb-lab-add", icon="plus")
        self.remove = button("Remove last", css="wb-lab-remove", icon="minus")
        self.add.on_click(lambda _: self._add_column(""))
        self.remove.on_click(lambda _: self._remove_column())

        self.shipped = {q.id: q for q in load_queries()}
        wanted = list(queries) if queries else list(self.shipped)[:2]
        chosen = [q if isinstance(q, str) else q.id for q in wanted]
        own = [q for q in chosen if q not in self.shipped]
        self.query_pick = W.SelectMultiple(
            options=[(f"{q.id} · {q.speaker} · {q.topic}{' · risk' if q.risk else ''}: {q.text[:70]}…", q.id)
                     for q in self.shipped.values()],
            value=[q for q in chosen if q in self.shipped], rows=6, description="Queries",
            layout=full_width())
        self.own_queries = W.Textarea(value="\n".join(own), placeholder="Your own messages, one per line",
                                      description="Own", layout=full_width(height="60px"))
        self.goal = W.Dropdown(options=[("(none)", "")] + [(d, d) for d in DIMENSIONS], value="",
                               description="Exercise goal", style=WIDE_LABEL)
        self.goal.observe(lambda _: self.grid is not None and self._show(self.grid), names="value")

        self.run = button("Run", "primary", "wb-lab-run", icon="play")
        self.panel = JobPanel(self.run, "wb-lab", bar="Cells",
                              progress="{done}/{total} responses generated and scored{eta}")
        self.table = with_class(W.HTML(), "wb-lab-grid")
        self.summary = with_class(W.HTML(), "wb-lab-summary")
        self.plot = W.VBox()

        self.save_which = W.Dropdown(description="Variant")
        self.save_name = W.Text(placeholder="new-prompt-id", description="Save as")
        self.save_note = W.Text(placeholder="what this variant tries", description="Note")
        self.save_author = W.Text(placeholder="optional", description="Author")
        self.save = button("Save variant", "success", "wb-lab-save", icon="save")
        self.save_status = W.HTML()
        self.save.on_click(lambda _: self.save_variant())
        self._refresh_save_choices()

        self.grid = None
        self.saved = None          # path of the last saved grid
        self.saved_prompt = None   # the last Prompt saved to the user library
        self.run.on_click(lambda _: self.start())
        super().__init__([
            hrow([self.model, self.max_new_tokens, self.goal]), self.columns_box, hrow([self.add, self.remove]),
            self.query_pick, self.own_queries, hrow(self.panel.controls), self.status,
            self.table, self.summary, self.plot,
            hrow([self.save_which, self.save_name]), hrow([self.save_note, self.save_author, self.save]),
            self.save_status])

    # ---- variant columns ----
    def _add_column(self, preset: str) -> None:
        if len(self.columns) >= MAX_VARIANTS:
            return
        col = _Column(self.prompts, preset, self._on_preset)
        if not preset:
            col.name.value = f"variant-{len(self.columns) + 1}"
        col.name.observe(lambda _: self._refresh_save_choices(), names="value")
        self.columns.append(col)
        self.columns_box.children = tuple(self.columns)
        self._refresh_save_choices()

    def _remove_column(self) -> None:
        if len(self.columns) > 2:
            self.columns.pop()
            self.columns_box.children = tuple(self.columns)
            self._refresh_save_choices()

    def _on_preset(self, col: _Column, preset: str) -> None:
        if preset in self.prompts and not getattr(self, "_quiet", False):
            col.text.value, col.name.value = self.prompts[preset].text, preset

    def _refresh_save_choices(self) -> None:
        """Keep the chosen column while it exists; otherwise choose the last one, the one a user adds and edits
        (a blank choice used to save the first column, the baseline, without saying so)."""
        if hasattr(self, "save_which"):
            keep = self.save_which.value
            self.save_which.options = [(c.name.value, i) for i, c in enumerate(self.columns)]
            self.save_which.value = keep if keep is not None and keep < len(self.columns) else len(self.columns) - 1

    def variants(self) -> dict[str, str]:
        """The columns as {name: system prompt}; repeated names get a suffix so no column is lost."""
        out: dict[str, str] = {}
        for i, c in enumerate(self.columns):
            name = c.name.value.strip() or f"variant-{i + 1}"
            out[name if name not in out else f"{name}-{i + 1}"] = c.text.value
        return out

    def queries(self) -> list[str]:
        own = [line.strip() for line in self.own_queries.value.splitlines() if line.strip()]
        return list(self.query_pick.value) + own

    # ---- running ----
    def start(self) -> Job:
        return self.panel.run(self._work, "prompt-lab", f"Loading {self.model.value}…")

    def _work(self, job: Job):
        from workbench.prompt_lab import run_grid, save_grid

        g = run_grid(self.variants(), self.queries(), model=self.model.value, max_new_tokens=self.max_new_tokens.value,
                     progress=lambda d, t: job.progress(d, t), cancel=job.cancelled)
        self.grid = g
        self._show(g)
        if job.cancelled.is_set() or not g.complete:
            self.panel.say(f"Stopped after {len(g.cells)} cell(s); grid not saved.", "warn")
            return g
        self.saved = save_grid(g)
        self.panel.say(f"Done. Saved {self.saved}", "ok")
        return g

    # ---- showing ----
    def _show(self, g) -> None:
        from workbench.prompt_lab import summary_figure

        if not g.cells:
            self.table.value = self.summary.value = ""
            self.plot.children = []
            return
        goal = self.goal.value
        head = "".join(f"<th title='{html.escape(q['text'], quote=True)}'>{html.escape(q['id'])}</th>"
                       for q in g.queries)
        rows = []
        for v in g.variants:
            tds = []
            for q in g.queries:
                c = next((c for c in g.cells if c.variant == v and c.query_id == q["id"]), None)
                if c is None:
                    tds.append("<td>—</td>")
                    continue
                dims = ", ".join(f"{d} {number(s)}" for d, s in c.scores.items())
                flags = (" ⚠ risk: escalation first" if c.risk_handled else "") + (
                    f" · replaced ({html.escape(c.replaced)})" if c.replaced else "")
                goal_s = f" · {goal} <b>{number(c.scores.get(goal))}</b>" if goal else ""
                tds.append(
                    f"<td style='vertical-align:top;max-width:320px'><details>"
                    f"<summary title='{html.escape(c.response, quote=True)}'><b>{number(c.mean)}</b>{goal_s} · "
                    f"{html.escape(c.response[:90])}{'…' if len(c.response) > 90 else ''}</summary>"
                    f"<div style='white-space:pre-wrap;overflow-wrap:anywhere'>"
                    f"{highlight_evidence(c.response, c.evidence)}</div>"
                    f"<div style='color:#486581'>{html.escape(dims)}{flags}</div></details></td>")
            rows.append(f"<tr><th>{html.escape(v)}</th>{''.join(tds)}</tr>")
        self.table.value = scroll_box(f"<table class='wb-lab-table'><tr><th>variant \\ query</th>{head}</tr>"
                                      f"{''.join(rows)}</table>")
        s = g.summary()
        first = s.index[0]
        cols = [*g.dimensions, "mean"]

        def cell(v, d):
            val = number(s.loc[v, d])
            if d == goal and v != first:
                moved = g.delta(first, v)[d]
                color = "#27ab83" if moved > 0 else "#cf1124" if moved < 0 else "#486581"
                return (f"<td style='background:#fff7e0'>{val} <b style='color:{color}'>{number(moved, signed=True)}"
                        "</b></td>")
            return f"<td style='background:#fff7e0'>{val}</td>" if d == goal else f"<td>{val}</td>"

        heads = "".join(f"<th>{html.escape(d)}{' ★' if d == goal else ''}</th>" for d in cols)
        body = "".join(f"<tr><th>{html.escape(v)}</th>{''.join(cell(v, d) for d in cols)}<td>{s.loc[v, 'n']}</td></tr>"
                       for v in s.index)
        note = (f"<div>★ goal: {html.escape(goal)}; change shown against the first variant "
                f"({html.escape(first)}).</div>" if goal else "")
        self.summary.value = scroll_box(f"<table class='wb-lab-summary-table'><tr><th>variant</th>{heads}<th>n</th>"
                                        f"</tr>{body}</table>") + note
        self.plot.children = [FigureView(summary_figure(g, goal or None))]

    # ---- saving ----
    def save_variant(self):
        from workbench.errors import WorkbenchError
        from workbench.prompt_lab import save_prompt

        try:
            col = self.columns[self.save_which.value]
            p = save_prompt(self.save_name.value, col.text.value, self.save_note.value, self.save_author.value)
        except (WorkbenchError, OSError) as exc:
            self.save_status.value = status_html(error_text(exc), "error")
            return None
        self.saved_prompt = p
        from workbench.corpora import load_prompts

        self.prompts = load_prompts()
        self._quiet = True  # refreshing the choices must not overwrite text being edited
        try:
            for c in self.columns:
                keep = c.preset.value
                c.preset.options = [("(blank)", "")] + [(k, k) for k in self.prompts]
                c.preset.value = keep if keep in self.prompts else ""
        finally:
            self._quiet = False
        self.save_status.value = status_html(f"Saved {p.id!r} to your prompt library.", "ok")
        return p
