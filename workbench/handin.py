"""Hand-ins: one self-contained HTML file per student run of a classroom exercise, and the gradebook over many.

A :class:`HandIn` holds what an instructor needs to mark a run without re-running it: the prompt(s), the
answers with their T-BARS scores, the student's own ratings, the exercise's check values, short trace
summaries and the environment (Python and package versions, model, workbench version). :func:`export`
writes it as a page a person can read, with the same record embedded as JSON
(``<script type="application/json" id="workbench-handin">``) so a program can read it back (:func:`read`).

Three checks, because a hand-in passes through a student's hands (:func:`verify`, :func:`rescore`):

- the SHA-256 ``content_hash`` over the record catches an edit to the embedded record that did not
  recompute the hash;
- the visible page is re-rendered from the record and compared, which catches an edit to the page only;
- the stored answers are scored again with the workbench's own scorer, which catches a changed score even
  when the hash was recomputed. The hash is a checksum, not a signature: anyone can recompute it; it is
  re-scoring that keeps the scores honest.
"""

from __future__ import annotations

import hashlib
import html
import json
import platform
import re
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from workbench import io, paths
from workbench.errors import WorkbenchError

__all__ = ["FORMAT", "SCRIPT_ID", "HandIn", "environment", "export", "from_grid", "gradebook", "handin_path", "make",
           "read", "render", "rescore", "trace_summary", "verify"]

FORMAT = "workbench-handin/1"
SCRIPT_ID = "workbench-handin"
PACKAGES = ("torch", "transformers", "numpy", "pandas", "nbgrader")
_PAYLOAD = re.compile(r'<script type="application/json" id="workbench-handin">(.*?)</script>', re.S)


@dataclass
class HandIn(io.Record):
    """One student's run of one exercise. ``answers`` rows: variant, query_id, query, response, scores
    ({dimension: 1-5}), mean, risk; ``ratings``: the student's own {dimension: [level per answer]}."""

    exercise: str
    student: str
    prompts: dict[str, str] = field(default_factory=dict)
    answers: list[dict] = field(default_factory=list)
    ratings: dict[str, list] = field(default_factory=dict)
    checks: dict[str, Any] = field(default_factory=dict)
    traces: list[dict] = field(default_factory=list)
    environment: dict[str, Any] = field(default_factory=dict)
    created: str = ""
    format: str = FORMAT
    content_hash: str = ""

    def compute_hash(self) -> str:
        """SHA-256 of the record without its hash, as canonical JSON (sorted keys, no spaces)."""
        body = {k: v for k, v in asdict(self).items() if k != "content_hash"}
        canonical = json.dumps(body, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
        return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def _plain(obj: Any) -> Any:
    """JSON-safe copy: numpy scalars as Python numbers, tuples as lists, NaN as null."""
    def default(o):
        if hasattr(o, "item"):
            return o.item()
        if hasattr(o, "to_dict"):
            return o.to_dict()
        raise TypeError(f"{type(o).__name__} cannot go into a hand-in")

    try:
        return io.finite(json.loads(json.dumps(obj, default=default)))
    except TypeError as exc:
        raise WorkbenchError(f"A hand-in field is not plain data: {exc}.",
                             fix="pass text, numbers, lists and dicts (e.g. grid.summary().to_dict())") from exc


def environment(model: str | None = None) -> dict[str, Any]:
    """Python, platform, package and workbench versions and the model name: what a rerun would need."""
    from importlib import metadata

    import workbench

    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return {"python": platform.python_version(), "platform": platform.platform(terse=True),
            "workbench": workbench.__version__, "model": model or paths.default_model(), "packages": versions}


def make(exercise: str, student: str, *, prompts: dict | None = None, answers: Iterable[dict] = (),
         ratings: dict | None = None, checks: dict | None = None, traces: Iterable[dict] = (),
         model: str | None = None) -> HandIn:
    """A hashed record from plain parts; ``model`` goes into the environment."""
    for name, value in (("exercise", exercise), ("student", student)):
        if not isinstance(value, str) or not value.strip():
            raise WorkbenchError(f"A hand-in needs a {name}, got {value!r}.",
                                 fix=f'pass {name}="…" (the student name is what the gradebook lists)')
    rows = []
    for n, a in enumerate(_plain(list(answers))):
        if not isinstance(a, dict) or not isinstance(a.get("response"), str):
            raise WorkbenchError(f"Answer {n} has no response text.", where=f"answers[{n}]",
                                 fix="give each answer as {'query': …, 'response': …, 'scores': {…}}")
        rows.append({"variant": "", "query_id": "", "query": "", "scores": {}, "mean": None, "risk": False} | a)
    rec = HandIn(exercise.strip(), student.strip(), _plain(prompts or {}), rows, _plain(ratings or {}),
                 _plain(checks or {}), _plain(list(traces)), _plain(environment(model)),
                 time.strftime("%Y-%m-%dT%H:%M:%S"))
    rec.content_hash = rec.compute_hash()
    return rec


def from_grid(grid, exercise: str, student: str, *, checks: dict | None = None, ratings: dict | None = None,
              traces: Iterable = (), extra: Iterable[dict] = ()) -> HandIn:
    """A hand-in from a prompt-lab :class:`~workbench.prompt_lab.Grid`: its prompts, every cell's answer
    and scores, one trace line per cell (tokens, seconds, risk, replacement) and any agent ``traces``.
    ``extra`` answers (e.g. an example reply the student wrote) come first and are re-scored the same way."""
    answers = [*extra] + [{"variant": c.variant, "query_id": c.query_id, "query": c.query, "response": c.response,
                "scores": c.scores, "mean": c.mean, "risk": c.risk, "risk_handled": c.risk_handled,
                "replaced": c.replaced} for c in grid.cells]
    cells = [{"name": f"{c.variant} · {c.query_id}", "tokens": c.completion_tokens, "seconds": c.seconds,
              "risk_level": c.risk_level, "replaced": c.replaced} for c in grid.cells]
    more = [t if isinstance(t, dict) else trace_summary(t) for t in traces]
    return make(exercise, student, prompts=grid.variants, answers=answers, ratings=ratings, checks=checks,
                traces=cells + more, model=grid.model)


def trace_summary(trace) -> dict[str, Any]:
    """A :class:`~workbench.trace.Trace` in one line: span count and kinds, time, tokens, status."""
    spans = trace.spans
    tokens = sum(int(s.attributes.get("completion_tokens", 0) or 0) for s in spans)
    return {"name": trace.trace_id, "spans": len(spans), "kinds": sorted({s.kind for s in spans}),
            "seconds": round(trace.root.duration_ms / 1000, 2) if spans else 0.0, "tokens": tokens,
            "status": "error" if any(s.status != "ok" for s in spans) else "ok"}


def handin_path(exercise: str, folder: str | Path = ".") -> Path:
    """Where an exercise notebook writes its hand-in: ``handin-<exercise>.html`` next to the notebook, so
    ``nbgrader submit`` and ``collect`` carry it with the notebook. In an nbgrader course's ``source/``
    folder (the instructor's solved copy) it goes to ``exports/handins/`` instead, so that
    ``generate_assignment``, which copies every other file in source/ to the students, never releases it."""
    folder = Path(folder).resolve()
    name = f"handin-{re.sub(r'[^A-Za-z0-9_.-]+', '-', exercise).strip('-') or 'exercise'}.html"
    if folder.parent.name == "source" and (folder.parent.parent / "nbgrader_config.py").is_file():
        return paths.exports_dir() / "handins" / name
    return folder / name


# ---- the page ---------------------------------------------------------------------------------------
_CSS = ("body{font:14px/1.45 system-ui,sans-serif;max-width:60rem;margin:1.5rem auto;padding:0 1rem;color:#222}"
        "table{border-collapse:collapse;margin:.5rem 0 1rem;width:100%}td,th{border:1px solid #ccc;padding:.3rem .5rem;"
        "vertical-align:top;text-align:left}th{background:#f3f3f3}pre{white-space:pre-wrap;background:#f7f7f7;"
        "padding:.5rem;border-radius:4px}.hash{font-family:monospace;word-break:break-all}")


def _e(value: Any) -> str:
    """Escaped text for the page; numbers, booleans and missing values as every workbench table shows them."""
    from workbench.formatting import number

    if isinstance(value, (dict, list)):
        return html.escape(json.dumps(value, ensure_ascii=False))
    return html.escape(number(value))


def _table(rows: list[dict], cols: list[str]) -> str:
    if not rows:
        return "<p>none</p>"
    head = "".join(f"<th>{_e(c)}</th>" for c in cols)
    body = "".join("<tr>" + "".join(f"<td>{_e(r.get(c))}</td>" for c in cols) + "</tr>" for r in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def render(rec: HandIn) -> str:
    """The self-contained page: everything escaped, the record embedded as JSON a script cannot break out of."""
    payload = json.dumps(rec.to_dict(), ensure_ascii=False)
    payload = payload.replace("&", "\\u0026").replace("<", "\\u003c").replace(">", "\\u003e")
    dims = list(dict.fromkeys(d for a in rec.answers for d in (a.get("scores") or {})))
    answers = [{"variant": a.get("variant"), "query": a.get("query"), "response": a.get("response"),
                **(a.get("scores") or {}), "mean": a.get("mean")} for a in rec.answers]
    width = max((len(v) for v in rec.ratings.values()), default=0)
    rating_cols = ["dimension", *[f"answer {i + 1}" for i in range(width)]]
    ratings = [{"dimension": d, **dict(zip(rating_cols[1:], vals, strict=False))} for d, vals in rec.ratings.items()]
    env = rec.environment
    env_rows = [{"item": k, "value": v} for k, v in env.items() if k != "packages"]
    env_rows += [{"item": k, "value": v} for k, v in (env.get("packages") or {}).items()]
    trace_cols = list(dict.fromkeys(k for t in rec.traces for k in t))
    prompts = "".join(f"<h3>{_e(name)}</h3><pre>{_e(text)}</pre>" for name, text in rec.prompts.items())
    parts = [
        "<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
        f"<title>Hand-in · {_e(rec.exercise)} · {_e(rec.student)}</title><style>{_CSS}</style></head><body>",
        f"<h1>{_e(rec.exercise)}</h1><p>Student <b>{_e(rec.student)}</b> · handed in {_e(rec.created)}</p>",
        f'<p>Content hash (SHA-256): <span class="hash">{_e(rec.content_hash)}</span></p>',
        f"<h2>Prompts</h2>{prompts or '<p>none</p>'}",
        "<h2>Answers and T-BARS scores</h2>" + _table(answers, ["variant", "query", "response", *dims, "mean"]),
        "<h2>The student's ratings</h2>" + _table(ratings, rating_cols),
        "<h2>Checks</h2>" + _table([{"check": k, "value": v} for k, v in rec.checks.items()], ["check", "value"]),
        "<h2>Traces</h2>" + _table(rec.traces, trace_cols),
        "<h2>Environment</h2>" + _table(env_rows, ["item", "value"]),
        f'<script type="application/json" id="{SCRIPT_ID}">{payload}</script>', "</body></html>", ""]
    return "\n".join(parts)


def export(rec: HandIn, path: str | Path) -> Path:
    """Write the hand-in page atomically (the hash is recomputed only if the record never had one)."""
    if not rec.content_hash:
        rec.content_hash = rec.compute_hash()
    return io.write_text(path, render(rec))


def _payload(text: str, where: str) -> dict:
    m = _PAYLOAD.search(text)
    if not m:
        raise WorkbenchError("This file holds no workbench hand-in record.", where=where,
                             fix="hand in the HTML file the exercise's last cell wrote (handin-<exercise>.html)")
    try:
        return json.loads(m.group(1))
    except json.JSONDecodeError as exc:
        raise WorkbenchError(f"The embedded hand-in record is not valid JSON ({exc.msg}).", where=where,
                             fix="the file was edited by hand; ask the student to run the exercise's last cell again")\
            from exc


def read(path: str | Path) -> HandIn:
    """The record embedded in a hand-in page (nothing is re-run or re-checked; see :func:`verify`)."""
    p = Path(path)
    if not p.is_file():
        raise WorkbenchError(f"No hand-in file at {p}.", fix="check the path (hand-ins are handin-<exercise>.html)")
    data = _payload(p.read_text(encoding="utf-8"), str(p))
    if data.get("format") != FORMAT:
        raise WorkbenchError(f"Unknown hand-in format {data.get('format')!r}.", where=str(p),
                             fix=f"this workbench reads {FORMAT}; export the hand-in again with this version")
    return HandIn.from_dict(data)


def verify(path: str | Path) -> list[str]:
    """What is wrong with a hand-in file, in words ([] when the hash matches and the page is untouched)."""
    p = Path(path)
    rec = read(p)
    problems = []
    if rec.content_hash != rec.compute_hash():
        problems.append("content hash does not match the record (the embedded record was edited)")
    if p.read_text(encoding="utf-8") != render(rec):
        problems.append("the visible page differs from the embedded record (the page was edited)")
    return problems


def rescore(rec: HandIn | str | Path, *, tol: float = 0.05):
    """Score every stored answer again with the workbench's default scorer; one row per (answer, dimension)
    with the stored and recomputed score and ``changed`` when they differ by more than ``tol``.

    The stored risk flag is used, so a later change to the crisis screen does not read as tampering."""
    import pandas as pd

    from workbench.rubric import default_scores

    rec = rec if isinstance(rec, HandIn) else read(rec)
    cols = ["answer", "variant", "query_id", "dimension", "stored", "rescored", "changed"]
    todo = [(i, a) for i, a in enumerate(rec.answers) if a.get("scores")]
    if not todo:
        return pd.DataFrame(columns=cols)
    fresh = default_scores([(a.get("query", ""), a["response"]) for _, a in todo],
                           [bool(a.get("risk")) for _, a in todo])
    rows = []
    for (i, a), s in zip(todo, fresh, strict=True):
        for dim in dict.fromkeys([*a["scores"], *s.scores]):
            old, new = a["scores"].get(dim), s.scores.get(dim)
            changed = old is None or new is None or abs(float(old) - float(new)) > tol
            rows.append({"answer": i, "variant": a.get("variant", ""), "query_id": a.get("query_id", ""),
                         "dimension": dim, "stored": old, "rescored": new, "changed": changed})
    return pd.DataFrame(rows, columns=cols)


def _files(where) -> list[Path]:
    if isinstance(where, (str, Path)):
        p = Path(where)
        if p.is_dir():
            return sorted(p.rglob("handin-*.html"))
        return [p]
    return [Path(x) for x in where]


def gradebook(where, *, rescored: bool = True):
    """One row per hand-in: who, which exercise, model, answers, mean score, the exercise's checks (``check:``
    columns) and the verdicts (``hash_ok``, ``page_ok``, ``scores_ok``) with the ``problems`` in words.

    ``where``: a folder (searched for ``handin-*.html``, e.g. nbgrader's ``submitted/``) or a list of files.
    A file that cannot be read is listed with its problem rather than stopping the table."""
    import pandas as pd

    rows = []
    for f in _files(where):
        row: dict[str, Any] = {"file": str(f)}
        try:
            rec = read(f)
        except WorkbenchError as exc:
            rows.append(row | {"hash_ok": False, "page_ok": False, "scores_ok": False, "problems": exc.what})
            continue
        problems = verify(f)
        means = [a["mean"] for a in rec.answers if isinstance(a.get("mean"), (int, float))]
        row |= {"student": rec.student, "exercise": rec.exercise, "created": rec.created,
                "model": rec.environment.get("model"), "answers": len(rec.answers),
                "mean": round(sum(means) / len(means), 3) if means else None,
                **{f"check:{k}": v for k, v in rec.checks.items() if not isinstance(v, (dict, list))},
                "hash_ok": not any("hash" in p for p in problems), "page_ok": not any("page" in p for p in problems)}
        if rescored:
            changed = rescore(rec)
            changed = changed[changed["changed"]]
            row["scores_ok"] = changed.empty
            if not changed.empty:
                problems.append("re-scoring differs: " + ", ".join(
                    f"answer {r.answer} {r.dimension} {r.stored}→{r.rescored}" for r in changed.itertuples()))
        row["problems"] = "; ".join(problems)
        rows.append(row)
    df = pd.DataFrame(rows)
    lead = [c for c in ("student", "exercise", "created", "model", "answers", "mean") if c in df.columns]
    tail = [c for c in ("hash_ok", "page_ok", "scores_ok", "problems", "file") if c in df.columns]
    return df[lead + [c for c in df.columns if c not in lead + tail] + tail] if rows else df
