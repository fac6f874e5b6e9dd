"""The ``workbench trace`` commands: saved agent traces out to other tools (Phoenix reads the OpenInference export)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

__all__ = ["add"]

_WRITE_ONE = "save traces with `workbench ask QUERY --trace FILE` (or `workbench demo`: exports/demo/traces.jsonl)"


def _export(args) -> int:
    from workbench import io
    from workbench.errors import WorkbenchError
    from workbench.trace import Trace, export_rows

    path = Path(args.file)
    if not path.is_file():
        raise WorkbenchError(f"No trace file at {path}.", fix=_WRITE_ONE)
    line, first = next(io.iter_jsonl(path), (0, {}))
    if {"context", "span_kind"} <= set(first):
        raise WorkbenchError(f"{path} is already an OpenInference export, not a workbench trace file.",
                             where=f"{path}:{line}", fix="export the trace file it was made from (as `workbench ask "
                                                         "--trace` or Trace.save writes)")
    traces = Trace.load_all(path)
    if not traces:
        raise WorkbenchError(f"{path} holds no spans.", where=str(path), fix=_WRITE_ONE)
    if args.trace_id:
        picked = [t for t in traces if t.trace_id.startswith(args.trace_id)]
        if len(picked) != 1:
            ids = ", ".join(t.trace_id for t in traces[:10]) + (" …" if len(traces) > 10 else "")
            raise WorkbenchError(f"{len(picked)} traces in {path} have an id starting {args.trace_id!r}.",
                                 fix=f"give more of one id; the file holds {ids}")
        traces = picked
    rows = export_rows(traces, args.format, args.times)
    if args.out:
        out = io.write_jsonl(args.out, rows)
        print(f"{len(rows)} spans of {len(traces)} trace(s) -> {out}", file=sys.stderr)
    else:
        sys.stdout.write("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
    return 0


def add(sub) -> None:
    """The trace commands, on the ``workbench`` parser's subcommands."""
    from workbench.trace import EXPORT_FORMATS, TIME_FORMATS

    s = sub.add_parser("trace", help="saved agent traces: export them for Phoenix (OpenInference) or as span JSONL")
    ts = s.add_subparsers(dest="action", required=True)
    e = ts.add_parser("export", help="write a trace file's spans as OpenInference span JSON (Phoenix) or our JSONL")
    e.add_argument("file", metavar="FILE", help="a trace file (JSON lines), as `workbench ask --trace` writes")
    e.add_argument("--format", choices=EXPORT_FORMATS, default="openinference",
                   help="openinference: one Phoenix span JSON a line (default); jsonl: the workbench's span records")
    e.add_argument("--out", default=None, metavar="OUT.jsonl", help="write to this file (atomically), not stdout")
    e.add_argument("--times", choices=TIME_FORMATS, default="seconds",
                   help="openinference span times: Unix seconds (default; Phoenix's TraceDataset(json_lines_to_df(…)) "
                        "reads them under any pandas) or ISO 8601 (its json_string_to_span; TraceDataset only on "
                        "pandas < 3)")
    e.add_argument("--trace-id", default=None, metavar="ID", help="only the trace whose id starts with ID")
    e.set_defaults(func=_export)
