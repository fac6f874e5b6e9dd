"""Long work off the kernel's main thread, so a notebook stays responsive and Stop works.

A Job runs ``fn(job)``; the function reports with ``job.progress(done, total, message)`` and
checks ``job.cancelled`` (a threading.Event it can also pass to generators) between steps.
Widgets subscribe to progress through ``on_progress``; the same callback can feed tqdm.
"""

from __future__ import annotations

import threading
import time
import traceback
from collections.abc import Callable
from typing import Any

__all__ = ["Job"]


class Job:
    def __init__(self, fn: Callable[[Job], Any], name: str = "job"):
        self.fn, self.name = fn, name
        self.cancelled = threading.Event()
        self.status = "pending"  # pending | running | done | cancelled | failed
        self.result: Any = None
        self.error: BaseException | None = None
        self.error_text = ""
        self.done, self.total, self.message = 0, 0, ""
        self.started = self.finished = 0.0
        self.first_report: tuple[float, int] | None = None  # (time, done) when the work first reported
        self._listeners: list[Callable[[Job], None]] = []
        self._thread: threading.Thread | None = None

    # --- reporting ---
    def on_progress(self, callback: Callable[[Job], None]) -> Job:
        self._listeners.append(callback)
        return self

    def progress(self, done: int | None = None, total: int | None = None, message: str | None = None) -> None:
        if done is not None:
            self.done = done
        if total is not None:
            self.total = total
        if message is not None:
            self.message = message
        if self.first_report is None and self.total and self.running:
            self.first_report = (time.monotonic(), self.done)
        for cb in list(self._listeners):
            try:
                cb(self)
            except Exception:  # a broken view must never kill the work
                pass

    @property
    def eta_s(self) -> float | None:
        """Seconds left at the rate since the first report, so model loading and resumed steps don't count."""
        if not self.total or self.first_report is None or self.done <= self.first_report[1]:
            return None
        t0, d0 = self.first_report
        return (time.monotonic() - t0) / (self.done - d0) * (self.total - self.done)

    # --- control ---
    def start(self) -> Job:
        self.status, self.started = "running", time.monotonic()
        self._thread = threading.Thread(target=self._run, name=f"workbench-{self.name}", daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        try:
            self.result = self.fn(self)
            self.status = "cancelled" if self.cancelled.is_set() else "done"
        except BaseException as exc:  # reported to the user through the view
            self.error, self.error_text, self.status = exc, traceback.format_exc(), "failed"
        finally:
            self.finished = time.monotonic()
            self.progress()

    def cancel(self) -> None:
        self.cancelled.set()

    def wait(self, timeout: float | None = None) -> Any:
        if self._thread is not None:
            self._thread.join(timeout)
        if self.error is not None:
            raise self.error
        return self.result

    @property
    def running(self) -> bool:
        return self.status == "running"
