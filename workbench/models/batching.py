"""Concurrent ``chat`` calls decoded together: the bridge between code that answers one message at a time
(the agent) and ``Generator.chat_many``.

Several threads each run their own agent on their own query; whenever one of them asks the model, its
request waits a moment for others, and a decoding thread of the batcher's own serves the waiting requests
that share a setting (``Generator.serve``): up to ``batch_size`` rows per step, a request that arrives
meanwhile joining as a row frees up, each caller handed its answer as it ends. Greedy
answers equal what ``chat`` gives alone and sampled rows draw from their own seeded generators, so results
do not depend on which requests happened to share a batch.
"""

from __future__ import annotations

import itertools
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
        self.batches: list[int] = []  # requests per serve() call, for a look at how well requests met

    def __getattr__(self, name):  # name, backend, tokenizer, encode_chat, … are the generator's
        return getattr(self.gen, name)

    def chat(self, messages, *, cancel=None, **settings):
        """``gen.chat(messages, **settings)``, decoded in a batch with other threads' waiting requests."""
        key = (id(cancel), tuple(sorted((k, tuple(v) if isinstance(v, list) else v) for k, v in settings.items())))
        done: Future = Future()
        with self._lock:
            self._pending.append((key, messages, settings | {"cancel": cancel}, done))
            if not self._leading:  # a thread of its own decodes, so no caller's work waits on the others'
                self._leading = True
                threading.Thread(target=self._lead, name="workbench-batcher", daemon=True).start()
        return done.result()

    def _lead(self) -> None:
        """Serve waiting requests, one setting at a time, until none wait; then stop."""
        while True:
            time.sleep(self.wait_s)  # let the other threads' requests arrive
            with self._lock:
                if not self._pending:
                    self._leading = False
                    return
                key, settings = self._pending[0][0], dict(self._pending[0][2])
            self._serve(key, settings)

    def _serve(self, key: tuple, settings: dict) -> None:
        """One ``Generator.serve`` over the requests with this setting; those that arrive while it decodes
        join as rows free up."""
        tickets: dict[int, Future] = {}
        taken = 0
        numbers = itertools.count()  # not id(future): a finished future's id is reused by a new one, whose row
        # serve() then took for finished after its first token (1-token answers in evaluations, #17)

        def take(free: int) -> list:
            nonlocal taken
            with self._lock:
                mine = [p for p in self._pending if p[0] == key][:free]
                self._pending = [p for p in self._pending if not any(p is m for m in mine)]
            got = []
            for _, messages, _, done in mine:
                try:
                    ids = self.gen.encode_chat(messages, max_new_tokens=settings.get("max_new_tokens", 256),
                                               truncate=settings.get("truncate", "error"))
                except Exception as exc:  # e.g. too long: its caller gets the error, the others go on
                    done.set_exception(exc)
                    continue
                ticket = next(numbers)
                tickets[ticket] = done
                got.append((ticket, ids))
            taken += len(got)
            return got

        try:
            self.gen.serve(take, lambda ticket, c: tickets.pop(ticket).set_result(c), batch_size=self.batch_size,
                           **{k: v for k, v in settings.items() if k != "truncate"})
        except Exception as exc:  # every caller still waiting gets the error, not a hang
            for done in tickets.values():
                done.set_exception(exc)
        self.batches.append(taken)
