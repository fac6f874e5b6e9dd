"""The Trace record: every step of the agent as a span, saved as JSON lines and exportable.

One record type: a Trace is a list of Spans sharing a trace id; its root span (kind chain, no
parent) holds the query, the configuration and the final answer. Saved as one span per line, it
loads back unchanged, flattens to a DataFrame, and exports to OpenInference-style span JSON
(the attribute names Phoenix reads).
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from workbench.errors import WorkbenchError
from workbench.io import Record

__all__ = ["KINDS", "Span", "Trace", "Tracer"]

KINDS = ("chain", "llm", "retriever", "guardrail", "evaluator")


@dataclass
class Span(Record):
    trace_id: str
    span_id: str
    parent_id: str | None
    name: str
    kind: str
    start: float
    end: float = 0.0
    inputs: dict = field(default_factory=dict)
    outputs: dict = field(default_factory=dict)
    attributes: dict = field(default_factory=dict)  # prompt, tokens, backend, chunks, decisions
    status: str = "ok"

    @property
    def duration_ms(self) -> float:
        return (self.end - self.start) * 1000


@dataclass
class Trace:
    trace_id: str
    spans: list[Span] = field(default_factory=list)

    @property
    def root(self) -> Span:
        return next(s for s in self.spans if s.parent_id is None)

    @property
    def query(self) -> str:
        return self.root.inputs.get("query", "")

    @property
    def answer(self) -> str:
        return self.root.outputs.get("answer", "")

    def span(self, name: str) -> Span | None:
        return next((s for s in self.spans if s.name == name), None)

    def children(self, span_id: str | None) -> list[Span]:
        return [s for s in self.spans if s.parent_id == span_id]

    # ---- persistence ----
    def save(self, path: str | Path, append: bool = False) -> Path:
        """JSON lines, one span per line; ``append`` adds this trace to a file of several."""
        from workbench.io import append_jsonl, write_jsonl

        if append:
            for s in self.spans:
                append_jsonl(path, s)
            return Path(path)
        return write_jsonl(path, self.spans)

    @staticmethod
    def load_all(path: str | Path) -> list[Trace]:
        from workbench.io import read_jsonl

        traces: dict[str, Trace] = {}
        for s in read_jsonl(path, Span, fix="a trace file holds one span object per line, as Trace.save writes"):
            traces.setdefault(s.trace_id, Trace(s.trace_id)).spans.append(s)
        return list(traces.values())

    @staticmethod
    def load(path: str | Path) -> Trace:
        traces = Trace.load_all(path)
        if len(traces) != 1:
            raise WorkbenchError(f"{path} holds {len(traces)} traces", fix="use Trace.load_all")
        return traces[0]

    # ---- views ----
    def to_dataframe(self):
        import pandas as pd

        t0 = min(s.start for s in self.spans)
        return pd.DataFrame([{
            "trace_id": s.trace_id, "span_id": s.span_id, "parent_id": s.parent_id, "name": s.name,
            "kind": s.kind, "start_ms": (s.start - t0) * 1000, "duration_ms": s.duration_ms, "status": s.status,
            "tokens": s.attributes.get("completion_tokens"), "decision": s.attributes.get("decision"),
        } for s in self.spans])

    def to_openinference(self) -> list[dict]:
        """OpenInference-style spans (OpenTelemetry shape, openinference.* attribute names)."""
        def ns(t: float) -> int:
            return int(t * 1e9)

        out = []
        for s in self.spans:
            attrs: dict[str, Any] = {
                "openinference.span.kind": s.kind.upper(),
                "input.value": json.dumps(s.inputs, ensure_ascii=False), "input.mime_type": "application/json",
                "output.value": json.dumps(s.outputs, ensure_ascii=False), "output.mime_type": "application/json",
            }
            a = s.attributes
            if s.kind == "llm":
                attrs.update({"llm.model_name": a.get("model", ""), "llm.token_count.prompt": a.get("prompt_tokens", 0),
                              "llm.token_count.completion": a.get("completion_tokens", 0),
                              "llm.invocation_parameters": json.dumps({"backend": a.get("backend", "")})})
                for i, m in enumerate(a.get("messages", [])):
                    attrs[f"llm.input_messages.{i}.message.role"] = m["role"]
                    attrs[f"llm.input_messages.{i}.message.content"] = m["content"]
            for i, c in enumerate(a.get("chunks", [])):
                attrs[f"retrieval.documents.{i}.document.id"] = c["card"]
                attrs[f"retrieval.documents.{i}.document.score"] = c["score"]
                attrs[f"retrieval.documents.{i}.document.content"] = c["text"]
            out.append({"name": s.name, "context": {"trace_id": s.trace_id, "span_id": s.span_id},
                        "parent_id": s.parent_id, "span_kind": s.kind.upper(), "start_time": ns(s.start),
                        "end_time": ns(s.end), "status_code": "OK" if s.status == "ok" else "ERROR",
                        "attributes": attrs})
        return out


class Tracer:
    """Builds a Trace: ``with tracer.span(name, kind, inputs) as s:`` nests by call order."""

    def __init__(self):
        self.trace = Trace(uuid.uuid4().hex)
        self._stack: list[str] = []

    @contextmanager
    def span(self, name: str, kind: str, inputs: dict | None = None) -> Iterator[Span]:
        if kind not in KINDS:
            raise WorkbenchError(f"unknown span kind {kind!r}", fix=f"use one of {KINDS}")
        s = Span(self.trace.trace_id, uuid.uuid4().hex[:16], self._stack[-1] if self._stack else None, name, kind,
                 time.time(), inputs=dict(inputs or {}))
        self.trace.spans.append(s)
        self._stack.append(s.span_id)
        try:
            yield s
        except Exception as exc:
            s.status, s.attributes["error"] = "error", f"{type(exc).__name__}: {exc}"
            raise
        finally:
            s.end = time.time()
            self._stack.pop()
