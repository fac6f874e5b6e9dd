"""ONNX export of a registry model (base or merged), its quantized variants, and the checks that they
still say what the PyTorch model says: logit parity, greedy agreement, perplexity, and speed.

Layout: ``exports/onnx/<model>/<variant>/`` holds ``model.onnx``, the tokenizer and config (so a
variant loads on its own), ``manifest.json`` (written last: a directory without an intact manifest
is rebuilt, never loaded) and, once measured, ``parity.json``.

Why the graph is edited after Optimum's export: the traced graph spends ~3,000 tiny nodes per
decoded token on shape arithmetic, rotary embedding, repeat-kv and masking; on a 2-core CPU their
dispatch costs more than the matmuls. For Llama-family models each layer's attention core becomes
one ``GroupQueryAttention`` node (rotary inside, KV cache read and written in place), q/k/v become
one packed matmul, and an optional ``logits_to_keep`` input lets prefill skip the 49k-wide output
layer for every prompt position but the last. Parity against PyTorch is what licenses the edit.

    export("smollm2-135m-instruct")                 # fp32, int8, int4 under exports/onnx/
    report = parity("smollm2-135m-instruct", "int4")
    check_parity(report)                            # raises WorkbenchError naming the metric
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from workbench import __version__, paths
from workbench.errors import WorkbenchError
from workbench.io import atomic_dir, write_json

VARIANTS = ("fp32", "int8", "int4")
EXPORT_FORMAT = 1
GRAPH_VERSION = 1  # bump when the graph edits change, so existing exports are rebuilt
MODEL_FILE = "model.onnx"
KV_SHARED = "workbench.kv_cache"  # model metadata key: "shared" when past and present may be one buffer

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
FUSABLE = ("llama",)  # model types whose traced attention is replaced by GroupQueryAttention
STATIC_ROPE = ("default", "linear", "llama3")  # rope types with a position-independent frequency table

# Parity limits per variant: metric -> (comparison, limit). fp32 ONNX differs from torch by float
# rounding only (measured on SmolLM2: max logit diff 1e-4, identical greedy text, perplexity equal to
# 5 digits), so its limits leave 10x headroom and no more. A quantized variant counts as faithful when
# perplexity on held-out dialogues rises by at most 5 % and greedy decoding stays identical, on average,
# for at least half of the first 32 tokens (int8 measured +0.5 % and 0.76; int4 +15 % and 0.09 fails).
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
class VariantExport:
    variant: str
    path: str
    built: bool  # False when an intact export was reused
    seconds: float
    size_bytes: int


@dataclass
class ExportResult:
    model: str
    root: str
    status: str = "done"  # done | cancelled
    variants: dict[str, VariantExport] = field(default_factory=dict)

    def path(self, variant: str) -> Path:
        return Path(self.variants[variant].path)


# ---- where things live ------------------------------------------------------------------------
def export_root(name: str | None = None, out: str | Path | None = None) -> Path:
    from workbench.models.registry import resolve

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
    from workbench.models import registry

    if spec.kind == "tiny":
        model, tok = registry.build_tiny()
        model.save_pretrained(tmp, safe_serialization=True)
        tok.save_pretrained(tmp)
        return tmp
    return registry.ensure_cached(spec)


def _fingerprint(spec) -> str:
    """Identifies the weights an export came from, so re-merging a model under the same name re-exports."""
    from workbench.models import registry

    if spec.kind == "tiny":
        return "builtin:tiny-llama"
    d = registry.ensure_cached(spec)
    h = hashlib.sha1()
    for p in sorted(Path(d).iterdir()):
        if p.is_file() and (p.suffix in (".safetensors", ".bin", ".json") and p.name != "manifest.json"):
            st = p.stat()
            h.update(f"{p.name}:{st.st_size}:{st.st_mtime_ns};".encode())
    return h.hexdigest()[:16]


# ---- graph edits ------------------------------------------------------------------------------
def _rope_tables(config):
    """cos/sin tables (max_positions x head_dim/2) computed exactly as transformers' Llama does."""
    import torch
    from transformers.modeling_rope_utils import ROPE_INIT_FUNCTIONS

    scaling = getattr(config, "rope_scaling", None) or {}
    rope_type = scaling.get("rope_type", scaling.get("type", "default"))
    if rope_type not in STATIC_ROPE:
        return None
    inv_freq, attention_scaling = ROPE_INIT_FUNCTIONS[rope_type](config, "cpu")
    pos = torch.arange(config.max_position_embeddings, dtype=torch.float32)
    freqs = (inv_freq.float()[None, :, None] @ pos[None, None, :]).transpose(1, 2)[0]
    return ((freqs.cos() * attention_scaling).numpy(), (freqs.sin() * attention_scaling).numpy())


def _consumers(graph) -> dict[str, list]:
    out: dict[str, list] = {}
    for n in graph.node:
        for i in n.input:
            out.setdefault(i, []).append(n)
    return out


def _scope_nodes(graph, scope: str) -> list:
    return [n for n in graph.node if n.name.startswith(scope)]


def _prune(graph) -> None:
    """Drop nodes, initializers and inputs that no graph output depends on."""
    producer = {o: k for k, n in enumerate(graph.node) for o in n.output}
    needed, used, stack = set(), set(), [o.name for o in graph.output]
    while stack:
        name = stack.pop()
        if name in needed:
            continue
        needed.add(name)
        k = producer.get(name)
        if k is None or k in used:
            continue
        used.add(k)
        n = graph.node[k]
        stack.extend(i for i in n.input if i)
        for attr in n.attribute:  # subgraphs (If/Loop) read outer names too
            for sub in ([attr.g] if attr.g.node else []) + list(attr.graphs):
                stack.extend(i for s in sub.node for i in s.input if i)
    keep = [n for k, n in enumerate(graph.node) if k in used]
    del graph.node[:]
    graph.node.extend(keep)
    inits = [t for t in graph.initializer if t.name in needed]
    del graph.initializer[:]
    graph.initializer.extend(inits)
    inputs = [i for i in graph.input if i.name in needed]
    del graph.input[:]
    graph.input.extend(inputs)


def _fuse_attention(model, config) -> bool:
    """Replace each layer's traced attention with GroupQueryAttention; False (graph untouched) if the
    graph is not the Llama layout this expects."""
    import numpy as np
    from onnx import TensorProto, helper, numpy_helper

    if config.model_type not in FUSABLE or getattr(config, "sliding_window", None):
        return False
    tables = _rope_tables(config)
    if tables is None:
        return False
    g = model.graph
    init = {t.name: t for t in g.initializer}
    heads, kv_heads = config.num_attention_heads, config.num_key_value_heads
    head_dim = getattr(config, "head_dim", None) or config.hidden_size // heads
    producers = {o: n for n in g.node for o in n.output}
    plan = []
    for i in range(config.num_hidden_layers):
        scope = f"/model/layers.{i}/self_attn/"
        proj = {}
        for p in ("q_proj", "k_proj", "v_proj"):
            found = _scope_nodes(g, f"{scope}{p}/")
            if len(found) != 1 or found[0].op_type != "MatMul" or found[0].input[1] not in init:
                return False
            proj[p] = found[0]
        o_proj = [n for n in _scope_nodes(g, f"{scope}o_proj/") if n.op_type == "MatMul"]
        pk, pv = producers.get(f"present.{i}.key"), producers.get(f"present.{i}.value")
        if len(o_proj) != 1 or pk is None or pv is None or len({n.input[0] for n in proj.values()}) != 1:
            return False
        plan.append((i, proj, o_proj[0], pk, pv))

    drop = set()
    new_nodes, new_inits = [], []
    cos, sin = tables
    new_inits += [numpy_helper.from_array(cos.astype(np.float32), "wb_rope_cos"),
                  numpy_helper.from_array(sin.astype(np.float32), "wb_rope_sin"),
                  numpy_helper.from_array(np.array([1], dtype=np.int64), "wb_axis_1"),
                  numpy_helper.from_array(np.array(1, dtype=np.int64), "wb_one"),
                  numpy_helper.from_array(np.array(1, dtype=np.int64), "wb_index_1")]
    new_nodes += [
        helper.make_node("ReduceSum", ["attention_mask", "wb_axis_1"], ["wb_mask_sum"], keepdims=0,
                         name="/wb/mask_sum"),
        helper.make_node("Sub", ["wb_mask_sum", "wb_one"], ["wb_seqlens64"], name="/wb/seqlens_sub"),
        helper.make_node("Cast", ["wb_seqlens64"], ["wb_seqlens_k"], to=TensorProto.INT32, name="/wb/seqlens"),
        helper.make_node("Shape", ["attention_mask"], ["wb_mask_shape"], name="/wb/mask_shape"),
        helper.make_node("Gather", ["wb_mask_shape", "wb_index_1"], ["wb_total64"], axis=0, name="/wb/total_g"),
        helper.make_node("Cast", ["wb_total64"], ["wb_total_len"], to=TensorProto.INT32, name="/wb/total"),
    ]
    for i, proj, o_proj, pk, pv in plan:
        scope = f"/model/layers.{i}/self_attn/"
        w = np.concatenate([numpy_helper.to_array(init[proj[p].input[1]]) for p in ("q_proj", "k_proj", "v_proj")],
                           axis=1)
        new_inits.append(numpy_helper.from_array(w, f"model.layers.{i}.self_attn.qkv_proj.weight"))
        qkv = f"{scope}qkv_proj/MatMul_output_0"
        new_nodes.append(helper.make_node("MatMul", [proj["q_proj"].input[0], new_inits[-1].name], [qkv],
                                          name=f"{scope}qkv_proj/MatMul"))
        attn = f"{scope}GroupQueryAttention_output_0"
        new_nodes.append(helper.make_node(
            "GroupQueryAttention",
            [qkv, "", "", f"past_key_values.{i}.key", f"past_key_values.{i}.value", "wb_seqlens_k", "wb_total_len",
             "wb_rope_cos", "wb_rope_sin"],
            [attn, f"present.{i}.key", f"present.{i}.value"],
            domain="com.microsoft", name=f"{scope}GroupQueryAttention",
            num_heads=heads, kv_num_heads=kv_heads, do_rotary=1, rotary_interleaved=0,
            scale=float(head_dim) ** -0.5))
        o_proj.input[0] = attn
        drop.update(id(n) for n in (pk, pv, *proj.values()))
    kept = [n for n in g.node if id(n) not in drop]
    del g.node[:]
    g.node.extend(new_nodes + kept)
    g.initializer.extend(new_inits)
    for vi in list(g.input) + list(g.output):  # past and present may be one buffer of any capacity
        if vi.name.startswith(("past_key_values.", "present.")):
            vi.type.tensor_type.shape.dim[2].dim_param = "kv_capacity"
    if not any(o.domain == "com.microsoft" for o in model.opset_import):
        model.opset_import.append(helper.make_opsetid("com.microsoft", 1))
    helper.set_model_props(model, {**{p.key: p.value for p in model.metadata_props}, KV_SHARED: "shared"})
    _prune(g)
    _topo_sort(g)
    return True


def _add_logits_to_keep(model) -> bool:
    """An optional input (default 0 = every position) slicing the hidden states before the output
    layer, so prefill computes logits for the last position only."""
    import numpy as np
    from onnx import TensorProto, helper, numpy_helper

    g = model.graph
    heads = [n for n in _scope_nodes(g, "/lm_head/") if n.op_type == "MatMul"]
    if len(heads) != 1:
        return False
    head = heads[0]
    g.input.append(helper.make_tensor_value_info("logits_to_keep", TensorProto.INT64, [1]))
    g.initializer.extend([numpy_helper.from_array(np.array([0], dtype=np.int64), "logits_to_keep"),
                          numpy_helper.from_array(np.array([np.iinfo(np.int64).max], dtype=np.int64), "wb_end"),
                          numpy_helper.from_array(np.array([1], dtype=np.int64), "wb_seq_axis")])
    sliced = "/lm_head/kept_hidden"
    g.node.extend([
        helper.make_node("Neg", ["logits_to_keep"], ["/lm_head/keep_start"], name="/lm_head/keep_neg"),
        helper.make_node("Slice", [head.input[0], "/lm_head/keep_start", "wb_end", "wb_seq_axis"], [sliced],
                         name="/lm_head/keep_slice"),
    ])
    head.input[0] = sliced
    for o in g.output:
        if o.name == "logits":
            o.type.tensor_type.shape.dim[1].dim_param = "logits_kept"
    _topo_sort(g)
    return True


def _topo_sort(graph) -> None:
    known = {i.name for i in graph.input} | {t.name for t in graph.initializer} | {""}
    pending, ordered = list(graph.node), []
    while pending:
        rest = []
        for n in pending:
            if all(i in known for i in n.input):
                ordered.append(n)
                known.update(n.output)
            else:
                rest.append(n)
        if len(rest) == len(pending):
            raise WorkbenchError("The edited ONNX graph has a cycle or a missing input.",
                                 where=", ".join(n.name for n in rest[:3]),
                                 fix="report this model; export it with fuse=False meanwhile")
        pending = rest
    del graph.node[:]
    graph.node.extend(ordered)


def _untie_lm_head(model) -> bool:
    """Tied embeddings reach the output layer through a runtime Transpose, which the weight
    quantizers cannot see; store the transposed weight so the 49k x 576 matmul is quantized too."""
    import numpy as np
    from onnx import numpy_helper

    g = model.graph
    init = {t.name: t for t in g.initializer}
    heads = [n for n in _scope_nodes(g, "/lm_head/") if n.op_type == "MatMul"]
    producers = {o: n for n in g.node for o in n.output}
    if len(heads) != 1 or heads[0].input[1] in init:
        return False
    t = producers.get(heads[0].input[1])
    if t is None or t.op_type != "Transpose" or t.input[0] not in init:
        return False
    w = numpy_helper.to_array(init[t.input[0]])
    g.initializer.append(numpy_helper.from_array(np.ascontiguousarray(w.T), "lm_head.weight"))
    heads[0].input[1] = "lm_head.weight"
    _prune(g)
    return True


def _save(model, path: Path) -> None:
    """One file while it fits protobuf's 2 GB; weights beside it (model.onnx.data) beyond that."""
    import onnx

    big = sum(t.ByteSize() for t in model.graph.initializer) > 1_800_000_000
    onnx.save_model(model, str(path), save_as_external_data=big, all_tensors_to_one_file=True,
                    location=path.name + ".data", size_threshold=1024)


# ---- export -----------------------------------------------------------------------------------
_SIDE_FILES = ("config.json", "generation_config.json", "tokenizer.json", "tokenizer_config.json",
               "special_tokens_map.json", "chat_template.jinja", "vocab.json", "merges.txt",
               "added_tokens.json", "tokenizer.model")


def _recipe(variant: str) -> dict:
    """What decides a variant's bytes besides the weights; a change re-exports."""
    return {"graph": GRAPH_VERSION, **QUANTIZATION.get(variant, {})}


def _write_manifest(d: Path, extra: dict) -> dict:
    files = {p.name: p.stat().st_size for p in sorted(d.iterdir()) if p.is_file() and p.name != "parity.json"}
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
    fused = _fuse_attention(model, config)
    kept = _add_logits_to_keep(model)
    _save(model, tmp / MODEL_FILE)
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
    untied = _untie_lm_head(model)
    q = MatMulNBitsQuantizer(model, bits=cfg["bits"], block_size=cfg["block_size"], is_symmetric=cfg["symmetric"],
                             accuracy_level=cfg["accuracy_level"], op_types_to_quantize=("MatMul",))
    log = logging.getLogger("onnxruntime.quantization.matmul_nbits_quantizer")
    level, log.level = log.level, logging.WARNING  # it logs every node at INFO: thousands of lines
    try:
        q.process()
    finally:
        log.setLevel(level)
    _save(q.model.model, tmp / MODEL_FILE)
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

    from workbench.models.registry import resolve

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


# ---- parity -----------------------------------------------------------------------------------
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


def _measure(gen, logits_of, prompts, k_tokens, sequences) -> dict:
    """Everything parity compares, from one generator: probe logits, greedy tokens, perplexity."""
    probe_ids = [gen.encode_chat(p) for p in prompts]
    greedy = [[t for t, _ in gen._steps(ids, k_tokens, 0.0, 0, None)] for ids in probe_ids]
    nll = count = 0.0
    for ids in sequences:
        a, b = _nll(logits_of(ids), ids)
        nll, count = nll + a, count + b
    return {"logits": [logits_of(ids) for ids in probe_ids], "greedy": greedy, "ppl": math.exp(nll / count)}


def _torch_logits(gen):
    import torch

    def run(ids):
        with torch.inference_mode():
            return gen.model(input_ids=torch.tensor([list(ids)])).logits[0].float().numpy()
    return run


def _agreement(ref: list[int], got: list[int], k: int) -> float:
    """Share of the first k greedy tokens that match before the first divergence (1.0 if identical)."""
    if ref == got:
        return 1.0
    same = next((i for i, (a, b) in enumerate(zip(ref, got)) if a != b), min(len(ref), len(got)))
    return same / max(1, min(k, max(len(ref), len(got))))


def parity(name: str | None = None, variant: str = "int4", *, out: str | Path | None = None,
           prompts=PROBES, k_tokens: int = 32, n_dialogues: int = PPL_DIALOGUES, save: bool = True,
           progress=None) -> dict:
    """Compare an exported variant with the PyTorch model it came from, and save ``parity.json``.

    Metrics: max/mean absolute difference of all-position logits over the probe prompts; greedy
    agreement (mean share of the first ``k_tokens`` greedy tokens identical before the first
    divergence); perplexity on held-out dialogues and its change in percent against fp32 ONNX
    (``ppl_delta_pct``) and against torch (``ppl_delta_pct_vs_torch``). ``passed``/``failures`` apply
    PARITY_LIMITS; ``check_parity`` turns a failure into an error.
    """
    import numpy as np

    from workbench.models import get_generator
    from workbench.models.onnx import OnnxGenerator
    from workbench.models.registry import resolve

    spec = resolve(name)
    source = spec.source or spec.name  # a path when the model is a local directory, else its name
    d = variant_dir(source, variant, out)
    manifest = read_manifest(d)
    if manifest is None:
        raise WorkbenchError(f"No intact {variant} export of {spec.name}.", where=str(d),
                             fix=f"run export({source!r}, variants=({variant!r},)) first")
    say = progress or (lambda message: None)
    torch_gen = get_generator(source, "torch")
    sequences = [list(torch_gen.tokenizer.apply_chat_template(x.messages, tokenize=True))[:PPL_MAX_TOKENS]
                 for x in heldout_dialogues(n_dialogues)]
    key = (spec.name, manifest.get("fingerprint"), tuple(prompts), k_tokens, n_dialogues)
    if ("torch",) + key not in _REFERENCE:
        say(f"Measuring the PyTorch reference for {spec.name}…")
        _REFERENCE[("torch",) + key] = _measure(torch_gen, _torch_logits(torch_gen), prompts, k_tokens, sequences)
    ref = _REFERENCE[("torch",) + key]
    say(f"Measuring {spec.name} {variant}…")
    gen = OnnxGenerator(d, spec.name)
    got = _measure(gen, gen.logits, prompts, k_tokens, sequences)
    if variant == "fp32":
        ppl_fp32 = got["ppl"]
    else:
        fp32_dir = variant_dir(source, "fp32", out)
        fp32_manifest = read_manifest(fp32_dir) or {}
        fkey = ("fp32", str(fp32_dir), fp32_manifest.get("created")) + key
        if fkey not in _REFERENCE:
            fp32 = OnnxGenerator(fp32_dir, spec.name)
            nll = count = 0.0
            for ids in sequences:
                a, b = _nll(fp32.logits(ids), ids)
                nll, count = nll + a, count + b
            _REFERENCE[fkey] = {"ppl": math.exp(nll / count)}
        ppl_fp32 = _REFERENCE[fkey]["ppl"]
    diffs = [np.abs(a - b) for a, b in zip(ref["logits"], got["logits"])]
    per_prompt = [_agreement(a, b, k_tokens) for a, b in zip(ref["greedy"], got["greedy"])]
    report = {
        "model": spec.name, "variant": variant, "path": str(d),
        "max_abs_logit_diff": float(max(x.max() for x in diffs)),
        "mean_abs_logit_diff": float(np.mean([x.mean() for x in diffs])),
        "greedy_agreement": float(np.mean(per_prompt)),
        "greedy_agreement_per_prompt": per_prompt,
        "ppl": got["ppl"], "ppl_fp32": ppl_fp32, "ppl_torch": ref["ppl"],
        "ppl_delta_pct": 100.0 * (got["ppl"] - ppl_fp32) / ppl_fp32,
        "ppl_delta_pct_vs_torch": 100.0 * abs(got["ppl"] - ref["ppl"]) / ref["ppl"],
        "probes": len(prompts), "k_tokens": k_tokens,
        "ppl_dialogues": [x.id for x in heldout_dialogues(n_dialogues)], "ppl_max_tokens": PPL_MAX_TOKENS,
        "limits": {m: list(v) for m, v in PARITY_LIMITS.get(variant, {}).items()},
        "workbench_version": __version__, "created": time.strftime("%Y-%m-%dT%H:%M:%S"),
    }
    report["failures"] = _failures(report, PARITY_LIMITS.get(variant, {}))
    report["passed"] = not report["failures"]
    if save:
        write_json(d / "parity.json", report)
    return report


def _failures(report: dict, limits: dict) -> list[dict]:
    out = []
    for metric, (op, limit) in limits.items():
        value = report.get(metric)
        ok = value is not None and (value <= limit if op == "<=" else value >= limit)
        if not ok:
            out.append({"metric": metric, "value": value, "op": op, "limit": limit})
    return out


_FIXES = {
    "max_abs_logit_diff": "the fp32 graph should match torch to rounding: re-export it (delete the variant "
                          "directory); if it persists, the graph edit does not fit this architecture",
    "greedy_agreement": "use a less aggressive variant for this model (int8, or fp32)",
    "ppl_delta_pct": "quantization costs this model too much: use a less aggressive variant (int8, or fp32)",
    "ppl_delta_pct_vs_torch": "re-export the fp32 variant; a persistent gap means the export is not faithful",
}


def check_parity(report: dict, limits: dict | None = None) -> dict:
    """Raise WorkbenchError naming variant, metric, value and limit when a parity limit is broken.

    ``limits`` (metric -> (op, limit)) overrides PARITY_LIMITS for the report's variant.
    """
    limits = PARITY_LIMITS.get(report.get("variant"), {}) if limits is None else limits
    failures = _failures(report, limits)
    if failures:
        f = failures[0]
        more = f" (and {len(failures) - 1} more: {', '.join(x['metric'] for x in failures[1:])})" if failures[1:] else ""
        raise WorkbenchError(
            f"ONNX variant {report.get('variant')} of {report.get('model')} fails parity: {f['metric']} = "
            f"{f['value']:.6g}, limit {f['op']} {f['limit']:g}{more}.",
            where=report.get("path"), fix=_FIXES.get(f["metric"], "re-export the variant"))
    return report


# ---- speed ------------------------------------------------------------------------------------
def speed(generator, prompt="How can I help a client who avoids homework between sessions?",
          max_new_tokens: int = 128, warmup: bool = True) -> dict:
    """Prefill and decode tokens/s of one greedy generation, plus memory; any Generator (torch, ONNX).

    Decoding stops early at an end-of-turn token, so ``decode_tokens`` says how many were timed.
    ``peak_rss_mb`` is the process's high-water mark (it includes every model loaded so far).
    """
    import resource

    if warmup:
        generator.chat(prompt, max_new_tokens=4)
    c = generator.chat(prompt, max_new_tokens=max_new_tokens)
    try:
        import psutil

        rss = psutil.Process().memory_info().rss / 2**20
    except ImportError:
        rss = None
    return {
        "model": c.model, "backend": c.backend, "variant": getattr(generator, "variant", None),
        "prompt_tokens": c.prompt_tokens, "decode_tokens": c.completion_tokens,
        "prefill_tok_s": c.prompt_tokens / c.prefill_s if c.prefill_s > 0 else 0.0,
        "decode_tok_s": c.tokens_per_s,
        "rss_mb": rss, "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def export_and_compare(model: str, variants, *, max_new_tokens: int = 64, progress=None, cancel=None) -> dict:
    """Export, check parity and time each variant against torch: the widget's one call, also usable alone."""
    from workbench.models import get_generator

    say = progress or (lambda message: None)
    result = export(model, variants=tuple(variants), progress=say, cancel=cancel)
    reports, speeds = [], []
    if result.status == "cancelled":
        return {"export": result, "parity": reports, "speed": speeds}
    say("Timing PyTorch…")
    speeds.append(speed(get_generator(model), max_new_tokens=max_new_tokens))
    for v in variants:
        if cancel is not None and cancel.is_set():
            break
        reports.append(parity(model, v, progress=say))
        say(f"Timing {v}…")
        speeds.append(speed(get_generator(model, "onnx", variant=v), max_new_tokens=max_new_tokens))
    return {"export": result, "parity": reports, "speed": speeds}
