"""ONNX export of a registry model (base or merged) and its weight-quantized variants.

Layout: ``exports/onnx/<model>/<variant>/`` holds ``model.onnx``, the tokenizer and config (so a
variant loads on its own), ``manifest.json`` (written last: a directory without an intact manifest
is rebuilt, never loaded) and, once measured, ``parity.json`` (written by ``workbench.parity``).
The manifest records each file's size and SHA-256; ``verify_export`` checks them (once per file
version and process) before a variant is reused or loaded, so a flipped byte is reported with its
fix (``workbench export --force``), never answered with. The graph edits after Optimum's export live
in ``onnx_graph``.

    export("smollm2-135m-instruct")                 # fp32, int8, int4 under exports/onnx/
    ensure_exported("smollm2-135m-instruct", "int8")
    export("smollm2-135m-instruct", variants=("int8",), force=True)   # rebuild a damaged export
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
from workbench.io import Record, atomic_dir, check_writable, sha256_file, verify_files, write_json
from workbench.models.blockquant import exact_blocks
from workbench.models.onnx_graph import add_logits_to_keep, fuse_attention, save_model, untie_lm_head
from workbench.models.registry import build_tiny, ensure_cached, resolve

__all__ = ["DEFAULT_VARIANT", "EXPORT_FORMAT", "GRAPH_VERSION", "MODEL_FILE", "PARITY_FILE", "QUANTIZATION", "VARIANTS",
           "ExportResult", "VariantExport", "ensure_exported", "export", "export_root",
           "read_manifest", "variant_dir", "verify_export"]

VARIANTS = ("fp32", "int8", "int4")
EXPORT_FORMAT = 2  # 2: every file carries its SHA-256; older exports are rebuilt, never loaded unverified
GRAPH_VERSION = 1  # bump when the graph edits change, so existing exports are rebuilt
MODEL_FILE = "model.onnx"
PARITY_FILE = "parity.json"  # written beside the manifest by workbench.parity; not part of the export

# Weight-only block quantization (MatMulNBits) of every MatMul, the output layer included. SmolLM2-135M's
# weights come from a Q4_1 GGUF (asymmetric 4-bit blocks of 32 along the input; output layer Q8_0):
#   int8 = 8-bit asymmetric, block 32, round to nearest: perplexity +0.005 % vs fp32 (Xeon AVX-512; +0.5 % was
#          measured on an AVX2 EPYC, with greedy agreement 0.76).
#   int4 = the GGUF's own blocks, written exactly (models.blockquant: 4 bits plus each block's remainder, the
#          output layer at 8 bits): +0.26 %, agreement 0.51; int8's decode speed on the Xeon, 15 % smaller.
#          Round to nearest at 4 bits instead measured +15 % (agreement 0.09, fails parity): Q4_1's offsets
#          cannot be re-expressed with an integer zero point, so every value was rounded twice.
#   Dynamic int8 (quantize_dynamic) measured +76 %: it also quantizes activations, one scale per tensor.
# accuracy_level 4 lets MLAS multiply in int8: 3x faster than level 0 on an AVX2 CPU (level 1 is 20x slower).
# The embedding table stays fp32: a lookup reads one row, and 4-bit GatherBlockQuantized measured
# +5 points of perplexity for 98 MB less on disk.
QUANTIZATION = {
    "int8": {"bits": 8, "block_size": 32, "symmetric": False, "accuracy_level": 4},
    "int4": {"bits": 4, "block_size": 32, "symmetric": False, "accuracy_level": 4, "gguf_blocks": True},
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
    """The manifest if it has this format and every file it lists is present with its recorded size
    and a checksum, else None (half-written, or older: rebuilt by ``export``). ``verify_export`` checks
    the bytes."""
    try:
        manifest = json.loads((Path(d) / "manifest.json").read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(manifest, dict) or manifest.get("format") != EXPORT_FORMAT:
        return None
    files, sums = manifest.get("files"), manifest.get("sha256")
    if not isinstance(files, dict) or MODEL_FILE not in files or not isinstance(sums, dict) or set(sums) != set(files):
        return None
    for f, size in files.items():
        p = Path(d) / f
        if not p.is_file() or p.stat().st_size != size:
            return None
    return manifest


def _checksummed(manifest: dict) -> dict:
    """``{name: {"size", "sha256"}}`` as ``io.verify_files`` takes it, from the manifest's two maps."""
    sums = manifest.get("sha256") if isinstance(manifest.get("sha256"), dict) else {}
    return {f: {"size": size, **({"sha256": sums[f]} if f in sums else {})} for f, size in manifest["files"].items()}


def _repair(d: Path, manifest: dict | None = None) -> str:
    """The command that rebuilds this variant directory."""
    d = Path(d)
    source = (manifest or {}).get("source") or {}
    name = source.get("model") or d.parent.name
    model = source.get("path") or name  # a GGUF file or a model folder is named by its path
    fix = f"rebuild it: workbench export {model} --variants {d.name} --force"
    if d.parent != paths.exports_dir() / "onnx" / name:
        fix += f"   (from Python: export({model!r}, variants=({d.name!r},), out={str(d.parent)!r}, force=True))"
    return fix


def verify_export(d: str | Path) -> dict:
    """The manifest of an exported variant whose every file has the bytes it was written with; raises
    WorkbenchError naming the file and the fix otherwise. Hashing happens once per file version."""
    d = Path(d)
    try:
        manifest = json.loads((d / "manifest.json").read_text())
    except FileNotFoundError:
        raise WorkbenchError(f"{d} has no manifest.json: it was not made by workbench export, or its export was "
                             "interrupted, so its files cannot be verified.", where=str(d), fix=_repair(d)) from None
    except (OSError, ValueError) as exc:
        raise WorkbenchError(f"The export manifest in {d} cannot be read ({exc}).", where=str(d / "manifest.json"),
                             fix=_repair(d)) from exc
    if not isinstance(manifest, dict) or not isinstance(manifest.get("files"), dict):
        raise WorkbenchError(f"The export manifest in {d} lists no files.", where=str(d / "manifest.json"),
                             fix=_repair(d))
    if manifest.get("format") != EXPORT_FORMAT:
        raise WorkbenchError(f"The export in {d} was made by an older workbench (format {manifest.get('format')}, "
                             f"now {EXPORT_FORMAT}) without checksums, so it cannot be verified.",
                             where=str(d / "manifest.json"), fix=_repair(d, manifest))
    if MODEL_FILE not in manifest["files"]:
        raise WorkbenchError(f"The export manifest in {d} does not list {MODEL_FILE}.", where=str(d / "manifest.json"),
                             fix=_repair(d, manifest))
    verify_files(d, _checksummed(manifest), what=f"the ONNX export {d.parent.name}/{d.name}", fix=_repair(d, manifest))
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
    """Identifies the weights an export came from, so re-merging a model under the same name re-exports:
    the checksums a model cache records, else each weight file's name, size and mtime."""
    if spec.kind == "tiny":
        return "builtin:tiny-llama"
    d = Path(ensure_cached(spec))
    try:
        files = json.loads((d / "manifest.json").read_text())["files"]
        parts = [f"{n}:{r['sha256']};" for n, r in sorted(files.items())]
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        parts = [f"{p.name}:{p.stat().st_size}:{p.stat().st_mtime_ns};" for p in sorted(d.iterdir())
                 if p.is_file() and p.suffix in (".safetensors", ".bin", ".json") and p.name != "manifest.json"]
    return hashlib.sha1("".join(parts).encode()).hexdigest()[:16]


# ---- export -----------------------------------------------------------------------------------
_SIDE_FILES = ("config.json", "generation_config.json", "tokenizer.json", "tokenizer_config.json",
               "special_tokens_map.json", "chat_template.jinja", "vocab.json", "merges.txt",
               "added_tokens.json", "tokenizer.model")


def _recipe(variant: str) -> dict:
    """What decides a variant's bytes besides the weights; a change re-exports."""
    return {"graph": GRAPH_VERSION, **QUANTIZATION.get(variant, {})}


def _write_manifest(d: Path, extra: dict) -> dict:
    listed = [p for p in sorted(d.iterdir()) if p.is_file() and p.name not in (PARITY_FILE, "manifest.json")]
    files = {p.name: p.stat().st_size for p in listed}
    body = {"format": EXPORT_FORMAT, "files": files, "sha256": {p.name: sha256_file(p) for p in listed},
            "size_bytes": sum(files.values()),
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
    exact = exact_blocks(model, cfg["accuracy_level"]) if cfg.get("gguf_blocks") else {"added": []}
    q = MatMulNBitsQuantizer(model, bits=cfg["bits"], block_size=cfg["block_size"], is_symmetric=cfg["symmetric"],
                             accuracy_level=cfg["accuracy_level"], op_types_to_quantize=("MatMul",),
                             nodes_to_exclude=exact["added"])
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
    method = "onnxruntime MatMulNBitsQuantizer (round to nearest)"
    if exact.get("q4_1") or exact.get("q8_0"):
        method = (f"GGUF blocks kept exactly ({exact['q4_1']} Q4_1 weights as 4-bit plus remainder, "
                  f"{exact['q8_0']} Q8_0 as 8-bit); any other MatMul: {method}")
    return {"quantization": {"method": method, **cfg, "lm_head_quantized": untied}}


def _matching(d: Path, want: dict) -> dict | None:
    manifest = read_manifest(d)
    return manifest if manifest and all(manifest.get(k) == x for k, x in want.items()) else None


def _intact(d: Path, force: bool) -> bool:
    """Verify a variant about to be reused; a damaged one raises, or (``force``) is rebuilt."""
    try:
        verify_export(d)
        return True
    except WorkbenchError:
        if force:
            return False
        raise


def export(name_or_path: str | None = None, *, variants=VARIANTS, out: str | Path | None = None,
           progress=None, cancel=None, force: bool = False, step=None) -> ExportResult:
    """Export a registry model (name, merged-model directory or GGUF) to ONNX and quantize it.

    Each variant directory is built aside and renamed into place, so an interrupted export leaves
    the previous one (or none), never half of one; a variant whose manifest is intact, whose files
    verify and whose source weights are unchanged is reused; a damaged one raises with the fix, and
    ``force`` rebuilds every asked variant (and fp32 when it is damaged). The fp32 graph is always
    built first: the others derive from it. ``progress(message)`` reports stages, ``step(done, total,
    variant)`` each variant it builds or checks (for a progress bar); ``cancel`` (a threading.Event) stops
    between variants.
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
    check_writable(root, fix="fix the folder's permissions, or export elsewhere: set WORKBENCH_EXPORTS "
                   "to a writable folder (or pass out=)")
    say = progress or (lambda message: None)
    result = ExportResult(model=spec.name, root=str(root))
    fingerprint = _fingerprint(spec)

    def want(v: str, base) -> dict:  # reuse only what the same weights, recipe and (quantized) fp32 made
        return {"fingerprint": fingerprint, "recipe": _recipe(v), "base": base if v != "fp32" else None}

    quantized = [v for v in VARIANTS if v in variants and v != "fp32"]
    fp32 = None if force and "fp32" in variants else _matching(root / "fp32", want("fp32", None))
    todo = [v for v in quantized if force or not _matching(root / v, want(v, fp32 and fp32["created"]))]
    if fp32 is not None and ("fp32" in variants or todo) and not _intact(root / "fp32", force):
        fp32 = None
    if fp32 is None:
        todo = quantized  # a new fp32 graph: every quantized variant derives from it again
    elif "fp32" in variants:
        result.variants["fp32"] = VariantExport("fp32", str(root / "fp32"), False, fp32.get("export_seconds", 0.0),
                                                fp32.get("size_bytes", 0))
    with tempfile.TemporaryDirectory(prefix="wb-export-") as scratch:
        order = (["fp32"] if fp32 is None else []) + quantized
        for i, v in enumerate(order):
            if step is not None:
                step(i, len(order), v)
            if cancel is not None and cancel.is_set():
                result.status = "cancelled"
                break
            d = root / v
            base = fp32["created"] if fp32 is not None else None
            if v not in todo and v != "fp32":
                manifest = _matching(d, want(v, base))
                _intact(d, False)
                result.variants[v] = VariantExport(v, str(d), False, manifest.get("export_seconds", 0.0),
                                                   manifest.get("size_bytes", 0))
                continue
            say(f"Exporting {spec.name} to ONNX ({v})…")
            t0 = time.perf_counter()
            with atomic_dir(d) as tmp:
                if v == "fp32":
                    src = _source_dir(spec, Path(scratch))
                    extra = _export_fp32(src, tmp, AutoConfig.from_pretrained(src, local_files_only=True))
                else:
                    extra = _quantize(root / "fp32", tmp, v)
                seconds = round(time.perf_counter() - t0, 1)
                body = _write_manifest(tmp, {
                    "variant": v, "export_seconds": seconds, **want(v, base),
                    "source": {"model": spec.name, "kind": spec.kind, "path": spec.source},
                    **extra})
            if v == "fp32":
                fp32 = body
            say(f"{spec.name} {v}: {body['size_bytes'] / 1e6:.0f} MB in {seconds:.0f} s")
            if v in variants:
                result.variants[v] = VariantExport(v, str(d), True, seconds, body["size_bytes"])
    if step is not None and result.status != "cancelled":
        step(len(order), len(order), "exported")
    return result


def ensure_exported(name: str | None, variant: str, progress=None, *, force: bool = False) -> Path:
    """The variant's directory, verified, exporting it first if it is missing or stale (or ``force``)."""
    _check_variant(variant)
    return export(name, variants=(variant,), progress=progress, force=force).path(variant)
