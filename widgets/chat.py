"""Chat with a model: model picker, system prompt, message box, streamed answer, tokens/s.

Every message passes the agent's crisis screen and every answer its reply guard (``safety.guard_reply``):
a risk disclosure shows the escalation resources first, before any model text, and a draft that gives a
diagnosis, a dose or harmful wording is replaced. Only answers to messages without risk stream live.
"""

from __future__ import annotations

import html

import ipywidgets as W

from widgets.common import JobPanel, JobView, button, error_text, full_width, hrow, model_picker, with_class
from workbench.formatting import duration, finish_note, number
from workbench.jobs import Job

__all__ = ["ChatView"]


class ChatView(JobView, W.VBox):
    """``ChatView()`` in a notebook cell; ``.send.click()`` drives it from Python as a user would."""

    def __init__(self, model: str | None = None, prompt: str = "cotherapist", max_new_tokens: int = 192):
        from workbench.corpora import load_prompts

        self.prompts = load_prompts()
        self.model = model_picker(model)
        self.preset = W.Dropdown(options=list(self.prompts), value=prompt if prompt in self.prompts else None,
                                 description="Persona")
        self.system = W.Textarea(value=self.prompts[prompt].text if prompt in self.prompts else "",
                                 description="System", layout=full_width(height="90px"))
        self.message = with_class(W.Textarea(placeholder="Type a message, then Send", description="Message",
                                             layout=full_width(height="70px")), "wb-chat-message")
        self.max_new_tokens = W.IntSlider(value=max_new_tokens, min=16, max=512, step=16, description="Max tokens")
        self.send = button("Send", "primary", "wb-chat-send", icon="paper-plane")
        self.panel = JobPanel(self.send, "wb-chat", status_css="wb-chat-stats")
        self.stats = self.status  # the status line shows generation speed when done
        self.clear = button("New conversation", css="wb-chat-clear")
        self.answer = with_class(W.HTML(), "wb-chat-answer")
        self.history: list[dict] = []
        self.last = None

        self.preset.observe(self._on_preset, names="value")
        self.send.on_click(lambda _: self.start())
        self.clear.on_click(lambda _: self.reset())
        super().__init__([
            hrow([self.model, self.preset]), self.system, self.message,
            hrow([*self.panel.controls, self.clear, self.max_new_tokens]), self.answer, self.stats,
        ])
        self.add_class("wb-chat")

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
            f'<div style="white-space:pre-wrap;overflow-wrap:anywhere;line-height:1.4;'
            f'border-left:4px solid {colors[m["role"]]};'
            f'padding:4px 10px;margin:4px 0">{html.escape(m["content"])}</div>' for m in turns)

    def start(self) -> Job | None:
        """Send the message; generation runs in a background Job so Stop stays clickable."""
        if self.panel.busy:
            return self.job
        from workbench.models import check_messages

        messages = ([{"role": "system", "content": self.system.value}] if self.system.value.strip() else [])
        messages += self.history + [{"role": "user", "content": self.message.value}]
        try:
            messages = check_messages(messages)
        except Exception as exc:
            self.panel.say(error_text(exc), "error")
            return None
        return self.panel.run(lambda job: self._generate(job, messages), "chat",
                              f"Loading {self.model.value} and generating…")

    def _generate(self, job: Job, messages: list[dict]):
        from workbench.models import get_generator
        from workbench.safety import escalation, guard_reply, screen

        query = messages[-1]["content"]
        risk = screen(query)
        first = escalation(risk)
        text = ""
        if first:
            self._show(first + "\n\n…", messages)
        if risk.fixed_reply:
            c = None  # the guard answers with a fixed follow-up: no model text to wait for
        else:
            gen = get_generator(self.model.value)
            for piece in gen.stream(messages, max_new_tokens=self.max_new_tokens.value, cancel=job.cancelled,
                                    truncate="oldest"):
                text += piece
                if not first:
                    self._show(text, messages)
            c = self.last = gen.last
        answer, _, decision = guard_reply(query, c.text if c else "", risk)
        self._show(answer, messages)
        self.history = [m for m in messages if m["role"] != "system"] + [{"role": "assistant", "content": answer}]
        self.message.value = ""
        said = "" if decision == "draft passed" else f" · {decision}"
        if c is None:
            self.panel.say(f"risk {risk.level} ({risk.subject}){said}", "ok")
            return None
        ended = finish_note(c.finish_reason, c.completion_tokens)
        self.panel.say(f"{c.model} · {c.backend} · {c.completion_tokens} tokens · {number(c.tokens_per_s)} tok/s · "
                       f"first token after {duration(c.prefill_s)}" + (f" · {ended}" if ended else "") + said,
                       "warn" if c.finish_reason == "length" else "ok")
        return c
