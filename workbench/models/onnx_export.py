"""ONNX export of a registry model (base or merged) and its weight-quantized variants.

Layout: ``exports/onnx/<model>/<variant>/`` holds ``model.onnx``, the tokenizer and config (so a
variant loads on its own), ``manifest.json`` (written last: a directory without an intact manifest
is rebuilt, never loaded) and, once measured, ``parity.json`` (written by ``workbench.parity``).
The graph edits applied after Optimum's export live in ``onnx_graph``.

    export("smollm2-135m-instruct")                 # fp32, int8, int4 under exports/onnx/
    ensure_exported("smollm2-135m-instruct", "int8")
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from workbench import __version__, paths
from workbench.errors import WorkbenchError
from workbench.io import Record, atomic_dir, write_json
from workbench.models.onnx_graph import add_logits_to_keep, fuse_attention, save_model, untie_lm_head
from workbench.models.registry import build_tiny, ensure_cached, resolve

__all__ = ["DEFAULT_VARIANT", "EXPORT_FORMAT", "GRAPH_VERSION", "MODEL_FILE", "PARITY_FILE", "QUANTIZATION", "VARIANTS",
           "ExportResult", "VariantExport", "ensure_exported", "export", "export_root",
           "read_manifest", "variant_dir"]

VARIANTS = ("fp32", "int8", "int4")
EXPORT_FORMAT = 1
GRAPH_VERSION = 1  # bump when the graph edits change, so existing exports are rebuilt
MODEL_FILE = "model.onnx"
PARITY_FILE = "parity.json"  # written beside the manifest by workbench.parity; not part of the export

# Weight-only block quantization (MatMulNBits) of every MatMul, the output layer included. Measured on
# SmolLM2-135M, whose weights come from a Q4_1 GGUF (asymmetric 4-bit blocks of 32 along the input):
#   int8 = 8-bit asymmetric, block 32: perplexity +0.5 % vs fp32, greedy agreement 0.76, ~2x fp32 speed.
#   int4 = 4-bit asymmetric, block 32: +15 %, agreement 0.09, ~3x fp32 speed. Symmetric was worse (+27 %),
#          block 128 worse still (+46 % symmetric) for 5-10 % more speed; presumably because Q4_1's
#          offset grid cannot be re-expressed with an integer zero point, so its values are rounded twice.
#   Dynamic int8 (quantize_dynamic) measured +76 %: it also quantizes activations, one scale per tensor.
# accuracy_level 4 lets MLAS multiply in int8: 3x faster than level 0 on this AVX2 CPU, same fidelity.
# The embedding table stays fp32: a lookup reads one row, and 4-bit GatherBlockQuantized measured
# +5 points of perplexity for 98 MB less on disk.
QUANTIZATION = {
    "int8": {"bits": 8, "block_size": 32, "symmetric": False, "accuracy_level": 4},
    "int4": {"bits": 4, "block_size": 32, "symmetric": False, "accuracy_level": 4},
}
DEFAULT_VARIANT = "int8"  # the fastest variant that passes parity on the default model


@dataclass
class VariantExport(Record):
    """One variant of an export: where it is and whether this call built it."""

    variant: str
    path: str
    built: bool  # False when an intact export was reused
    seconds: float
    size_bytes: int


@dataclass
class ExportResult(Record):
    """What ``export`` did, variant by variant."""

    model: str
    root: str
    status: str = "done"  # done | cancelled
    variants: dict[str, VariantExport] = field(default_factory=dict)

    def path(self, variant: str) -> Path:
        return Path(self.variants[variant].path)

    @classmethod
    def from_dict(cls, d: dict) -> ExportResult:
        r = super().from_dict(d)
        r.variants = {k: v if isinstance(v, VariantExport) else VariantExport.from_dict(v)
                      for k, v in r.variants.items()}
        return r


# ---- where things live ------------------------------------------------------------------------
def export_root(name: str | None = None, out: str | Path | None = None) -> Path:
    return Path(out) if out else paths.exports_dir() / "onnx" / resolve(name).name


def variant_dir(name: str | None, variant: str, out: str | Path | None = None) -> Path:
    _check_variant(variant)
    return export_root(name, out) / variant


def _check_variant(variant: str) -> None:
    if variant not in VARIANTS:
        raise WorkbenchError(f"Unknown ONNX variant {variant!r}.", fix=f"use one of: {', '.join(VARIANTS)}")


def read_manifest(d: Path) -> dict | None:
    """The manifest if every file it lists is present with its recorded size, else None."""
    try:
        manifest = json.loads((Path(d) / "manifest.json").read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(manifest, dict) or manifest.get("format") != EXPORT_FORMAT:
        return None
    files = manifest.get("files")
    if not isinstance(files, dict) or MODEL_FILE not in files:
        return None
    for f, size in files.items():
        p = Path(d) / f
        if not p.is_file() or p.stat().st_size != size:
            return None
    return manifest


# ---- the source model -------------------------------------------------------------------------
def _source_dir(spec, tmp: Path) -> Path:
    """A Hugging Face directory for the model; the in-memory test model is saved to ``tmp`` first."""
    if spec.kind == "tiny":
        model, tok = build_tiny()
        model.save_pretrained(tmp, safe_serialization=True)
        tok.save_pretrained(tmp)
        return tmp
    return ensure_cached(spec)


def _fingerprint(spec) -> str:
    """Identifies the weights an export came from, so re-merging a model under the same name re-exports."""
    if spec.kind == "tiny":
        return "builtin:tiny-llama"
    d = ensure_cached(spec)
    h = hashlib.sha1()
    for p in sorted(Path(d).iterdir()):
        if p.is_file() and (p.suffix in (".safetensors", ".bin", ".json") and p.name != "manifest.json"):
            st = p.stat()
            h.update(f"{p.name}:{st.st_size}:{st.st_mtime_ns};".encode())
    return h.hexdigest()[:16]


# ---- export -----------------------------------------------------------------------------------
_SIDE_FILES = ("config.json", "generation_config.json", "tokenizer.json", "tokenizer_config.json",
               "special_tokens_map.json", "chat_template.jinja", "vocab.json", "merges.txt",
               "added_tokens.json", "tokenizer.model")


def _recipe(variant: str) -> dict:
    """What decides a variant's bytes besides the weights; a change re-exports."""
    return {"graph": GRAPH_VERSION, **QUANTIZATION.get(variant, {})}


def _write_manifest(d: Path, extra: dict) -> dict:
    files = {p.name: p.stat().st_size for p in sorted(d.iterdir()) if p.is_file() and p.name != PARITY_FILE}
    body = {"format": EXPORT_FORMAT, "files": files, "size_bytes": sum(files.values()),
            "workbench_version": __version__, "created": time.strftime("%Y-%m-%dT%H:%M:%S"), **extra}
    write_json(d / "manifest.json", body)
    return body


def _export_fp32(src: Path, tmp: Path, config) -> dict:
    """Optimum's export with past key/values, then the graph edits; returns what was done."""
    import warnings

    import onnx
    from optimum.exporters.onnx import main_export

    raw = tmp / "_optimum"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            main_export(str(src), raw, task="text-generation-with-past", do_validation=False,
                        local_files_only=True, library_name="transformers")
        except Exception as exc:  # optimum raises many kinds for an unsupported architecture
            raise WorkbenchError(f"Optimum could not export {src} to ONNX: {exc}", where=str(src),
                                 fix="check that the model is a causal LM architecture Optimum supports "
                                 "(Llama, Mistral, Qwen2, Phi, GPT-2 …)") from exc
    model = onnx.load(str(raw / MODEL_FILE))
    fused = fuse_attention(model, config)
    kept = add_logits_to_keep(model)
    save_model(model, tmp / MODEL_FILE)
    for f in _SIDE_FILES:
        if (raw / f).is_file():
            shutil.copy2(raw / f, tmp / f)
    shutil.rmtree(raw)
    return {"graph": {"fused_attention": fused, "logits_to_keep": kept}}


def _quantize(fp32_dir: Path, tmp: Path, variant: str) -> dict:
    """Weight-only block quantization of every MatMul (MatMulNBits), the output layer included."""
    import onnx

    try:
        from onnxruntime.quantization.matmul_nbits_quantizer import MatMulNBitsQuantizer
    except ImportError as exc:  # onnxruntime 1.2x imports onnx_ir here without declaring it
        raise WorkbenchError(f"onnxruntime's weight quantizer cannot be imported: {exc}",
                             fix="pip install onnx-ir") from exc
    cfg = QUANTIZATION[variant]
    model = onnx.load(str(fp32_dir / MODEL_FILE))
    untied = untie_lm_head(model)
    q = MatMulNBitsQuantizer(model, bits=cfg["bits"], block_size=cfg["block_size"], is_symmetric=cfg["symmetric"],
                             accuracy_level=cfg["accuracy_level"], op_types_to_quantize=("MatMul",))
    log = logging.getLogger("onnxruntime.quantization.matmul_nbits_quantizer")
    level, log.level = log.level, logging.WARNING  # it logs every node at INFO: thousands of lines
    try:
        q.process()
    finally:
        log.setLevel(level)
    save_model(q.model.model, tmp / MODEL_FILE)
    for f in _SIDE_FILES:
        if (fp32_dir / f).is_file():
            shutil.copy2(fp32_dir / f, tmp / f)
    return {"quantization": {"method": "onnxruntime MatMulNBitsQuantizer (round to nearest)", **cfg,
                             "lm_head_quantized": untied}}


def export(name_or_path: str | None = None, *, variants=VARIANTS, out: str | Path | None = None,
           progress=None, cancel=None) -> ExportResult:
    """Export a registry model (name, merged-model directory or GGUF) to ONNX and quantize it.

    Each variant directory is built aside and renamed into place, so an interrupted export leaves
    the previous one (or none), never half of one; a variant whose manifest is intact and whose source
    weights are unchanged is reused. The fp32 graph is always built first: the others derive from it.
    ``progress(message)`` reports stages; ``cancel`` (a threading.Event) stops between variants.
    """
    from transformers import AutoConfig

    paths.offline()
    variants = tuple(dict.fromkeys(variants))
    for v in variants:
        _check_variant(v)
    if not variants:
        raise WorkbenchError("No variants to export.", fix=f"pass variants from: {', '.join(VARIANTS)}")
    spec = resolve(name_or_path)
    root = Path(out) if out else paths.exports_dir() / "onnx" / spec.name
    say = progress or (lambda message: None)
    result = ExportResult(model=spec.name, root=str(root))
    fingerprint = _fingerprint(spec)
    order = ["fp32"] + [v for v in VARIANTS if v in variants and v != "fp32"]
    with tempfile.TemporaryDirectory(prefix="wb-export-") as scratch:
        src, base = None, None
        for v in order:
            if cancel is not None and cancel.is_set():
                result.status = "cancelled"
                break
            d = root / v
            # reuse only what the same weights, the same recipe and (for quantized) the same fp32 made
            want = {"fingerprint": fingerprint, "recipe": _recipe(v), "base": base if v != "fp32" else None}
            manifest = read_manifest(d)
            if manifest and all(manifest.get(k) == x for k, x in want.items()):
                if v == "fp32":
                    base = manifest["created"]
                if v in variants:
                    result.variants[v] = VariantExport(v, str(d), False, manifest.get("export_seconds", 0.0),
                                                       manifest.get("size_bytes", 0))
                continue
            if src is None and v == "fp32":
                src = _source_dir(spec, Path(scratch))
            say(f"Exporting {spec.name} to ONNX ({v})…")
            t0 = time.perf_counter()
            with atomic_dir(d) as tmp:
                if v == "fp32":
                    extra = _export_fp32(src, tmp, AutoConfig.from_pretrained(src, local_files_only=True))
                else:
                    extra = _quantize(root / "fp32", tmp, v)
                seconds = round(time.perf_counter() - t0, 1)
                body = _write_manifest(tmp, {
                    "variant": v, "export_seconds": seconds, **want,
                    "source": {"model": spec.name, "kind": spec.kind, "path": spec.source},
                    **extra})
            if v == "fp32":
                base = body["created"]
            say(f"{spec.name} {v}: {body['size_bytes'] / 1e6:.0f} MB in {seconds:.0f} s")
            if v in variants:
                result.variants[v] = VariantExport(v, str(d), True, seconds, body["size_bytes"])
    return result


def ensure_exported(name: str | None, variant: str, progress=None) -> Path:
    """The variant's directory, exporting it first if it is missing or stale."""
    _check_variant(variant)
    return export(name, variants=(variant,), progress=progress).path(variant)


