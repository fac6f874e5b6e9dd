"""Fine-tune view: preview which tokens carry loss, set hyperparameters, train with a live loss curve and Stop.

A resumed run redraws its earlier steps from the checkpoint, so the curve is the whole run's.
"""

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
        from workbench.finetune.data import SYSTEMS

        defaults = TrainConfig()
        for k, v in overrides.items():
            setattr(defaults, k, v)
        self.model = model_picker(model, "Base model")
        self.name = W.Text(value=name, description="Adapter")
        self.data = W.Text(value=data, placeholder="(shipped dialogues) or a file/folder path", description="Data")
        self.system = W.Dropdown(options=[(f"{k}: {v}", k) for k, v in SYSTEMS.items()], value=defaults.system,
                                 description="System prompt", style=WIDE_LABEL, layout=W.Layout(width="640px"),
                                 tooltip="the system message each training dialogue gets; the shipped cotherapist "
                                 "adapter was trained under the agent's own prompt")
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
        # the ETA comes in the message, from train's pace in this leg (the Job's own would count resumed steps)
        self.panel = JobPanel(self.start_button, "wb-ft", bar="Steps", progress="step {done}/{total} · {message}")
        self.card = W.HTML()
        self.curve = self._figure()
        self.result = None
        self.preview_job: Job | None = None
        self._examples = None
        self.stop.on_click(lambda _: self._stopping())  # after the panel's own handler, which cancels
        self.preview_button.on_click(lambda _: self.show_preview())
        self.preview_index.observe(lambda _: self._show_example(), names="value")
        self.start_button.on_click(lambda _: self.start())
        form = W.VBox([hrow([self.model, self.name]), self.data, self.system,
                       hrow([self.steps, self.lr]), hrow([self.rank, self.layers]),
                       hrow([self.batch, self.eval_every, self.save_every]), self.resume])
        super().__init__([form, hrow([self.preview_button, self.preview_index]), self.preview,
                          hrow(self.panel.controls), self.status, self.curve, self.card])

    @staticmethod
    def _figure():
        import plotly.graph_objects as go

        # A FigureWidget, not a FigureView (widgets/figures.py): the loss curve grows a point at a time while training
        # runs, which only a live widget can show. Its late-arriving traces (issue #20) do no harm here: it opens empty
        # by design, and its points come while training runs, long after its front end has loaded.
        fig = go.FigureWidget(layout=dict(height=300, margin=dict(l=40, r=10, t=30, b=40), title="Loss",
                                          xaxis_title="step", yaxis_title="loss per assistant token"))
        fig.add_scatter(x=[], y=[], mode="lines+markers", name="train")
        fig.add_scatter(x=[], y=[], mode="lines+markers", name="eval (held out)")
        return fig

    def config(self):
        from workbench.finetune import TrainConfig

        return TrainConfig(name=self.name.value.strip(), model=self.model.value,
                           data=[self.data.value.strip()] if self.data.value.strip() else [], system=self.system.value,
                           steps=self.steps.value or None,  # 0 in the box = one pass over the data
                           lr=self.lr.value, rank=self.rank.value, layers=self.layers.value,
                           tokens_per_batch=self.batch.value, eval_every=self.eval_every.value,
                           save_every=self.save_every.value)

    # ---- preview -------------------------------------------------------------------------------
    def show_preview(self) -> Job:
        """Load the model's tokenizer and the dialogues in a background Job (tens of seconds for the default
        model), saying so at once; the button is off until it ends. ``preview_job.wait()`` waits for it."""
        if self.preview_job is not None and self.preview_job.running:
            return self.preview_job
        self.preview_button.disabled = True
        self.preview.value = status_html("loading the training dialogues…")
        self.preview_job = Job(lambda job: self._load_preview(), name="finetune-preview").start()
        return self.preview_job

    def _load_preview(self) -> None:
        from workbench.finetune import load_examples
        from workbench.models import registry

        try:
            _, tok = registry.load(registry.resolve(self.model.value))
            train, held, files = load_examples(tok, self.config())
        except Exception as exc:
            self.preview.value = status_html(error_text(exc), "error")
            return
        finally:
            self.preview_button.disabled = False
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
        if self.panel.busy:
            return self.job
        with self.curve.batch_update():
            for trace in self.curve.data:
                trace.x, trace.y = [], []
        self.card.value = ""
        return self.panel.run(self._work, "finetune", f"Loading {self.model.value}…").on_progress(self._still_stopping)

    def _stopping(self) -> None:
        """Stop lands between steps, which can take a while: say so now, and keep Stop off until the job ends."""
        if self.panel.busy:
            self.stop.disabled = True
            self.panel.say("stopping after the current step…", "warn")

    def _still_stopping(self, job: Job) -> None:
        """Runs after the panel's progress line, so a step that ends after Stop cannot overwrite the notice."""
        if job.running and job.cancelled.is_set():
            self.panel.say(f"step {job.done}/{job.total} · stopping after the current step…", "warn")

    def _plot(self, *records: dict) -> None:
        train, held = self.curve.data
        evals = [r for r in records if r.get("eval_loss") is not None]
        with self.curve.batch_update():
            train.x = tuple(train.x) + tuple(r["step"] for r in records)
            train.y = tuple(train.y) + tuple(r["train_loss"] for r in records)
            if evals:
                held.x = tuple(held.x) + tuple(r["step"] for r in evals)
                held.y = tuple(held.y) + tuple(r["eval_loss"] for r in evals)

    def _work(self, job: Job):
        from workbench.finetune import checkpoint_history, train

        if self.resume.value:  # the steps before the stop, from the checkpoint the resume starts from
            self._plot(*checkpoint_history(self.config().name))

        def progress(step, steps, rec):
            self._plot(rec)
            eta = f", about {duration(rec['eta_s'])} left" if rec.get("eta_s") is not None else ""
            job.progress(step, steps, f"loss {rec['train_loss']:.3f} · {rec['tok_s']:.0f} tok/s{eta}")

        r = train(self.config(), resume=self.resume.value, progress=progress, cancel=job.cancelled)
        self.result = r
        if r.status == "cancelled":
            self.panel.say(f"Stopped at step {r.step}/{r.steps}; checkpoint kept. Tick 'Resume' and Start to continue.",
                           "warn")
            return r
        self.panel.say(f"Done. Adapter saved in {r.adapter_dir}", "ok")
        legs = f" in {r.legs} legs" if r.legs > 1 else ""  # resumed: the time of every leg, not the last one
        self.card.value = scroll_box(
            "<table class='wb-ft-card'>"
            f"<tr><th>adapter</th><td>{html.escape(r.name)}</td></tr>"
            f"<tr><th>steps</th><td>{r.step}</td></tr>"
            f"<tr><th>train loss (last 10)</th><td>{number(r.train_loss)}</td></tr>"
            f"<tr><th>eval loss</th><td>{number(r.eval_loss)}</td></tr>"
            f"<tr><th>speed</th><td>{number(r.train_tok_s)} tokens/s</td></tr>"
            f"<tr><th>wall time</th><td>{duration(r.wall_s)}{legs}</td></tr>"
            f"<tr><th>saved in</th><td>{html.escape(r.adapter_dir)}</td></tr></table>")
        return r
