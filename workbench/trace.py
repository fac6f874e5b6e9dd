"""The Trace record: every step of the agent as a span, saved as JSON lines and exportable.

One record type: a Trace is a list of Spans sharing a trace id; its root span (kind chain, no
parent) holds the query, the configuration and the final answer. Saved as one span per line, it
loads back unchanged, flattens to a DataFrame, and exports to OpenInference span JSON that Phoenix
loads (``workbench trace export``).
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

__all__ = ["EXPORT_FORMATS", "KINDS", "TIME_FORMATS", "Span", "Trace", "Tracer", "export_rows"]

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

    def to_openinference(self, times: str = "seconds") -> list[dict]:
        """Phoenix's span JSON, one dict per span: OK/ERROR status with its message, an exception event for a failed
        step, OpenInference attribute names. Span times are Unix seconds (``times="seconds"``: Phoenix's file reader,
        ``TraceDataset(json_lines_to_df(lines))``, takes them under any pandas, ISO strings only under pandas < 3) or
        ISO 8601 UTC (``times="iso"``: what ``json_string_to_span`` decodes); event times are always ISO 8601."""
        if times not in TIME_FORMATS:
            raise WorkbenchError(f"unknown span time format {times!r}", fix=f"use one of {', '.join(TIME_FORMATS)}")
        return [_openinference(s, times) for s in self.spans]


EXPORT_FORMATS = ("openinference", "jsonl")
TIME_FORMATS = ("seconds", "iso")


def export_rows(traces: list[Trace], fmt: str = "openinference", times: str = "seconds") -> list[dict]:
    """The spans of ``traces`` as JSON-lines rows: Phoenix's span JSON, or the workbench's own span records."""
    if fmt not in EXPORT_FORMATS:
        raise WorkbenchError(f"unknown trace export format {fmt!r}", fix=f"use one of {', '.join(EXPORT_FORMATS)}")
    if fmt == "jsonl":
        return [s.to_dict() for t in traces for s in t.spans]
    return [row for t in traces for row in t.to_openinference(times)]


def _iso(t: float) -> str:
    from datetime import datetime, timezone

    return datetime.fromtimestamp(t, tz=timezone.utc).isoformat()


def _value(d: dict) -> tuple[str, str]:
    """input/output.value and its mime type: one text field is shown as text, anything else as JSON."""
    if len(d) == 1 and isinstance(v := next(iter(d.values())), str):
        return v, "text/plain"
    return json.dumps(d, ensure_ascii=False), "application/json"


# an llm span's attributes that become OpenInference ones; the rest (decisions, backend, config) goes to ``metadata``
_LLM_KEYS = {"model", "messages", "prompt_tokens", "completion_tokens", "temperature", "seed", "finish_reason"}


def _openinference(s: Span, times: str) -> dict:
    a = s.attributes
    attrs: dict[str, Any] = {"openinference.span.kind": s.kind.upper()}
    for side, d in (("input", s.inputs), ("output", s.outputs)):
        attrs[f"{side}.value"], attrs[f"{side}.mime_type"] = _value(d)
    if s.kind == "llm":
        prompt, completion = int(a.get("prompt_tokens") or 0), int(a.get("completion_tokens") or 0)
        attrs.update({"llm.model_name": a.get("model", ""), "llm.token_count.prompt": prompt,
                      "llm.token_count.completion": completion, "llm.token_count.total": prompt + completion,
                      "llm.invocation_parameters": json.dumps({k: a[k] for k in ("temperature", "seed") if k in a})})
        if a.get("finish_reason"):
            attrs["llm.finish_reason"] = a["finish_reason"]
        for i, m in enumerate(a.get("messages", [])):
            attrs[f"llm.input_messages.{i}.message.role"] = m["role"]
            attrs[f"llm.input_messages.{i}.message.content"] = m["content"]
        if "text" in s.outputs:
            attrs["llm.output_messages.0.message.role"] = "assistant"
            attrs["llm.output_messages.0.message.content"] = s.outputs["text"]
    # retrieved chunks (retrieve) and numbered facts (facts) are both documents to Phoenix
    docs = a.get("chunks") or (s.outputs.get("facts", []) if s.kind == "retriever" else [])
    for i, d in enumerate(docs):
        p = f"retrieval.documents.{i}.document"
        attrs.update({f"{p}.id": d["card"], f"{p}.score": d["score"], f"{p}.content": d["text"]})
        if extra := {k: v for k, v in d.items() if k not in ("card", "score", "text")}:
            attrs[f"{p}.metadata"] = json.dumps(extra, ensure_ascii=False)
    mapped = (_LLM_KEYS if s.kind == "llm" else set()) | {"chunks"}
    if rest := {k: v for k, v in a.items() if k not in mapped}:
        attrs["metadata"] = json.dumps(rest, ensure_ascii=False, default=str)
    failed = s.status != "ok"
    message = str(a.get("error", s.status)) if failed else ""
    events = []
    if failed:  # the exception event Phoenix shows on the span, as OpenTelemetry records one
        kind, _, text = message.partition(": ")
        events.append({"name": "exception", "timestamp": _iso(s.end or s.start),
                       "attributes": {"exception.type": kind, "exception.message": text or message}})
    when = _iso if times == "iso" else float  # never nanoseconds: Phoenix reads a number as seconds
    return {"name": s.name, "context": {"trace_id": s.trace_id, "span_id": s.span_id}, "span_kind": s.kind.upper(),
            "parent_id": s.parent_id, "start_time": when(s.start), "end_time": when(s.end) if s.end else None,
            "status_code": "ERROR" if failed else "OK", "status_message": message, "attributes": attrs,
            "events": events, "conversation": None}


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
