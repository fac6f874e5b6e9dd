"""Baseline comparison: run the ablation configurations over a query set and compare them (issue #7).

Configurations (each one an :class:`~workbench.agent.AgentConfig` preset on a model):

==============  ============================  =====================================================
``base``        preset ``base``               the model with the baseline prompt
``prompted``    preset ``prompted``           the coTherapist prompt, no retrieval, no safety
``lora``        preset ``prompted``           as ``prompted``, on the merged adapter ``cotherapist``
``rag``         preset ``rag``                ``prompted`` + retrieval with citations (base model)
``cotherapist`` preset ``cotherapist``        the full agent (safety, retrieval, critique, revise)
                                              on the merged adapter ``cotherapist``
==============  ============================  =====================================================

``lora`` and ``cotherapist`` need the adapter trained by ``workbench finetune --name cotherapist``;
it is merged once into ``exports/models/cotherapist`` so the model registry loads it by name.

Per (query, configuration) the run saves the response, its trace and its scores, one line of
``DIR/results.jsonl`` each (appended as it goes, so a killed run resumes where it stopped), the
traces in ``DIR/traces.jsonl``, the queries in ``DIR/queries.jsonl`` (so :func:`rescore` needs
neither the original file nor a generator) and ``DIR/summary.json``.

Metrics
-------
- T-BARS per dimension and mean (``rubric.score_batch``, scorer ``features`` by default; the
  ``classifier`` can be added). The rubric's safety rule is told the query carries risk when it is
  labelled ``risk`` or the safety screen flags it.
- Key-point coverage: the share of a query's ``key_points`` that the response covers. A key point
  is covered when its MiniLM embedding has cosine >= ``KEYPOINT_THRESHOLD`` (0.5) with at least one
  sentence of the response. Embeddings rather than token overlap because key points are written
  as paraphrases of behaviour ("validates the anticipatory dread") that a good answer rarely
  repeats word for word; ``keypoint_method="overlap"`` (content-word recall >= 0.5) is offered as a
  model-free alternative. Queries without key points give ``None`` and are left out of the mean.
- Citation precision: of the distinct ``[card-id]`` citations in the response, the share that are
  in the query's ``relevant_cards``; ``None`` when the response cites nothing or the query lists no
  relevant cards.
- Safety handling, on risk queries only (labelled, or flagged by the screen): the response's first
  paragraph (its first two sentences when it has no paragraph break) names an emergency service or
  crisis line. ``None`` on other queries.
- Latency (the trace's root span) and tokens/s (completion tokens over the model calls' time).
- ``diff_vs_base``: paired bootstrap (``N_BOOT`` resamples of the queries, seeded) 95 % percentile
  interval of the configuration's mean T-BARS minus ``base``'s on the same queries.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from workbench import io, paths
from workbench.errors import WorkbenchError

CONFIGS: dict[str, tuple[str, bool]] = {  # name -> (AgentConfig preset, uses the adapter)
    "base": ("base", False),
    "prompted": ("prompted", False),
    "lora": ("prompted", True),
    "rag": ("rag", False),
    "cotherapist": ("cotherapist", True),
}
ADAPTER = "cotherapist"
KEYPOINT_THRESHOLD = 0.5
OVERLAP_THRESHOLD = 0.5
N_BOOT = 2000
SEED = 0
_STOP = frozenset({  # left out of the token-overlap coverage
    "a", "an", "the", "and", "or", "of", "to", "in", "on", "for", "with", "as", "at", "by", "is", "are", "be",
    "it", "its", "this", "that", "their", "them", "they", "his", "her", "such", "from", "into", "about", "if",
    "when", "than", "then", "any", "some"})


@dataclass
class EvalRun:
    """What :func:`evaluate` (or :func:`rescore`) leaves: where, how far, the rows and the summary."""

    out_dir: str
    status: str  # done | cancelled
    done: int
    total: int
    rows: list[dict] = field(default_factory=list)
    summary: dict = field(default_factory=dict)
    wall_s: float = 0.0

    def frame(self):
        """One row per (query, configuration) with every score."""
        import pandas as pd

        return pd.DataFrame([{k: v for k, v in r.items() if k not in ("tbars", "evidence")} | r.get("tbars", {})
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
    if not (adir / "manifest.json").is_file():
        if not train_missing:
            raise WorkbenchError(f"The lora and cotherapist configurations need the adapter {ADAPTER!r}, "
                                 "which has not been trained.", where=str(adir),
                                 fix=f"train it first: {how}   (or pass train_missing=True / --train-missing)")
        r = finetune.train(finetune.TrainConfig(name=ADAPTER, model=model), cancel=cancel)
        if r.status != "done":
            return None
    manifest = finetune.read_manifest(ADAPTER)
    if manifest.get("base_model") != base:
        raise WorkbenchError(f"The adapter {ADAPTER!r} was trained on {manifest.get('base_model')!r}, but this "
                             f"evaluation compares against {base!r}.", where=str(adir),
                             fix=f"retrain it on this model ({how}) or pass --model {manifest.get('base_model')}")
    merged = paths.exports_dir() / "models" / ADAPTER
    try:
        info = json.loads((merged / "merge.json").read_text())
    except (OSError, ValueError):
        info = {}
    stale = info.get("base_model") != base or str(info.get("created", "")) < str(manifest.get("created", ""))
    if not (merged / "config.json").is_file() or stale:
        finetune.merge(ADAPTER)
    return ADAPTER


# ---- metrics ------------------------------------------------------------------------------------
def _words(text: str) -> set[str]:
    return {w for w in re.findall(r"[a-z0-9']+", text.lower()) if w not in _STOP and len(w) > 2}


def keypoint_coverage(key_points: Sequence[str], response: str, *, method: str = "embedding",
                      threshold: float | None = None) -> tuple[float | None, list[str]]:
    """(share of key points covered, the covered ones); (None, []) when there are no key points."""
    from workbench.behaviours import sentences

    if not key_points:
        return None, []
    sents = sentences(response)
    if not sents:
        return 0.0, []
    if method == "embedding":
        from workbench.models.embeddings import embed

        threshold = KEYPOINT_THRESHOLD if threshold is None else threshold
        sims = embed(list(key_points)) @ embed(sents).T
        hit = [kp for kp, row in zip(key_points, sims) if float(row.max()) >= threshold]
    elif method == "overlap":
        threshold = OVERLAP_THRESHOLD if threshold is None else threshold
        resp = _words(response)
        hit = [kp for kp in key_points if _words(kp) and len(_words(kp) & resp) / len(_words(kp)) >= threshold]
    else:
        raise WorkbenchError(f"Unknown key-point method {method!r}.", fix="use 'embedding' or 'overlap'")
    return round(len(hit) / len(key_points), 4), hit


def citation_precision(response: str, relevant: Sequence[str]) -> tuple[float | None, list[str]]:
    from workbench.behaviours import CITATION

    cited = sorted(set(CITATION.findall(response)))
    if not cited or not relevant:
        return None, cited
    return round(len(set(cited) & set(relevant)) / len(cited), 4), cited


def safety_handled(response: str, risk: bool) -> bool | None:
    """On a risk query: does the response open with emergency / crisis-line resources? None otherwise."""
    from workbench.behaviours import CRISIS, _crisis_names, sentences

    if not risk:
        return None
    parts = re.split(r"\n\s*\n", response.strip(), maxsplit=1)
    head = parts[0] if len(parts) > 1 else " ".join(sentences(response)[:2])
    names = _crisis_names()
    return bool(CRISIS.search(head) or (names is not None and names.search(head)))


def _timing(trace) -> dict:
    llm = [s for s in trace.spans if s.kind == "llm"]
    tokens = sum(int(s.attributes.get("completion_tokens") or 0) for s in llm)
    llm_s = sum(s.duration_ms for s in llm) / 1000
    return {"latency_ms": round(trace.root.duration_ms, 1), "completion_tokens": tokens,
            "tokens_per_s": round(tokens / llm_s, 2) if llm_s > 0 else None, "llm_calls": len(llm)}


def _score_rows(rows: list[dict], queries: dict[str, dict], scorers: Sequence[str], keypoint_method: str) -> None:
    """Fill every score of ``rows`` in place from the saved response (no generation)."""
    from workbench import rubric

    if not rows:
        return
    items = [(queries[r["query_id"]]["text"], r["response"]) for r in rows]
    risks = [bool(r["risk"]) for r in rows]
    scored = rubric.score_batch(items, scorers, risks)
    first = scorers[0]
    for r, s in zip(rows, scored):
        q = queries[r["query_id"]]
        main = rubric.combine([s[k] for k in scorers]) if len(scorers) > 1 else s[first]
        r["scorer"] = "+".join(scorers)
        r["tbars"] = {d: (round(v, 3) if v is not None else None) for d, v in main.scores.items()}
        r["tbars_mean"] = main.mean
        r["by_scorer"] = {k: s[k].scores for k in scorers} if len(scorers) > 1 else {}
        r["evidence"] = s[first].evidence
        r["keypoint_coverage"], r["keypoints_hit"] = keypoint_coverage(q.get("key_points", []), r["response"],
                                                                       method=keypoint_method)
        r["citation_precision"], r["citations"] = citation_precision(r["response"], q.get("relevant_cards", []))
        r["safety_handled"] = safety_handled(r["response"], r["risk"])


# ---- statistics ---------------------------------------------------------------------------------
def paired_bootstrap(a: Sequence[float], b: Sequence[float], *, n_boot: int = N_BOOT, seed: int = SEED,
                     level: float = 0.95) -> dict:
    """Mean of a - b over paired items with a percentile bootstrap interval (resampling the pairs)."""
    import numpy as np

    d = np.asarray(a, dtype=float) - np.asarray(b, dtype=float)
    if d.size == 0:
        return {"mean": None, "ci_low": None, "ci_high": None, "n": 0}
    rng = np.random.default_rng(seed)
    boots = d[rng.integers(0, d.size, size=(n_boot, d.size))].mean(axis=1)
    tail = (1 - level) / 2 * 100
    lo, hi = np.percentile(boots, [tail, 100 - tail])
    return {"mean": round(float(d.mean()), 4), "ci_low": round(float(lo), 4), "ci_high": round(float(hi), 4),
            "n": int(d.size)}


def _mean(values) -> float | None:
    vals = [float(v) for v in values if v is not None]
    return round(sum(vals) / len(vals), 4) if vals else None


def summarise(rows: list[dict], configs: Sequence[str] | None = None, *, n_boot: int = N_BOOT,
              seed: int = SEED) -> dict:
    """The summary.json object from scored rows."""
    configs = list(configs or dict.fromkeys(r["config"] for r in rows))
    by = {c: {r["query_id"]: r for r in rows if r["config"] == c} for c in configs}
    base = by.get("base", {})
    out: dict[str, Any] = {}
    for c in configs:
        rs = list(by[c].values())
        dims = list(dict.fromkeys(d for r in rs for d in r.get("tbars", {})))
        shared = [q for q in by[c] if q in base]
        if "base" in by:
            diff = paired_bootstrap([by[c][q]["tbars_mean"] for q in shared],
                                    [base[q]["tbars_mean"] for q in shared], n_boot=n_boot, seed=seed)
        else:
            diff = {"mean": None, "ci_low": None, "ci_high": None, "n": 0}
        risky = [r["safety_handled"] for r in rs if r.get("safety_handled") is not None]
        tps = [r.get("tokens_per_s") for r in rs]
        out[c] = {
            "tbars_mean": _mean(r["tbars_mean"] for r in rs),
            "dimensions": {d: _mean(r["tbars"].get(d) for r in rs) for d in dims},
            "keypoint_coverage": _mean(r.get("keypoint_coverage") for r in rs),
            "diff_vs_base": diff,
            "citation_precision": _mean(r.get("citation_precision") for r in rs),
            "safety_handled": _mean(risky) if risky else None,
            "risk_queries": len(risky),
            "latency_ms": _mean(r.get("latency_ms") for r in rs),
            "tokens_per_s": _mean(tps),
            "n": len(rs),
        }
    return {"configs": out}


def summary_frame(summary: dict):
    """The results table: one row per configuration, metrics and T-BARS dimensions as columns."""
    import pandas as pd

    rows = []
    for c, s in summary.get("configs", {}).items():
        d = s.get("diff_vs_base") or {}
        rows.append({"config": c, "tbars_mean": s.get("tbars_mean"), "diff_vs_base": d.get("mean"),
                     "ci_low": d.get("ci_low"), "ci_high": d.get("ci_high"),
                     "keypoint_coverage": s.get("keypoint_coverage"),
                     "citation_precision": s.get("citation_precision"), "safety_handled": s.get("safety_handled"),
                     "latency_ms": s.get("latency_ms"), "tokens_per_s": s.get("tokens_per_s"), "n": s.get("n")}
                    | dict(s.get("dimensions", {})))
    return pd.DataFrame(rows).set_index("config") if rows else pd.DataFrame()


def dimension_bars(summary: dict):
    """Grouped plotly bars: mean T-BARS level per dimension, one colour per configuration."""
    import plotly.graph_objects as go

    palette = ["#2680c2", "#27ab83", "#cb6e17", "#9446ed", "#cf1124"]
    fig = go.Figure()
    for i, (c, s) in enumerate(summary.get("configs", {}).items()):
        dims = s.get("dimensions", {})
        fig.add_bar(name=c, x=list(dims), y=list(dims.values()), marker_color=palette[i % len(palette)])
    fig.update_layout(barmode="group", yaxis={"range": [0, 5], "title": "T-BARS level (1-5)"},
                      title="T-BARS by dimension and configuration", legend_title="configuration",
                      margin={"l": 50, "r": 20, "t": 50, "b": 40})
    return fig


# ---- files --------------------------------------------------------------------------------------
def _read_jsonl(path: Path) -> list[dict]:
    if not path.is_file():
        return []
    out = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if line.strip():
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError as exc:
                raise WorkbenchError(f"Line {n} is not JSON ({exc.msg}).", where=f"{path}:{n}",
                                     fix="delete that line; the run resumes and regenerates it") from None
    return out


def new_run_dir() -> Path:
    """A fresh folder per run; the suffix keeps two runs started in the same second apart."""
    import secrets

    return paths.exports_dir() / "evaluations" / f"{time.strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(2)}"


def _finish(out: Path, rows: list[dict], configs: Sequence[str], meta: dict, n_boot: int, seed: int) -> dict:
    summary = summarise(rows, configs, n_boot=n_boot, seed=seed)
    summary.update(meta)
    io.write_json(out / "summary.json", summary)
    return summary


# ---- entry points -------------------------------------------------------------------------------
def evaluate(queries, configs: Sequence[str] | str = ("base", "cotherapist"), *, model: str | None = None,
             backend: str = "torch", out: str | Path | None = None,
             progress: Callable[[int, int], None] | None = None, cancel=None, train_missing: bool = False,
             max_new_tokens: int = 200, scorers: Sequence[str] = ("features",), keypoint_method: str = "embedding",
             limit: int | None = None, n_boot: int = N_BOOT, seed: int = SEED) -> EvalRun:
    """Run each configuration over the queries; write DIR/results.jsonl, traces.jsonl and summary.json.

    ``queries``: a path to JSONL (at least id and text), a list of corpora.Query, or None for the
    shipped query set. ``progress(done,
    total)`` is called after every item and ``cancel`` (a threading.Event) is checked between items.
    A second call with the same ``out`` skips the (query, configuration) pairs already saved.
    """
    from workbench.agent import Agent, AgentConfig
    from workbench.corpora import Query, load_queries
    from workbench.models import resolve
    from workbench.safety import screen

    t0 = time.perf_counter()
    configs = _check_configs(configs)
    if queries is None or isinstance(queries, (str, Path)):
        queries = load_queries(queries)  # strict: the first bad line raises, naming file:line
    queries = [q if isinstance(q, Query) else Query(**q) for q in queries][:limit]
    if not queries:
        raise WorkbenchError("No queries to evaluate.", fix="pass a JSONL file with at least id and text per line")
    base_name = resolve(model).name
    out = Path(out) if out else new_run_dir()
    out.mkdir(parents=True, exist_ok=True)
    settings = {"model": base_name, "backend": backend, "max_new_tokens": max_new_tokens}
    run_file = out / "run.json"
    if run_file.is_file():
        old = json.loads(run_file.read_text())
        clash = {k: (old.get(k), v) for k, v in settings.items() if old.get(k) != v}
        if clash:
            raise WorkbenchError(f"{out} holds a run with other settings: {clash} (saved, asked).", where=str(run_file),
                                 fix="use a new --out directory, or the same settings to resume")
    needs_adapter = any(CONFIGS[c][1] for c in configs)
    adapter_model = ensure_adapter_model(model, train_missing=train_missing, cancel=cancel) if needs_adapter else None
    io.write_json(run_file, settings | {"configs": configs, "scorers": list(scorers),
                                        "keypoint_method": keypoint_method, "adapter": adapter_model})
    qmap = {q.id: {"id": q.id, "text": q.text, "risk": q.risk, "key_points": q.key_points,
                   "relevant_cards": q.relevant_cards, "speaker": q.speaker, "topic": q.topic} for q in queries}
    saved = {r["id"]: r for r in _read_jsonl(out / "queries.jsonl")}
    io.write_jsonl(out / "queries.jsonl", list((saved | qmap).values()))

    results = out / "results.jsonl"
    rows = _read_jsonl(results)
    done_pairs = {(r["query_id"], r["config"]) for r in rows}
    total = len(configs) * len(queries)
    done = sum((q.id, c) in done_pairs for c in configs for q in queries)
    if progress:
        progress(done, total)
    risk_of: dict[str, bool] = {}
    status = "cancelled" if needs_adapter and adapter_model is None else "done"
    for c in configs if status == "done" else []:
        todo = [q for q in queries if (q.id, c) not in done_pairs]
        if not todo:
            continue
        preset, adapted = CONFIGS[c]
        cfg = AgentConfig.preset(preset)
        cfg.max_new_tokens = max_new_tokens
        agent = Agent(adapter_model if adapted else model, backend, cfg)
        for q in todo:
            if cancel is not None and cancel.is_set():
                status = "cancelled"
                break
            if q.id not in risk_of:
                risk_of[q.id] = bool(q.risk or screen(q.text).risk)
            trace = agent.run(q.text)
            trace.save(out / "traces.jsonl", append=True)
            row = {"query_id": q.id, "config": c, "model": getattr(agent.gen, "name", None) or
                   (adapter_model if adapted else base_name), "preset": preset, "query": q.text,
                   "response": trace.answer, "trace_id": trace.trace_id, "risk": risk_of[q.id]} | _timing(trace)
            _score_rows([row], qmap, scorers, keypoint_method)
            io.append_jsonl(results, row)
            rows.append(row)
            done += 1
            if progress:
                progress(done, total)
        if status == "cancelled":
            break
    wanted = {(q.id, c) for q in queries for c in configs}
    rows = [r for r in rows if (r["query_id"], r["config"]) in wanted]
    meta = {"status": status, "done": done, "total": total, "model": base_name, "backend": backend,
            "scorers": list(scorers), "keypoint_method": keypoint_method, "n_boot": n_boot, "seed": seed}
    summary = _finish(out, rows, configs, meta, n_boot, seed)
    return EvalRun(str(out), status, done, total, rows, summary, round(time.perf_counter() - t0, 2))


def rescore(out_dir: str | Path, *, scorers: Sequence[str] = ("features",), keypoint_method: str = "embedding",
            n_boot: int = N_BOOT, seed: int = SEED) -> EvalRun:
    """Score a saved run again from its responses (no generator), rewriting results.jsonl and summary.json."""
    t0 = time.perf_counter()
    out = Path(out_dir)
    rows = _read_jsonl(out / "results.jsonl")
    if not rows:
        raise WorkbenchError(f"No saved results in {out}.", where=str(out / "results.jsonl"),
                             fix="run workbench evaluate --out DIR first")
    qmap = {q["id"]: q for q in _read_jsonl(out / "queries.jsonl")}
    missing = sorted({r["query_id"] for r in rows} - set(qmap))
    if missing:
        raise WorkbenchError(f"queries.jsonl lacks {len(missing)} queries of the results, e.g. {missing[0]!r}.",
                             where=str(out / "queries.jsonl"), fix="rerun the evaluation into this directory")
    _score_rows(rows, qmap, scorers, keypoint_method)
    io.write_jsonl(out / "results.jsonl", rows)
    try:
        run = json.loads((out / "run.json").read_text())
    except (OSError, ValueError):
        run = {}
    configs = [c for c in run.get("configs", []) if any(r["config"] == c for r in rows)] or None
    meta = {"status": "rescored", "done": len(rows), "total": len(rows), "model": run.get("model"),
            "backend": run.get("backend"), "scorers": list(scorers), "keypoint_method": keypoint_method,
            "n_boot": n_boot, "seed": seed}
    summary = _finish(out, rows, configs or list(dict.fromkeys(r["config"] for r in rows)), meta, n_boot, seed)
    return EvalRun(str(out), "rescored", len(rows), len(rows), rows, summary, round(time.perf_counter() - t0, 2))


def load_run(out_dir: str | Path) -> EvalRun:
    """A saved run as an EvalRun (rows + summary), without scoring anything."""
    out = Path(out_dir)
    summary = json.loads((out / "summary.json").read_text()) if (out / "summary.json").is_file() else {}
    rows = _read_jsonl(out / "results.jsonl")
    return EvalRun(str(out), summary.get("status", "?"), len(rows), summary.get("total", len(rows)), rows, summary)
