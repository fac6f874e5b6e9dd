"""What a generator returns (``Completion``), how an answer's text is built as its tokens arrive (``Answer``),
and the loop that turns a backend's batched decode steps into answers (``Answering.chat_many`` and ``serve``):
one place, so ``chat``, ``stream`` and ``chat_many`` on every backend end and count answers alike."""

from __future__ import annotations

import time
from dataclasses import dataclass

__all__ = ["Answer", "Answering", "Completion"]


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


class Answering:
    """``chat_many`` and ``serve`` for a backend that has ``encode_chat``, ``tokenizer``, ``name``, ``backend``
    and ``_steps_many(take, max_new_tokens, temperature, seed, cancel, finished, batch_size, no_repeat)``."""

    def chat_many(self, conversations, *, max_new_tokens=256, temperature=0.0, seed=0, stop=None, cancel=None,
                  truncate="error", batch_size: int = 8, progress=None, no_repeat_ngram=0) -> list[Completion]:
        """``chat`` for many conversations, decoding up to ``batch_size`` of them per step.

        Decoding a small model on a CPU is bound by reading its weights, so one step for eight rows costs
        little more than one step for one. Greedy output equals ``chat``'s for each conversation (each row is
        prefilled alone); a row that finishes leaves the batch and the next conversation takes its place.
        Sampling draws each row from its own generator seeded with ``seed``, as ``chat`` would.
        ``progress(done, total)`` is called as answers finish; ``cancel`` stops every row (finish_reason
        "cancelled"). A row's decode time is wall time from its prefill to its end, so rows share steps.
        """
        prompts = [self.encode_chat(m, max_new_tokens=max_new_tokens, truncate=truncate) for m in conversations]
        waiting = sorted(range(len(prompts)), key=lambda i: len(prompts[i]), reverse=True)  # similar lengths meet
        results: list[Completion | None] = [None] * len(prompts)

        def take(free: int) -> list:
            return [(i, prompts[i]) for i in (waiting.pop() for _ in range(min(free, len(waiting))))]

        def deliver(i: int, completion: Completion) -> None:
            results[i] = completion
            if progress:
                progress(sum(r is not None for r in results), len(results))

        self.serve(take, deliver, max_new_tokens=max_new_tokens, temperature=temperature, seed=seed, stop=stop,
                   cancel=cancel, batch_size=batch_size, no_repeat_ngram=no_repeat_ngram)
        for i in waiting:  # never started: stopped before their turn
            never = Answer(self.tokenizer, stop)
            never.finish = "cancelled"
            results[i] = never.completion(self, len(prompts[i]), 0.0, 0.0)
        return results

    def serve(self, take, deliver, *, max_new_tokens=256, temperature=0.0, seed=0, stop=None, cancel=None,
              batch_size: int = 8, no_repeat_ngram: int = 0) -> None:
        """Decode conversations as they arrive, up to ``batch_size`` per step: ``take(free)`` returns up to
        ``free`` new (ticket, token ids) pairs (``encode_chat``'s ids) and is asked before every step;
        ``deliver(ticket, Completion)`` gets each answer as it ends. Returns once ``take`` gives none and no
        row is decoding, or on ``cancel`` (the rows decoding are delivered as cancelled).

        A ticket names one conversation for the whole call: one used before is refused, since a finished
        ticket stays marked finished and a new row under it would end after its first token."""
        live: dict = {}  # ticket -> [Answer, prompt tokens, start time, prefill seconds]
        finished: set = set()

        def taking(free: int) -> list:
            got = take(free)
            for ticket, ids in got:
                if ticket in live or ticket in finished:
                    raise ValueError(f"serve(): ticket {ticket!r} was used before in this call; give each "
                                     "conversation a ticket of its own")
                live[ticket] = [Answer(self.tokenizer, stop), len(ids), time.perf_counter(), 0.0]
            return got

        def close(ticket) -> None:
            answer, n, started, prefill = live.pop(ticket)
            answer.end(max_new_tokens, cancel)
            deliver(ticket, answer.completion(self, n, prefill, time.perf_counter() - started))

        for step, joined in self._steps_many(taking, max_new_tokens, temperature, seed, cancel, finished,
                                             max(1, batch_size), no_repeat_ngram):
            for ticket, seconds in joined.items():
                live[ticket][3] = seconds
            for ticket, tok in step.items():
                answer = live[ticket][0]
                if tok is None:
                    answer.finish = "stop"
                else:
                    answer.add(tok)
                if answer.finish or len(answer.tokens) >= max_new_tokens:
                    finished.add(ticket)
                    close(ticket)
        for ticket in list(live):  # stopped
            close(ticket)
