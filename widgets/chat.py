"""Chat with a model: model picker, system prompt, message box, streamed answer, tokens/s."""

from __future__ import annotations

import html

import ipywidgets as W

from widgets.common import button, error_text, running, status_html
from workbench import paths
from workbench.jobs import Job


class ChatView(W.VBox):
    """``ChatView()`` in a notebook cell; ``.send.click()`` drives it from Python as a user would."""

    def __init__(self, model: str | None = None, prompt: str = "cotherapist", max_new_tokens: int = 192):
        from workbench.corpora import load_prompts
        from workbench.models import list_models

        self.prompts = load_prompts()
        names = [s.name for s in list_models()]
        model = model or paths.default_model()
        if model not in names:
            names.append(model)
        self.model = W.Dropdown(options=names, value=model, description="Model")
        self.preset = W.Dropdown(options=list(self.prompts), value=prompt if prompt in self.prompts else None,
                                 description="Persona")
        self.system = W.Textarea(value=self.prompts[prompt].text if prompt in self.prompts else "",
                                 description="System", layout=W.Layout(width="100%", height="90px"))
        self.message = W.Textarea(placeholder="Type a message, then Send", description="Message",
                                  layout=W.Layout(width="100%", height="70px"))
        self.message.add_class("wb-chat-message")
        self.max_new_tokens = W.IntSlider(value=max_new_tokens, min=16, max=512, step=16, description="Max tokens")
        self.send = button("Send", "primary", "wb-chat-send", icon="paper-plane")
        self.stop = button("Stop", "warning", "wb-chat-stop", icon="stop", disabled=True)
        self.clear = button("New conversation", css="wb-chat-clear")
        self.answer = W.HTML()
        self.answer.add_class("wb-chat-answer")
        self.stats = W.HTML()
        self.stats.add_class("wb-chat-stats")
        self.history: list[dict] = []
        self.job: Job | None = None
        self.last = None

        self.preset.observe(self._on_preset, names="value")
        self.send.on_click(lambda _: self.start())
        self.stop.on_click(lambda _: self.job and self.job.cancel())
        self.clear.on_click(lambda _: self.reset())
        super().__init__([
            W.HBox([self.model, self.preset]), self.system, self.message,
            W.HBox([self.send, self.stop, self.clear, self.max_new_tokens]), self.answer, self.stats,
        ])

    def _on_preset(self, change) -> None:
        if change["new"] in self.prompts:
            self.system.value = self.prompts[change["new"]].text

    def reset(self) -> None:
        self.history, self.answer.value, self.stats.value = [], "", ""

    def _show(self, text: str, messages: list[dict] | None = None) -> None:
        """The conversation so far (user turns grey, assistant turns green), ending with ``text``."""
        turns = [m for m in (messages or []) if m["role"] != "system"] + [{"role": "assistant", "content": text}]
        colors = {"user": "#9fb3c8", "assistant": "#27ab83"}
        self.answer.value = "".join(
            f'<div style="white-space:pre-wrap;line-height:1.4;border-left:4px solid {colors[m["role"]]};'
            f'padding:4px 10px;margin:4px 0">{html.escape(m["content"])}</div>' for m in turns)

    def start(self) -> Job | None:
        """Send the message; generation runs in a background Job so Stop stays clickable."""
        if self.job is not None and self.job.running:
            return self.job
        from workbench.models import check_messages

        messages = ([{"role": "system", "content": self.system.value}] if self.system.value.strip() else [])
        messages += self.history + [{"role": "user", "content": self.message.value}]
        try:
            messages = check_messages(messages)
        except Exception as exc:
            self.stats.value = status_html(error_text(exc), "error")
            return None
        self.send.disabled, self.stop.disabled = True, False
        self.stats.value = status_html(f"Loading {self.model.value} and generating…")
        self.job = Job(lambda job: self._generate(job, messages), name="chat").start()
        return self.job

    def _generate(self, job: Job, messages: list[dict]):
        from workbench.models import get_generator

        with running(self.stats, self.send, self.stop):
            gen = get_generator(self.model.value)
            text = ""
            for piece in gen.stream(messages, max_new_tokens=self.max_new_tokens.value, cancel=job.cancelled,
                                    truncate="oldest"):
                text += piece
                self._show(text, messages)
            c = self.last = gen.last
            self._show(c.text, messages)
            self.history = [m for m in messages if m["role"] != "system"] + [
                {"role": "assistant", "content": c.text}]
            self.message.value = ""
            self.stats.value = status_html(
                f"{c.model} · {c.backend} · {c.completion_tokens} tokens · {c.tokens_per_s:.1f} tok/s · "
                f"first token after {c.prefill_s * 1000:.0f} ms · {c.finish_reason}", "ok")
            return c
