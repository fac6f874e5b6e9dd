"""Concurrent ``chat`` calls decoded together: the bridge between code that answers one message at a time
(the agent) and ``Generator.chat_many``.

Several threads each run their own agent on their own query; whenever one of them asks the model, its
request waits a moment for others, and whichever thread finds no batch running decodes every waiting
request that shares its settings in one ``chat_many`` call, then hands each caller its answer. Greedy
answers equal what ``chat`` gives alone and sampled rows draw from their own seeded generators, so results
do not depend on which requests happened to share a batch.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import Future

__all__ = ["Batcher"]


class Batcher:
    """A generator's ``chat`` that many threads can call at once; other attributes are the generator's."""

    def __init__(self, gen, batch_size: int = 8, wait_s: float = 0.02):
        self.gen, self.batch_size, self.wait_s = gen, max(1, batch_size), wait_s
        self._pending: list[tuple[tuple, list, dict, Future]] = []
        self._lock = threading.Lock()
        self._leading = False
        self.batches: list[int] = []  # rows per chat_many call, for a look at how well requests met

    def __getattr__(self, name):  # name, backend, tokenizer, encode_chat, … are the generator's
        return getattr(self.gen, name)

    def chat(self, messages, *, cancel=None, **settings):
        """``gen.chat(messages, **settings)``, decoded in a batch with other threads' waiting requests."""
        key = (id(cancel), tuple(sorted((k, tuple(v) if isinstance(v, list) else v) for k, v in settings.items())))
        done: Future = Future()
        with self._lock:
            self._pending.append((key, messages, settings | {"cancel": cancel}, done))
            lead = not self._leading
            self._leading = self._leading or lead
        if lead:
            self._lead()
        return done.result()

    def _lead(self) -> None:
        """Decode waiting requests, a batch of one setting at a time, until none wait; then step down."""
        while True:
            time.sleep(self.wait_s)  # let the other threads' requests arrive
            with self._lock:
                if not self._pending:
                    self._leading = False
                    return
                key = self._pending[0][0]
                batch = [p for p in self._pending if p[0] == key][:self.batch_size]
                self._pending = [p for p in self._pending if not any(p is b for b in batch)]
            self.batches.append(len(batch))
            try:
                outs = self.gen.chat_many([b[1] for b in batch], batch_size=self.batch_size, **batch[0][2])
            except Exception:  # one bad request (e.g. too long) must not fail the others: each alone
                outs = None
            for i, (_, messages, settings, done) in enumerate(batch):
                if outs is not None:
                    done.set_result(outs[i])
                    continue
                try:
                    done.set_result(self.gen.chat(messages, **settings))
                except Exception as exc:  # its caller gets the error, not a hang
                    done.set_exception(exc)
