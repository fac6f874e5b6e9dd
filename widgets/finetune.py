"""Fine-tune view: preview which tokens carry loss, set hyperparameters, train with a live loss curve and Stop."""

from __future__ import annotations

import html

import ipywidgets as W

from widgets.common import WIDE_LABEL, JobPanel, JobView, button, error_text, hrow, model_picker, status_html
from workbench.formatting import duration, number, scroll_box
from workbench.jobs import Job

__all__ = ["FinetuneView", "loss_mask_html"]


def loss_mask_html(tokenizer, example, limit: int = 600) -> str:
    """Tokens as chips: green ones are trained on (assistant turns), grey ones are context only."""
    from workbench.finetune import IGNORE

    chips = []
    for t, lab in list(zip(example.input_ids, example.labels, strict=True))[:limit]:
        text = html.escape(tokenizer.decode([t])).replace("\n", "↵<br>")
        style = "background:#c6f7e2" if lab != IGNORE else "color:#829ab1"
        chips.append(f'<span class="{"wb-loss" if lab != IGNORE else "wb-ctx"}" style="{style}">{text}</span>')
    more = f" … ({len(example.input_ids) - limit} more tokens)" if len(example.input_ids) > limit else ""
    return ('<div class="wb-mask" style="font-family:monospace;font-size:12px;line-height:1.6">'
            + "".join(chips) + more + "</div>")


class FinetuneView(JobView, W.VBox):
    def __init__(self, model: str | None = None, name: str = "cotherapist", data: str = "", **overrides):
        from workbench.finetune import TrainConfig

        defaults = TrainConfig()
        for k, v in overrides.items():
            setattr(defaults, k, v)
        self.model = model_picker(model, "Base model")
        self.name = W.Text(value=name, description="Adapter")
        self.data = W.Text(value=data, placeholder="(shipped dialogues) or a file/folder path", description="Data")
        self.steps = W.IntText(value=defaults.steps or 0, description="Steps", tooltip="0 = one pass over the data")
        self.lr = W.FloatLogSlider(value=defaults.lr, base=10, min=-5, max=-1, description="Learning rate",
                                  style=WIDE_LABEL)
        self.rank = W.Dropdown(options=[4, 8, 16, 32], value=defaults.rank, description="LoRA rank")
        self.layers = W.IntSlider(value=defaults.layers, min=0, max=32, description="Top layers",
                                  tooltip="adapt only the top N layers (0 = all); fewer layers train faster")
        self.batch = W.IntText(value=defaults.tokens_per_batch, description="Tokens/batch",
                                style=WIDE_LABEL)
        self.eval_every = W.IntText(value=defaults.eval_every, description="Eval every")
        self.save_every = W.IntText(value=defaults.save_every, description="Save every")
        self.resume = W.Checkbox(value=False, description="Resume last checkpoint")
        self.preview_index = W.IntSlider(value=0, min=0, max=0, description="Dialogue")
        self.preview = W.HTML()
        self.preview_button = button("Preview data", "", "wb-ft-preview", icon="eye")
        self.start_button = button("Start", "primary", "wb-ft-start", icon="play")
        self.panel = JobPanel(self.start_button, "wb-ft", bar="Steps", progress="step {done}/{total} · {message}{eta}")
        self.card = W.HTML()
        self.curve = self._figure()
        self.result = None
        self._examples = None
        self.preview_button.on_click(lambda _: self.show_preview())
        self.preview_index.observe(lambda _: self._show_example(), names="value")
        self.start_button.on_click(lambda _: self.start())
        form = W.VBox([hrow([self.model, self.name]), self.data,
                       hrow([self.steps, self.lr]), hrow([self.rank, self.layers]),
                       hrow([self.batch, self.eval_every, self.save_every]), self.resume])
        super().__init__([form, hrow([self.preview_button, self.preview_index]), self.preview,
                          hrow(self.panel.controls), self.status, self.curve, self.card])

    @staticmethod
    def _figure():
        import plotly.graph_objects as go

        fig = go.FigureWidget(layout=dict(height=300, margin=dict(l=40, r=10, t=30, b=40), title="Loss",
                                          xaxis_title="step", yaxis_title="loss per assistant token"))
        fig.add_scatter(x=[], y=[], mode="lines+markers", name="train")
        fig.add_scatter(x=[], y=[], mode="lines+markers", name="eval (held out)")
        return fig

    def config(self):
        from workbench.finetune import TrainConfig

        return TrainConfig(name=self.name.value.strip(), model=self.model.value,
                           data=[self.data.value.strip()] if self.data.value.strip() else [],
                           steps=self.steps.value or None,  # 0 in the box = one pass over the data
                           lr=self.lr.value, rank=self.rank.value, layers=self.layers.value,
                           tokens_per_batch=self.batch.value, eval_every=self.eval_every.value,
                           save_every=self.save_every.value)

    # ---- preview -------------------------------------------------------------------------------
    def show_preview(self) -> None:
        from workbench.finetune import load_examples
        from workbench.models import registry

        try:
            _, tok = registry.load(registry.resolve(self.model.value))
            train, held, files = load_examples(tok, self.config())
        except Exception as exc:
            self.preview.value = status_html(error_text(exc), "error")
            return
        self._tok, self._examples = tok, train
        self._summary = (f"{len(train)} training + {len(held)} held-out dialogues from "
                         f"{', '.join(f.name for f in files)}; {sum(len(e.input_ids) for e in train)} tokens, "
                         f"{sum(e.n_loss for e in train)} carry loss (green).")
        self.preview_index.max = len(train) - 1
        self._show_example()

    def _show_example(self) -> None:
        if self._examples:
            e = self._examples[self.preview_index.value]
            self.preview.value = (status_html(f"{self._summary}  Showing {e.id}.")
                                  + loss_mask_html(self._tok, e))

    # ---- training ------------------------------------------------------------------------------
    def start(self) -> Job:
        if not self.panel.busy:
            with self.curve.batch_update():
                for trace in self.curve.data:
                    trace.x, trace.y = [], []
            self.card.value = ""
        return self.panel.run(self._work, "finetune", f"Loading {self.model.value}…")

    def _plot(self, rec: dict) -> None:
        train, held = self.curve.data
        with self.curve.batch_update():
            train.x, train.y = tuple(train.x) + (rec["step"],), tuple(train.y) + (rec["train_loss"],)
            if rec.get("eval_loss") is not None:
                held.x, held.y = tuple(held.x) + (rec["step"],), tuple(held.y) + (rec["eval_loss"],)

    def _work(self, job: Job):
        from workbench.finetune import train

        def progress(step, steps, rec):
            self._plot(rec)
            job.progress(step, steps, f"loss {rec['train_loss']:.3f} · {rec['tok_s']:.0f} tok/s")

        r = train(self.config(), resume=self.resume.value, progress=progress, cancel=job.cancelled)
        self.result = r
        if r.status == "cancelled":
            self.panel.say(f"Stopped at step {r.step}/{r.steps}; checkpoint kept. Tick 'Resume' and Start to continue.",
                           "warn")
            return r
        self.panel.say(f"Done. Adapter saved in {r.adapter_dir}", "ok")
        self.card.value = scroll_box(
            "<table class='wb-ft-card'>"
            f"<tr><th>adapter</th><td>{html.escape(r.name)}</td></tr>"
            f"<tr><th>steps</th><td>{r.step}</td></tr>"
            f"<tr><th>train loss (last 10)</th><td>{number(r.train_loss)}</td></tr>"
            f"<tr><th>eval loss</th><td>{number(r.eval_loss)}</td></tr>"
            f"<tr><th>speed</th><td>{number(r.train_tok_s)} tokens/s</td></tr>"
            f"<tr><th>wall time</th><td>{duration(r.wall_s)}</td></tr>"
            f"<tr><th>saved in</th><td>{html.escape(r.adapter_dir)}</td></tr></table>")
        return r
