"""What a generator returns (``Completion``) and how an answer's text is built as its tokens arrive (``Answer``):
one place, so ``chat``, ``stream`` and ``chat_many`` on every backend end and count answers alike."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Answer", "Completion"]


@dataclass
class Completion:
    """One generated answer with the numbers a researcher asks about."""

    text: str
    prompt_tokens: int
    completion_tokens: int
    prefill_s: float
    decode_s: float
    finish_reason: str  # stop | length | cancelled
    model: str
    backend: str

    @property
    def tokens_per_s(self) -> float:
        return self.completion_tokens / self.decode_s if self.decode_s > 0 else 0.0


class Answer:
    """One answer's text as its tokens arrive: an incomplete multi-byte character is held back and the text is
    cut at the first stop string. ``chat``, ``stream`` and ``chat_many`` share it, so they end answers alike."""

    def __init__(self, tokenizer, stop):
        self.tokenizer, self.stop = tokenizer, [s for s in (stop or []) if s]
        self.tokens: list[int] = []
        self.text, self.finish = "", ""

    def add(self, tok: int) -> str:
        """Take one token; return the text it completes ("" while a character is incomplete)."""
        self.tokens.append(tok)
        text = self.tokenizer.decode(self.tokens, skip_special_tokens=True)
        if text.endswith("\ufffd"):  # a multi-byte character is still incomplete
            return ""
        cut = min((text.find(s) for s in self.stop if s in text), default=-1)
        if cut >= 0:
            text, self.finish = text[:cut], "stop"
        if len(text) <= len(self.text):
            return ""
        piece, self.text = text[len(self.text):], text
        return piece

    def end(self, max_new_tokens: int, cancel) -> None:
        """Why decoding ended, where no stop string said so."""
        if not self.finish:
            cancelled = cancel is not None and cancel.is_set()
            self.finish = ("cancelled" if cancelled else "stop") if len(self.tokens) < max_new_tokens else "length"

    def completion(self, gen, prompt_tokens: int, prefill: float, total: float) -> Completion:
        return Completion(text=self.text.strip(), prompt_tokens=prompt_tokens, completion_tokens=len(self.tokens),
                          prefill_s=prefill, decode_s=max(total - prefill, 1e-9), finish_reason=self.finish,
                          model=gen.name, backend=gen.backend)
