"""Whether an ONNX variant still says what the PyTorch model says, and how fast each one runs.

Parity compares logits on probe prompts, greedy agreement and perplexity on held-out dialogues, and
applies per-variant limits; a report is a ``ParityReport`` record, saved as ``parity.json`` beside the
variant's manifest; ``parity_checks`` lists each limit with the measured value beside it. ``speed`` times
one greedy generation on any Generator. ``export_and_compare`` is the export view's one call: export,
parity, speed and each variant's own memory (``footprint``, a fresh process each), torch first.

    report = parity("smollm2-135m-instruct", "int4")
    check_parity(report)                            # raises WorkbenchError naming the metric
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path

from workbench import __version__
from workbench.errors import WorkbenchError
from workbench.io import Record, write_json
from workbench.models.onnx_export import PARITY_FILE, export, read_manifest, variant_dir

__all__ = ["PARITY_LIMITS", "PPL_DIALOGUES", "PPL_MAX_TOKENS", "PROBES", "ParityReport", "SpeedReport",
           "check_parity", "check_text", "comparison_table", "export_and_compare", "heldout_dialogues",
           "load_parity", "parity", "parity_checks", "save_parity", "speed"]

# Parity limits per variant: metric -> (comparison, limit). fp32 ONNX differs from torch by float
# rounding only (measured on SmolLM2: max logit diff 1e-4, identical greedy text, perplexity equal to
# 5 digits), so its limits leave 10x headroom and no more. A quantized variant counts as faithful when
# perplexity on held-out dialogues rises by at most 5 % and greedy decoding stays identical, on average,
# for at least half of the first 32 tokens (int8 measured +0.5 % and 0.76; int4, the GGUF blocks written back
# exactly, +0.26 % and 0.51; round-to-nearest int4 measured +15 % and 0.09 and failed).
PARITY_LIMITS = {
    "fp32": {"max_abs_logit_diff": ("<=", 1e-3), "greedy_agreement": (">=", 1.0),
             "ppl_delta_pct_vs_torch": ("<=", 0.1)},
    "int8": {"ppl_delta_pct": ("<=", 5.0), "greedy_agreement": (">=", 0.5)},
    "int4": {"ppl_delta_pct": ("<=", 5.0), "greedy_agreement": (">=", 0.5)},
}

# Probe prompts for logit and greedy parity: short, in our own words, about therapy practice.
PROBES = (
    "How do I explain the cognitive model to a client in the first session?",
    "My client keeps cancelling sessions at the last minute. How could I raise this with her?",
    "What is a gentle way to ask about sleep when someone says they are just tired all the time?",
    "Give me three open questions to explore ambivalence about drinking less.",
    "A teenager tells me his parents must not know what we talk about. What are the limits of that?",
    "How can I help a client notice the difference between a thought and a fact?",
    "What should a short note after a crisis phone call contain?",
    "I feel drained after sessions with one particular client. What could I take to supervision?",
)
PPL_DIALOGUES = 8  # held-out dialogues for perplexity: a fixed, seeded sample of the shipped corpus
PPL_MAX_TOKENS = 384


@dataclass
class ParityReport(Record):
    """One variant against torch; ``to_dict()`` is the ``parity.json`` body (field order = key order)."""

    model: str
    variant: str
    path: str
    max_abs_logit_diff: float
    mean_abs_logit_diff: float
    greedy_agreement: float  # mean share of the first k greedy tokens identical before the first divergence
    greedy_agreement_per_prompt: list[float]
    ppl: float
    ppl_fp32: float
    ppl_torch: float
    ppl_delta_pct: float  # against fp32 ONNX
    ppl_delta_pct_vs_torch: float
    probes: int
    k_tokens: int
    ppl_dialogues: list[str]
    ppl_max_tokens: int
    limits: dict[str, list] = field(default_factory=dict)
    workbench_version: str = __version__
    created: str = ""
    failures: list[dict] = field(default_factory=list)  # {metric, value, op, limit} per broken limit
    passed: bool = True


@dataclass
class SpeedReport(Record):
    """Prefill and decode speed of one greedy generation, and memory, for one generator."""

    model: str
    backend: str
    variant: str | None
    prompt_tokens: int
    decode_tokens: int  # tokens actually timed: decoding stops early at an end-of-turn token
    prefill_tok_s: float
    decode_tok_s: float
    rss_mb: float | None  # this process's, so it includes every model loaded before: not a variant's own
    peak_rss_mb: float  # the process's high-water mark (every model loaded so far)
    disk_mb: float | None = None  # weight files on disk (``footprint``; None: not measured, or no files)
    load_rss_mb: float | None = None  # RSS added by loading this variant alone in a fresh process


def save_parity(report: ParityReport, d: str | Path | None = None) -> Path:
    """Write ``parity.json`` into the variant directory (the report's own ``path`` by default)."""
    return write_json(Path(d or report.path) / PARITY_FILE, report.to_dict())


def load_parity(d: str | Path) -> ParityReport | None:
    """The saved report of a variant directory, or None when it has not been measured."""
    p = Path(d) / PARITY_FILE
    return ParityReport.from_dict(json.loads(p.read_text())) if p.is_file() else None


# ---- measuring ------------------------------------------------------------------------------------
_REFERENCE: dict[tuple, dict] = {}  # torch (and fp32 ONNX) measurements, reused across variants


def heldout_dialogues(n: int = PPL_DIALOGUES) -> list:
    """A fixed sample of the shipped dialogues for perplexity: seeded, so every run scores the same."""
    import random

    from workbench.corpora import load_dialogues

    dialogues = sorted(load_dialogues(), key=lambda d: d.id)
    return random.Random(1234).sample(dialogues, min(n, len(dialogues)))


def _nll(logits, ids) -> tuple[float, int]:
    """Summed negative log-likelihood of ids[1:] given all-position logits (sums in float64)."""
    import numpy as np

    z = np.asarray(logits[:-1], dtype=np.float32)
    top = z.max(axis=-1)
    lse = top + np.log(np.exp(z - top[:, None]).sum(axis=-1, dtype=np.float64))
    return float((lse - z[np.arange(len(ids) - 1), ids[1:]]).sum()), len(ids) - 1


def _perplexity(gen, sequences) -> float:
    nll = count = 0.0
    for ids in sequences:
        a, b = _nll(gen.logits(ids), ids)
        nll, count = nll + a, count + b
    return math.exp(nll / count)


def _measure(gen, prompts, k_tokens, sequences) -> dict:
    """Everything parity compares, from one generator (torch or ONNX): probe logits, greedy tokens, perplexity."""
    probe_ids = [gen.encode_chat(p) for p in prompts]
    greedy = [gen.greedy_tokens(ids, k_tokens) for ids in probe_ids]
    ppl = _perplexity(gen, sequences)
    return {"logits": [gen.logits(ids) for ids in probe_ids], "greedy": greedy, "ppl": ppl}


def _agreement(ref: list[int], got: list[int], k: int) -> float:
    """Share of the first k greedy tokens that match before the first divergence (1.0 if identical)."""
    if ref == got:
        return 1.0
    same = next((i for i, (a, b) in enumerate(zip(ref, got, strict=False)) if a != b), min(len(ref), len(got)))
    return same / max(1, min(k, max(len(ref), len(got))))


def parity(name: str | None = None, variant: str = "int4", *, out: str | Path | None = None,
           prompts=PROBES, k_tokens: int = 32, n_dialogues: int = PPL_DIALOGUES, save: bool = True,
           progress=None) -> ParityReport:
    """Compare an exported variant with the PyTorch model it came from, and save ``parity.json``.

    Metrics: max/mean absolute difference of all-position logits over the probe prompts; greedy
    agreement (mean share of the first ``k_tokens`` greedy tokens identical before the first
    divergence); perplexity on held-out dialogues and its change in percent against fp32 ONNX
    (``ppl_delta_pct``) and against torch (``ppl_delta_pct_vs_torch``). ``passed``/``failures`` apply
    PARITY_LIMITS; ``check_parity`` turns a failure into an error.
    """
    import numpy as np

    from workbench.models import get_generator, resolve
    from workbench.models.onnx import OnnxGenerator

    spec = resolve(name)
    source = spec.source or spec.name  # a path when the model is a local directory, else its name
    d = variant_dir(source, variant, out)
    manifest = read_manifest(d)
    if manifest is None:
        raise WorkbenchError(f"No intact {variant} export of {spec.name}.", where=str(d),
                             fix=f"run export({source!r}, variants=({variant!r},)) first")
    say = progress or (lambda message: None)
    torch_gen = get_generator(source, "torch")
    dialogues = heldout_dialogues(n_dialogues)
    sequences = [list(torch_gen.tokenizer.apply_chat_template(x.messages, tokenize=True))[:PPL_MAX_TOKENS]
                 for x in dialogues]
    key = (spec.name, manifest.get("fingerprint"), tuple(prompts), k_tokens, n_dialogues)
    if ("torch",) + key not in _REFERENCE:
        say(f"Measuring the PyTorch reference for {spec.name}…")
        _REFERENCE[("torch",) + key] = _measure(torch_gen, prompts, k_tokens, sequences)
    ref = _REFERENCE[("torch",) + key]
    say(f"Measuring {spec.name} {variant}…")
    got = _measure(OnnxGenerator(d, spec.name), prompts, k_tokens, sequences)
    if variant == "fp32":
        ppl_fp32 = got["ppl"]
    else:
        fp32_dir = variant_dir(source, "fp32", out)
        fkey = ("fp32", str(fp32_dir), (read_manifest(fp32_dir) or {}).get("created")) + key
        if fkey not in _REFERENCE:
            _REFERENCE[fkey] = {"ppl": _perplexity(OnnxGenerator(fp32_dir, spec.name), sequences)}
        ppl_fp32 = _REFERENCE[fkey]["ppl"]
    diffs = [np.abs(a - b) for a, b in zip(ref["logits"], got["logits"], strict=True)]
    per_prompt = [_agreement(a, b, k_tokens) for a, b in zip(ref["greedy"], got["greedy"], strict=True)]
    limits = PARITY_LIMITS.get(variant, {})
    report = ParityReport(
        model=spec.name, variant=variant, path=str(d),
        max_abs_logit_diff=float(max(x.max() for x in diffs)),
        mean_abs_logit_diff=float(np.mean([x.mean() for x in diffs])),
        greedy_agreement=float(np.mean(per_prompt)), greedy_agreement_per_prompt=per_prompt,
        ppl=got["ppl"], ppl_fp32=ppl_fp32, ppl_torch=ref["ppl"],
        ppl_delta_pct=100.0 * (got["ppl"] - ppl_fp32) / ppl_fp32,
        ppl_delta_pct_vs_torch=100.0 * abs(got["ppl"] - ref["ppl"]) / ref["ppl"],
        probes=len(prompts), k_tokens=k_tokens,
        ppl_dialogues=[x.id for x in dialogues], ppl_max_tokens=PPL_MAX_TOKENS,
        limits={m: list(v) for m, v in limits.items()},
        workbench_version=__version__, created=time.strftime("%Y-%m-%dT%H:%M:%S"))
    report.failures = _failures(report, limits)
    report.passed = not report.failures
    if save:
        save_parity(report, d)
    return report


def _failures(report: ParityReport, limits: dict) -> list[dict]:
    return [{k: c[k] for k in ("metric", "value", "op", "limit")} for c in _checks(report, limits) if not c["passed"]]


def _checks(report, limits: dict) -> list[dict]:
    get = report.get if isinstance(report, dict) else lambda m: getattr(report, m, None)
    out = []
    for metric, (op, limit) in limits.items():
        value = get(metric)
        ok = value is not None and (value <= limit if op == "<=" else value >= limit)
        out.append({"metric": metric, "label": _LABELS.get(metric, metric), "value": value, "op": op,
                    "limit": limit, "passed": ok})
    return out


_LABELS = {"max_abs_logit_diff": "max |Δlogit| vs torch", "greedy_agreement": "greedy agreement",
           "ppl_delta_pct": "perplexity Δ vs fp32", "ppl_delta_pct_vs_torch": "perplexity Δ vs torch"}


def parity_checks(report: ParityReport | dict) -> list[dict]:
    """Every limit the report was judged by, passed or not: ``{metric, label, value, op, limit, passed}``.
    The limits saved in the report are used (those it was judged by), else today's PARITY_LIMITS."""
    d = report if isinstance(report, dict) else report.to_dict()
    limits = d.get("limits") or PARITY_LIMITS.get(d.get("variant"), {})
    return _checks(d, {m: tuple(v) for m, v in limits.items()})


def check_text(check: dict) -> str:
    """One check as words: "perplexity Δ vs fp32 +15.2 % (limit ≤ 5 %)"."""
    v, op, limit = check["value"], {"<=": "≤", ">=": "≥"}.get(check["op"], check["op"]), check["limit"]
    unit = " %" if check["metric"].startswith("ppl_delta") else ""
    value = "not measured" if v is None else (f"{v:+.2f}{unit}" if unit else f"{v:.3g}")
    return f"{check['label']} {value} (limit {op} {limit:g}{unit})"


_FIXES = {
    "max_abs_logit_diff": "the fp32 graph should match torch to rounding: re-export it (delete the variant "
                          "directory); if it persists, the graph edit does not fit this architecture",
    "greedy_agreement": "use a less aggressive variant for this model (int8, or fp32)",
    "ppl_delta_pct": "quantization costs this model too much: use a less aggressive variant (int8, or fp32)",
    "ppl_delta_pct_vs_torch": "re-export the fp32 variant; a persistent gap means the export is not faithful",
}


def check_parity(report: ParityReport | dict, limits: dict | None = None) -> ParityReport:
    """Raise WorkbenchError naming variant, metric, value and limit when a parity limit is broken.

    ``limits`` (metric -> (op, limit)) overrides PARITY_LIMITS for the report's variant. A dict (a
    loaded ``parity.json``) is read as a ParityReport first.
    """
    if isinstance(report, dict):
        report = ParityReport.from_dict(report)
    limits = PARITY_LIMITS.get(report.variant, {}) if limits is None else limits
    failures = _failures(report, limits)
    if failures:
        f = failures[0]
        rest = [x["metric"] for x in failures[1:]]
        more = f" (and {len(rest)} more: {', '.join(rest)})" if rest else ""
        raise WorkbenchError(
            f"ONNX variant {report.variant} of {report.model} fails parity: {f['metric']} = "
            f"{f['value']:.6g}, limit {f['op']} {f['limit']:g}{more}.",
            where=report.path, fix=_FIXES.get(f["metric"], "re-export the variant"))
    return report


# ---- speed ----------------------------------------------------------------------------------------
def speed(generator, prompt="How can I help a client who avoids homework between sessions?",
          max_new_tokens: int = 128, warmup: bool = True) -> SpeedReport:
    """Prefill and decode tokens/s of one greedy generation, plus memory; any Generator (torch, ONNX)."""
    import resource

    if warmup:
        generator.chat(prompt, max_new_tokens=4)
    c = generator.chat(prompt, max_new_tokens=max_new_tokens)
    try:
        import psutil

        rss = psutil.Process().memory_info().rss / 2**20
    except ImportError:
        rss = None
    return SpeedReport(
        model=c.model, backend=c.backend, variant=getattr(generator, "variant", None),
        prompt_tokens=c.prompt_tokens, decode_tokens=c.completion_tokens,
        prefill_tok_s=c.prompt_tokens / c.prefill_s if c.prefill_s > 0 else 0.0,
        decode_tok_s=c.tokens_per_s,
        rss_mb=rss, peak_rss_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)


def export_and_compare(model: str, variants, *, max_new_tokens: int = 64, progress=None, cancel=None,
                       force: bool = False, steps=None, memory: bool = True) -> dict:
    """Export, check parity, time each variant against torch and (``memory``) measure its own footprint in a
    fresh process: the widget's one call, also usable alone. ``progress(message)`` reports stages,
    ``steps(done, total, message)`` each step, for a progress bar; ``cancel`` stops between steps.

    Returns ``{"export": ExportResult, "parity": [...], "speed": [torch, *variants]}`` where the
    reports are the records' ``to_dict()``: plain rows a table, a chart or a DataFrame takes as they are.
    """
    from workbench.footprint import footprint
    from workbench.models import get_generator

    say, tick = progress or (lambda message: None), steps or (lambda done, total, message: None)
    per_model = 2 + memory  # parity or torch's reference; speed; memory
    exported = {"steps": len(variants)}

    def total() -> int:
        return exported["steps"] + per_model * (len(variants) + 1)

    def export_step(done: int, steps: int, variant: str) -> None:
        exported["steps"] = steps
        tick(done, total(), f"exporting {variant}")

    done = 0

    def step(message: str) -> bool:  # True when stopped
        nonlocal done
        tick(exported["steps"] + done, total(), message)
        say(message)
        done += 1
        return cancel is not None and cancel.is_set()

    def measure(gen, backend: str, variant: str | None) -> SpeedReport | None:
        if step(f"Timing {variant or backend}…"):
            return None
        s = speed(gen, max_new_tokens=max_new_tokens)
        if memory:
            if step(f"Measuring the memory of {variant or backend} in a fresh process…"):
                return None
            fp = footprint(model, backend, variant, cancel=cancel)
            s.disk_mb, s.load_rss_mb = fp["disk_mb"], fp["load_rss_mb"]
            if fp.get("error"):
                say(f"Memory of {variant or backend} not measured: {fp['error']}")
        return s

    result = export(model, variants=tuple(variants), progress=say, cancel=cancel, force=force, step=export_step)
    reports: list[ParityReport] = []
    speeds: list[SpeedReport] = []
    if result.status != "cancelled" and not step("Measuring PyTorch…"):
        speeds.append(measure(get_generator(model), "torch", None))
        for v in variants:
            if None in speeds or step(f"Checking parity of {v}…"):
                break
            reports.append(parity(model, v, progress=say))
            rebuilt = v in result.variants and result.variants[v].built  # not the generator of the old files
            speeds.append(measure(get_generator(model, "onnx", variant=v, fresh=rebuilt), "onnx", v))
        if None not in speeds:
            tick(total(), total(), "done")
    return {"export": result, "parity": [r.to_dict() for r in reports],
            "speed": [s.to_dict() for s in speeds if s is not None]}


def comparison_table(result: dict) -> str:
    """``export_and_compare``'s result as the text table the CLI prints: each variant against torch."""
    torch_speed = result["speed"][0]["decode_tok_s"]
    lines = [f"{'variant':<8} {'max|dlogit|':>11} {'agree':>6} {'ppl':>8} {'d ppl':>8} {'decode tok/s':>13}  verdict",
             f"{'torch':<8} {'':>11} {'':>6} {'':>8} {'':>8} {torch_speed:>13.1f}"]
    for p, s in zip(result["parity"], result["speed"][1:], strict=True):
        verdict = "faithful" if p["passed"] else "FAILS " + "; ".join(
            check_text(c) for c in parity_checks(p) if not c["passed"])
        lines.append(f"{p['variant']:<8} {p['max_abs_logit_diff']:>11.3g} {p['greedy_agreement']:>6.2f} "
                     f"{p['ppl']:>8.2f} {p['ppl_delta_pct']:>+7.2f}% {s['decode_tok_s']:>13.1f}  {verdict} "
                     f"({s['decode_tok_s'] / max(torch_speed, 1e-9):.1f}x torch)")
    return "\n".join(lines)
