"""Baseline comparison: run the ablation configurations over a query set and compare them (issue #7).

Configurations (each one an :class:`~workbench.agent.AgentConfig` preset on a model):

==============  ============================  =====================================================
``base``        preset ``base``               the model with the baseline prompt
``prompted``    preset ``prompted``           the coTherapist prompt, no retrieval, no safety
``lora``        preset ``prompted``           as ``prompted``, on the merged adapter ``cotherapist``
``rag``         preset ``rag``                ``prompted`` + retrieval with citations (base model)
``cotherapist`` preset ``cotherapist``        the full agent (safety, facts, drafts, critique)
                                              on the merged adapter ``cotherapist``
==============  ============================  =====================================================

``lora`` and ``cotherapist`` need the adapter ``cotherapist`` (shipped for the default model; for another, trained by
``workbench finetune --name cotherapist --model …``);
it is merged once into ``exports/models/cotherapist`` so the model registry loads it by name.

Per (query, configuration) the run saves the response, its trace and its scores, one
:class:`~workbench.results.EvalRow` line of ``DIR/results.jsonl`` each (appended as it goes, so a
killed run resumes where it stopped), the traces in ``DIR/traces.jsonl``, the queries in
``DIR/queries.jsonl`` (so :func:`rescore` needs neither the original file nor a generator) and
``DIR/summary.json``. The metrics are described in :mod:`workbench.results`.

Under ``accelerate launch --multi_gpu --num_processes N -m workbench.cli evaluate`` (or torchrun) the
processes split the pairs not yet done (see :mod:`workbench.scaleout`): each appends to its own
``results.rankR.jsonl`` and ``traces.rankR.jsonl``, and the main process, which alone checks and writes the
settings and trains the adapter, merges them at the end in the order one process would have written.
"""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from workbench import io, paths, scaleout
from workbench.errors import WorkbenchError
from workbench.results import N_BOOT, SEED, EvalRow, score_rows, summarise, summary_frame, timing
from workbench.rubric import DEFAULT_SCORERS

__all__ = ["ADAPTER", "CONFIGS", "EvalRun", "ensure_adapter_model", "evaluate", "load_run", "new_run_dir",
           "read_rows", "rescore"]

CONFIGS: dict[str, tuple[str, bool]] = {  # name -> (AgentConfig preset, uses the adapter)
    "base": ("base", False),
    "prompted": ("prompted", False),
    "lora": ("prompted", True),
    "rag": ("rag", False),
    "cotherapist": ("cotherapist", True),
}
ADAPTER = "cotherapist"
BATCH = 8  # queries a process answers at once: their model calls decode together (models.batching)
_RESUME_FIX = "delete that line; the run resumes and regenerates it"


@dataclass
class EvalRun:
    """What :func:`evaluate` (or :func:`rescore`) leaves: where, how far, the rows and the summary."""

    out_dir: str
    status: str  # done | cancelled
    done: int
    total: int
    rows: list[EvalRow] = field(default_factory=list)
    summary: dict = field(default_factory=dict)
    wall_s: float = 0.0
    rank: int = 0  # under accelerate launch: this process (only rank 0 merges and summarises)

    def frame(self):
        """One row per (query, configuration) with every score."""
        import pandas as pd

        return pd.DataFrame([{k: v for k, v in r.to_dict().items() if k not in ("tbars", "evidence")} | r.tbars
                             for r in self.rows])

    def table(self):
        return summary_frame(self.summary)


# ---- configurations and the adapter -------------------------------------------------------------
def _check_configs(configs: Sequence[str]) -> list[str]:
    configs = [c.strip() for c in (configs.split(",") if isinstance(configs, str) else configs) if c.strip()]
    unknown = [c for c in configs if c not in CONFIGS]
    if unknown or not configs:
        raise WorkbenchError(f"Unknown evaluation configuration(s) {unknown or configs}.",
                             fix=f"use some of {', '.join(CONFIGS)}, e.g. --configs base,cotherapist")
    return list(dict.fromkeys(configs))


def ensure_adapter_model(model: str | None = None, *, train_missing: bool = False, cancel=None) -> str | None:
    """The registry name of base + adapter ``cotherapist`` merged; trains (if asked) and merges as needed.

    Returns None when training was cancelled.
    """
    from workbench import finetune
    from workbench.models import resolve

    base = resolve(model).name
    adir = finetune.adapter_dir(ADAPTER)
    how = f"workbench finetune --name {ADAPTER}" + (f" --model {model}" if model else "")
    if not finetune.has_adapter(ADAPTER, base):
        if finetune.has_adapter(ADAPTER) and not train_missing:
            other = finetune.read_manifest(ADAPTER).get("base_model")
            raise WorkbenchError(f"The adapter {ADAPTER!r} was trained on {other!r}, but this evaluation compares "
                                 f"against {base!r}.", where=str(adir),
                                 fix=f"train one on this model ({how}, or --train-missing) or pass --model {other}")
        if not train_missing:
            raise WorkbenchError(f"The lora and cotherapist configurations need the adapter {ADAPTER!r}, "
                                 "which has not been trained.", where=str(adir),
                                 fix=f"train it first: {how}   (or pass train_missing=True / --train-missing)")
        r = finetune.train(finetune.TrainConfig(name=ADAPTER, model=model), cancel=cancel)
        if r.status != "done":
            return None
    return finetune.merged_model(ADAPTER)


# ---- files --------------------------------------------------------------------------------------
def read_rows(path: str | Path) -> list[EvalRow]:
    """The rows of a results.jsonl ([] when there is none yet); a bad line is named at file:line."""
    return io.read_jsonl(path, EvalRow, missing_ok=True, fix=_RESUME_FIX)


def new_run_dir() -> Path:
    """A fresh folder per run; the suffix keeps two runs started in the same second apart."""
    import secrets

    return paths.exports_dir() / "evaluations" / f"{time.strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(2)}"


def _start(out: Path, settings: dict) -> None:
    """Refuse to resume into a folder that holds a run with other settings."""
    out.mkdir(parents=True, exist_ok=True)
    run_file = out / "run.json"
    if run_file.is_file():
        old = json.loads(run_file.read_text())
        clash = {k: (old.get(k), v) for k, v in settings.items() if old.get(k) != v}
        if clash:
            raise WorkbenchError(f"{out} holds a run with other settings: {clash} (saved, asked).", where=str(run_file),
                                 fix="use a new --out directory, or the same settings to resume")


def _query_map(queries) -> dict[str, dict]:
    """These queries by id, with what rescoring needs."""
    return {q.id: {"id": q.id, "text": q.text, "risk": q.risk, "key_points": q.key_points,
                   "relevant_cards": q.relevant_cards, "speaker": q.speaker, "topic": q.topic} for q in queries}


def _save_queries(out: Path, qmap: dict[str, dict]) -> None:
    """Write queries.jsonl (what rescoring needs), keeping queries saved by earlier calls."""
    saved = {q["id"]: q for q in io.read_jsonl(out / "queries.jsonl", missing_ok=True, fix=_RESUME_FIX)}
    io.write_jsonl(out / "queries.jsonl", list((saved | qmap).values()))


def _merge(out: Path, pairs: list[tuple[str, str]]) -> dict[int, int]:
    """Fold the processes' shards into results.jsonl and traces.jsonl: rows in the order of ``pairs``
    (configuration, query id), traces in the order of their rows. Rows added per rank ({} if no shards)."""
    at = {p: i for i, p in enumerate(pairs)}
    added = scaleout.merge(out, "results.jsonl", key=lambda r: (r.get("query_id"), r.get("config")),
                           order=lambda r: at.get((r.get("config"), r.get("query_id")), len(at)))
    pos = {r.trace_id: i for i, r in enumerate(read_rows(out / "results.jsonl"))}
    scaleout.merge(out, "traces.jsonl", key=lambda s: s.get("trace_id"),
                   order=lambda s: pos.get(s.get("trace_id"), len(pos)))
    return added


def _finish(out: Path, rows: list[EvalRow], configs: Sequence[str], meta: dict, n_boot: int, seed: int) -> dict:
    summary = summarise(rows, configs, n_boot=n_boot, seed=seed)
    summary.update(meta)
    io.write_json(out / "summary.json", summary)
    return summary


# ---- entry points -------------------------------------------------------------------------------
def evaluate(queries, configs: Sequence[str] | str = ("base", "cotherapist"), *, model: str | None = None,
             backend: str = "torch", out: str | Path | None = None,
             progress: Callable[[int, int], None] | None = None, cancel=None, train_missing: bool = False,
             max_new_tokens: int = 200, scorers: Sequence[str] = DEFAULT_SCORERS, keypoint_method: str = "embedding",
             limit: int | None = None, n_boot: int = N_BOOT, seed: int = SEED) -> EvalRun:
    """Run each configuration over the queries; write DIR/results.jsonl, traces.jsonl and summary.json.

    ``queries``: a path to JSONL (at least id and text), a list of corpora.Query, or None for the
    shipped query set. ``progress(done, total)`` is called after every item and ``cancel`` (a
    threading.Event) is checked between items. A second call with the same ``out`` skips the (query,
    configuration) pairs already saved, in results.jsonl or in a shard a killed launch left.

    Launched as several processes, each runs its share of the pairs still to do; ``progress`` counts this
    process's pairs (rank 0's include those done before), and only rank 0 returns the merged rows and the
    summary (the others return their own rows, ``summary={}``).
    """
    from concurrent.futures import ThreadPoolExecutor

    from workbench.agent import Agent, AgentConfig
    from workbench.corpora import Query, load_queries
    from workbench.models import get_generator, resolve
    from workbench.models.batching import Batcher
    from workbench.safety import screen

    t0 = time.perf_counter()
    world = scaleout.world()
    configs = _check_configs(configs)
    if queries is None or isinstance(queries, (str, Path)):
        queries = load_queries(queries)  # strict: the first bad line raises, naming file:line
    queries = [q if isinstance(q, Query) else Query(**q) for q in queries][:limit]
    if not queries:
        raise WorkbenchError("No queries to evaluate.", fix="pass a JSONL file with at least id and text per line")
    base_name = resolve(model).name
    asked = out
    out = world.from_main(lambda: Path(asked) if asked else new_run_dir())  # one folder: the main process's
    io.check_writable(out)  # before any model loads or answers: a write failing at the end loses them
    settings = {"model": base_name, "backend": backend, "max_new_tokens": max_new_tokens}
    needs_adapter = any(CONFIGS[c][1] for c in configs)
    qmap = _query_map(queries)
    pairs = list(dict.fromkeys((c, q.id) for c in configs for q in queries))  # the order one process runs

    def prepare() -> str | None:  # once, on the main process, while the others wait
        _start(out, settings)
        adapter = ensure_adapter_model(model, train_missing=train_missing, cancel=cancel) if needs_adapter else None
        io.write_json(out / "run.json", settings | {"configs": configs, "scorers": list(scorers),
                                                    "keypoint_method": keypoint_method, "adapter": adapter})
        _save_queries(out, qmap)
        _merge(out, pairs)  # the shards of a killed launch first: their rows are done
        return adapter

    adapter_model = world.from_main(prepare)
    if not world.is_main:
        _start(out, settings)  # read only: every process was launched with the same settings
    done_pairs = {(r.config, r.query_id) for r in read_rows(out / "results.jsonl")}
    todo = [p for p in pairs if p not in done_pairs]
    mine = world.share(todo)
    done = len(pairs) - len(todo) if world.is_main else 0
    total = done + len(mine)
    if progress:
        progress(done, total)
    results, traces = world.shard(out, "results.jsonl"), world.shard(out, "traces.jsonl")
    by_id = {q.id: q for q in queries}
    risk_of: dict[str, bool] = {}
    rows: list[EvalRow] = []
    status = "cancelled" if needs_adapter and adapter_model is None else "done"
    for c, share in itertools.groupby(mine if status == "done" else [], key=lambda p: p[0]):  # a model at a time
        preset, adapted = CONFIGS[c]
        cfg = AgentConfig.preset(preset)
        cfg.max_new_tokens = max_new_tokens
        gen = Batcher(get_generator(adapter_model if adapted else model, backend), BATCH)
        agent, todo_qs = Agent(config=cfg, gen=gen), [by_id[qid] for _, qid in share]
        for q in todo_qs:  # here, before the threads: the first screen() loads the screen once
            risk_of.setdefault(q.id, bool(q.risk or screen(q.text).risk))
        pool = ThreadPoolExecutor(BATCH)  # BATCH queries at once: their model calls are decoded together
        try:
            first = [agent.run(todo_qs[0].text, cancel=cancel)]  # alone: what the agent loads lazily loads once
            traces_in_order = itertools.chain(first, pool.map(lambda q, a=agent: a.run(q.text, cancel=cancel),
                                                              todo_qs[1:]))
            for q, trace in zip(todo_qs, traces_in_order, strict=True):
                if trace is None:  # stopped inside its run; answers finished by then are kept, this one is not
                    status = "cancelled"
                    continue
                trace.save(traces, append=True)
                row = EvalRow(q.id, c, gen.name or (adapter_model if adapted else base_name), preset, q.text,
                              trace.answer, trace.trace_id, risk_of[q.id], **timing(trace))
                score_rows([row], qmap, scorers, keypoint_method)
                io.append_jsonl(results, row)
                rows.append(row)
                done += 1
                if progress:
                    progress(done, total)
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
        if status == "cancelled" or (cancel is not None and cancel.is_set()):
            status = "cancelled"
            break
    world.barrier()  # every shard is complete
    if not world.is_main:
        return EvalRun(str(out), status, done, total, rows, {}, round(time.perf_counter() - t0, 2), world.rank)
    by_rank = _merge(out, pairs) or {0: len(rows)}  # one process appended to results.jsonl itself
    wanted = set(pairs)
    rows = [r for r in read_rows(out / "results.jsonl") if (r.config, r.query_id) in wanted]
    status = "done" if status == "done" and len(rows) == len(pairs) else "cancelled"
    meta = {"status": status, "done": len(rows), "total": len(pairs), "model": base_name, "backend": backend,
            "scorers": list(scorers), "keypoint_method": keypoint_method, "n_boot": n_boot, "seed": seed,
            "processes": world.size, "pairs_by_rank": [by_rank.get(r, 0) for r in range(world.size)]}
    summary = _finish(out, rows, configs, meta, n_boot, seed)
    return EvalRun(str(out), status, len(rows), len(pairs), rows, summary, round(time.perf_counter() - t0, 2))


def rescore(out_dir: str | Path, *, scorers: Sequence[str] = DEFAULT_SCORERS, keypoint_method: str = "embedding",
            n_boot: int = N_BOOT, seed: int = SEED) -> EvalRun:
    """Score a saved run again from its responses (no generator), rewriting results.jsonl and summary.json."""
    t0 = time.perf_counter()
    out = Path(out_dir)
    rows = read_rows(out / "results.jsonl")
    if not rows:
        raise WorkbenchError(f"No saved results in {out}.", where=str(out / "results.jsonl"),
                             fix="run workbench evaluate --out DIR first")
    qmap = {q["id"]: q for q in io.read_jsonl(out / "queries.jsonl", missing_ok=True, fix=_RESUME_FIX)}
    missing = sorted({r.query_id for r in rows} - set(qmap))
    if missing:
        raise WorkbenchError(f"queries.jsonl lacks {len(missing)} queries of the results, e.g. {missing[0]!r}.",
                             where=str(out / "queries.jsonl"), fix="rerun the evaluation into this directory")
    score_rows(rows, qmap, scorers, keypoint_method)
    io.write_jsonl(out / "results.jsonl", rows)
    try:
        run = json.loads((out / "run.json").read_text())
    except (OSError, ValueError):
        run = {}
    configs = [c for c in run.get("configs", []) if any(r.config == c for r in rows)] or None
    meta = {"status": "rescored", "done": len(rows), "total": len(rows), "model": run.get("model"),
            "backend": run.get("backend"), "scorers": list(scorers), "keypoint_method": keypoint_method,
            "n_boot": n_boot, "seed": seed}
    summary = _finish(out, rows, configs or list(dict.fromkeys(r.config for r in rows)), meta, n_boot, seed)
    return EvalRun(str(out), "rescored", len(rows), len(rows), rows, summary, round(time.perf_counter() - t0, 2))


def load_run(out_dir: str | Path) -> EvalRun:
    """A saved run as an EvalRun (rows + summary), without scoring anything."""
    out = Path(out_dir)
    summary = json.loads((out / "summary.json").read_text()) if (out / "summary.json").is_file() else {}
    rows = read_rows(out / "results.jsonl")
    return EvalRun(str(out), summary.get("status", "?"), len(rows), summary.get("total", len(rows)), rows, summary)
