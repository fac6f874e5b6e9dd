"""Prompt lab: try system-prompt variants side by side on the same queries and see the T-BARS scores move.

``run_grid(variants, queries)`` answers every query under every variant with one model and scores
each answer with the transparent ``features`` scorer. Clinical policy is the agent's: every query
is screened before generation; a risk query gets the escalation resources first, whatever the
variant says; the draft is screened afterwards and replaced when it states a diagnosis, gives a
dose, or voices or invites harm (``safety.guard_reply``). The result is a :class:`Grid` (one record,
JSON round trip) with a per-variant summary and ``delta(a, b)`` for "did my score move?".

``save_prompt`` keeps a variant in the user's own library (``exports/prompts/library.yaml``),
which ``corpora.load_prompts()`` lists after the shipped prompts with ``source="user"``. The
shipped ``corpora/prompts/library.yaml`` is never written.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from workbench import paths
from workbench.errors import WorkbenchError

__all__ = ["Cell", "Grid", "grids_dir", "list_grids", "load_grid", "run_grid", "save_grid", "save_prompt",
           "summary_figure"]

BATCH = 8  # answers decoded per step (Generator.chat_many): one step for eight costs little more than for one
_ID = re.compile(r"^[a-z0-9][a-z0-9-]{0,63}$")
_SAVE_LOCK = threading.Lock()


# ---- the record ---------------------------------------------------------------------------------
@dataclass
class Cell:
    """One variant's answer to one query, as shown to the user, with its T-BARS feature scores."""

    variant: str
    query_id: str
    query: str
    response: str
    scores: dict[str, float]
    mean: float | None
    risk: bool = False             # the query screened as risk
    risk_level: str = "none"
    risk_handled: bool = False     # escalation resources placed first (always, for a risk query)
    replaced: str = ""             # why the draft was replaced after the output screen ("" when it passed)
    completion_tokens: int = 0
    seconds: float = 0.0           # its share of its batch's time (answers are decoded BATCH at a time)
    evidence: dict[str, list[str]] = field(default_factory=dict)


@dataclass
class Grid:
    """Variants x queries of responses and scores; saved as exports/prompt_lab/<name>.json."""

    variants: dict[str, str]
    queries: list[dict]
    cells: list[Cell]
    model: str = ""
    max_new_tokens: int = 0
    scorer: str = "features"
    complete: bool = True
    created: str = ""
    name: str = ""
    dimensions: list[str] = field(default_factory=list)

    # -- views --
    def cell(self, variant: str, query_id: str) -> Cell:
        for c in self.cells:
            if c.variant == variant and c.query_id == query_id:
                return c
        raise WorkbenchError(f"No cell for variant {variant!r} and query {query_id!r}.",
                             fix=f"use a variant of {list(self.variants)} and a query id of "
                                 f"{[q['id'] for q in self.queries]}")

    def to_frame(self):
        """Long table: one row per cell, a column per dimension."""
        import pandas as pd

        rows = [{"variant": c.variant, "query_id": c.query_id, **c.scores, "mean": c.mean, "risk": c.risk,
                 "risk_handled": c.risk_handled, "replaced": bool(c.replaced)} for c in self.cells]
        return pd.DataFrame(rows, columns=["variant", "query_id", *self.dimensions, "mean", "risk",
                                           "risk_handled", "replaced"])

    def summary(self):
        """Per-variant mean of each dimension (and overall), in the variants' order; ``n`` cells each."""
        df = self.to_frame()
        cols = [*self.dimensions, "mean"]
        out = df.groupby("variant", sort=False)[cols].mean().round(3)
        out["n"] = df.groupby("variant", sort=False).size()
        return out.reindex([v for v in self.variants if v in out.index])

    def delta(self, a: str, b: str):
        """How far variant ``b`` moved each dimension's mean from variant ``a`` (b - a; positive = higher)."""
        s = self.summary()
        for v in (a, b):
            if v not in s.index:
                raise WorkbenchError(f"Variant {v!r} has no scored cells in this grid.",
                                     fix=f"use one of {list(s.index)}")
        return (s.loc[b, [*self.dimensions, "mean"]] - s.loc[a, [*self.dimensions, "mean"]]).round(3)

    # -- persistence --
    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Grid:
        missing = [k for k in ("variants", "queries", "cells") if k not in d]
        if missing:
            raise WorkbenchError(f"A saved prompt-lab grid lacks {', '.join(missing)}.",
                                 fix="save grids with Grid.save() or workbench.prompt_lab.save_grid")
        known = set(cls.__dataclass_fields__)
        cell_fields = set(Cell.__dataclass_fields__)
        g = cls(**{k: v for k, v in d.items() if k in known and k != "cells"}, cells=[])
        g.cells = [Cell(**{k: v for k, v in c.items() if k in cell_fields}) for c in d["cells"]]
        return g

    def save(self, name: str | None = None) -> Path:
        return save_grid(self, name)


def grids_dir() -> Path:
    return paths.exports_dir() / "prompt_lab"


def _safe_name(name: str) -> str:
    clean = re.sub(r"[^A-Za-z0-9._-]+", "-", str(name)).strip("-.")
    if not clean:
        raise WorkbenchError(f"{name!r} cannot name a saved grid.", fix="use letters, digits, '-', '_' or '.'")
    return clean


def save_grid(grid: Grid, name: str | None = None) -> Path:
    """Write the grid atomically to exports/prompt_lab/<name>.json (default: its name or a timestamp)."""
    from workbench import io

    grid.name = _safe_name(name or grid.name or time.strftime("lab-%Y%m%d-%H%M%S"))
    return io.write_json(grids_dir() / f"{grid.name}.json", grid.to_dict())


def load_grid(name_or_path: str | Path) -> Grid:
    """A saved grid by name (exports/prompt_lab/<name>.json) or by path; nothing is regenerated."""
    import json

    p = Path(name_or_path)
    if not p.is_file():
        p = grids_dir() / f"{name_or_path}.json"
    if not p.is_file():
        known = [g.stem for g in sorted(grids_dir().glob("*.json"))] if grids_dir().is_dir() else []
        raise WorkbenchError(f"No saved prompt-lab grid {str(name_or_path)!r}.", where=str(p),
                             fix=f"use one of {known}" if known else "run and save a grid first")
    try:
        return Grid.from_dict(json.loads(p.read_text(encoding="utf-8")))
    except json.JSONDecodeError as exc:
        raise WorkbenchError(f"Not valid JSON: {exc.msg}", where=f"{p}:{exc.lineno}",
                             fix="re-save the grid from the prompt lab") from exc


def list_grids() -> list[str]:
    return [g.stem for g in sorted(grids_dir().glob("*.json"))] if grids_dir().is_dir() else []


# ---- running --------------------------------------------------------------------------------------
def _queries(queries) -> list[dict]:
    """Normalise to [{id, text}]: Query records, shipped query ids, or free text."""
    if isinstance(queries, str) or not isinstance(queries, (list, tuple)) or not queries:
        raise WorkbenchError("No queries to run.", fix='pass a list such as ["q-002", "My own message …"]')
    shipped = None
    out, seen = [], set()
    for n, q in enumerate(queries):
        if hasattr(q, "text") and hasattr(q, "id"):
            qid, text = str(q.id), q.text
        elif isinstance(q, str) and q.strip():
            if shipped is None:
                from workbench.corpora import load_queries

                shipped = {x.id: x for x in load_queries()}
            if q.strip() in shipped:
                qid, text = q.strip(), shipped[q.strip()].text
            else:
                qid, text = f"own-{n + 1}", q.strip()
        else:
            raise WorkbenchError(f"Query {n} is not usable: {q!r:.60}", where=f"queries[{n}]",
                                 fix="give message text, a shipped query id such as q-002, or a Query record")
        if qid in seen:
            continue
        seen.add(qid)
        out.append({"id": qid, "text": text})
    return out


def _variants(variants) -> dict[str, str]:
    if not isinstance(variants, dict) or not variants:
        raise WorkbenchError("No prompt variants to run.",
                             fix='pass a dict such as {"baseline": "You are …", "mine": "You are …"}')
    out = {}
    for name, text in variants.items():
        if not isinstance(name, str) or not name.strip():
            raise WorkbenchError(f"Variant name {name!r} is empty.", fix="give every variant a short name")
        if not isinstance(text, str):
            raise WorkbenchError(f"Variant {name!r} is not text.", where=f"variants[{name!r}]",
                                 fix="give the system prompt as a string ('' for none)")
        out[name.strip()] = text.strip()
    return out


def run_grid(variants: dict[str, str], queries: Sequence, *, model: str | None = None, max_new_tokens: int = 96,
             progress: Callable[[int, int], None] | None = None, cancel: threading.Event | None = None,
             locale: str | None = None) -> Grid:
    """Answer every query under every variant's system prompt; score each answer on T-BARS.

    ``variants`` maps a short name to a system prompt ('' runs the bare model). ``queries`` holds
    message text, shipped query ids (``"q-002"``) or ``corpora.Query`` records. ``progress(done,
    total)`` is called after each cell; ``cancel`` (a threading.Event) stops between and inside
    generations, and the grid then holds the finished cells with ``complete=False``.
    """
    from workbench.models import get_generator
    from workbench.rubric import load_rubric
    from workbench.safety import screen

    variants = _variants(variants)
    qs = _queries(queries)
    if not isinstance(max_new_tokens, int) or max_new_tokens < 1:
        raise WorkbenchError(f"max_new_tokens={max_new_tokens!r}.", fix="use a positive whole number, e.g. 96")
    gen = get_generator(model)
    dims = [d.id for d in load_rubric().dimensions]
    screens = {q["id"]: screen(q["text"], locale=locale) for q in qs}
    total, done = len(variants) * len(qs), 0
    cells: list[Cell] = []
    if progress:
        progress(0, total)
    for vname, system in variants.items():
        for start in range(0, len(qs), BATCH):
            if cancel is not None and cancel.is_set():
                break
            batch = qs[start:start + BATCH]
            t0 = time.monotonic()
            outs = gen.chat_many([([{"role": "system", "content": system}] if system else [])
                                  + [{"role": "user", "content": q["text"]}] for q in batch],
                                 max_new_tokens=max_new_tokens, cancel=cancel, truncate="oldest", batch_size=BATCH)
            share = round((time.monotonic() - t0) / len(batch), 2)
            for q, c in zip(batch, outs, strict=True):
                if c.finish_reason == "cancelled":
                    break
                cells.append(_cell(vname, q, c, screens[q["id"]], share, locale))
                done += 1
                if progress:
                    progress(done, total)
        if cancel is not None and cancel.is_set():
            break
    return Grid(variants, qs, cells, model=getattr(gen, "name", model or ""), max_new_tokens=max_new_tokens,
                complete=len(cells) == total, created=time.strftime("%Y-%m-%dT%H:%M:%S"), dimensions=dims)


def _cell(variant: str, q: dict, c, risk, seconds: float, locale: str | None) -> Cell:
    """One answer through the agent's output policy (guard), scored on T-BARS."""
    from workbench.rubric import default_scores
    from workbench.safety import guard_reply

    answer, guard, _ = guard_reply(q["text"], c.text.strip(), risk, locale=locale)
    replaced = "; ".join(f["problem"] for f in guard["scope"]) or (
        f"the draft screened as risk ({guard['screen']['level']})" if guard["screen"]["risk"] else "")
    if risk.risk and risk.level == "imminent" and risk.subject == "self":
        replaced = replaced or "imminent risk: the agent's fixed follow-up"
    s = default_scores([(q["text"], answer)], risk)[0]
    return Cell(variant, q["id"], q["text"], answer, dict(s.scores), s.mean, risk.risk, risk.level, risk.risk,
                replaced, c.completion_tokens, seconds, dict(s.evidence))


def summary_figure(grid: Grid, goal: str | None = None):
    """Grouped bars: each variant's mean per dimension; the goal dimension's label is marked."""
    import plotly.graph_objects as go

    s = grid.summary()
    labels = [f"<b>{d} ★</b>" if d == goal else d for d in grid.dimensions]
    fig = go.Figure([go.Bar(name=v, x=labels, y=[s.loc[v, d] for d in grid.dimensions]) for v in s.index])
    fig.update_layout(barmode="group", height=320, margin={"l": 40, "r": 10, "t": 30, "b": 40},
                      yaxis={"range": [0, 5.2], "title": "T-BARS (features), 1-5"}, title="Mean score per variant")
    return fig


# ---- the user's prompt library --------------------------------------------------------------------
def save_prompt(name: str, text: str, note: str = "", author: str = "", *, purpose: str | None = None):
    """Add or update prompt ``name`` in exports/prompts/library.yaml (atomic); returns the Prompt record.

    A shipped prompt id is refused: the shipped library is the shared reference every result cites.
    """
    import yaml

    from workbench import io
    from workbench.corpora import Prompt, load_prompts, read_yaml, user_prompts_path

    name = (name or "").strip()
    if not _ID.match(name):
        raise WorkbenchError(f"{name!r} is not a usable prompt id.", where="save_prompt(name=…)",
                             fix="use lower-case letters, digits and '-', e.g. socratic-warmer (at most 64)")
    if not isinstance(text, str) or not text.strip():
        raise WorkbenchError(f"Prompt {name!r} has no text.", fix="write the system prompt before saving it")
    shipped = load_prompts(paths.corpora_dir() / "prompts" / "library.yaml")
    if name in shipped:
        raise WorkbenchError(f"{name!r} is a shipped prompt; the shipped library is not overwritten, so that "
                             "every saved result keeps meaning the same prompt.", where="corpora/prompts/library.yaml",
                             fix=f"save your variant under a new id, e.g. {name}-mine")
    note = (note or "").strip()
    first = note.splitlines()[0] if note else ""
    entry = {"id": name, "purpose": (purpose or first or "Saved from the prompt lab.").strip(),
             "text": text.strip(), "note": note, "author": (author or "").strip(),
             "saved": time.strftime("%Y-%m-%dT%H:%M:%S")}
    path = user_prompts_path()
    with _SAVE_LOCK:
        prompts = []
        if path.is_file():
            data = read_yaml(path) or {}
            prompts = [_plain(p) for p in (data.get("prompts") or []) if isinstance(p, dict)]
        for i, p in enumerate(prompts):
            if p.get("id") == name:
                prompts[i] = entry
                break
        else:
            prompts.append(entry)
        head = "# Prompts saved from the prompt lab. The shipped library is corpora/prompts/library.yaml.\n"
        io.write_text(path, head + yaml.dump({"prompts": prompts}, Dumper=_dumper(), sort_keys=False,
                                             allow_unicode=True, width=100))
    return Prompt(name, entry["purpose"], entry["text"], "user", note, entry["author"])


def _plain(obj):
    if isinstance(obj, dict):
        return {k: _plain(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_plain(v) for v in obj]
    return obj


def _dumper():
    import yaml

    class Dumper(yaml.SafeDumper):
        pass

    def text(dumper, s):  # multi-line prompts stay readable as YAML block text
        return dumper.represent_scalar("tag:yaml.org,2002:str", s, style="|" if "\n" in s else None)

    Dumper.add_representer(str, text)
    return Dumper
