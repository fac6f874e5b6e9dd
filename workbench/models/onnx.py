"""The ONNX Runtime backend: the torch generator's protocol over an exported variant directory.

The decode loop is ours, not Optimum's ``generate``: at ~100 tokens/s on two cores every Python
microsecond per token shows. Inputs and outputs are bound once to preallocated numpy buffers through
IOBinding (the token, position and mask buffers are rewritten in place), and in graphs exported with
GroupQueryAttention the KV cache is one buffer per layer that is both the ``past`` input and the
``present`` output, so a step copies nothing but one token id in and one row of logits out. Graphs
without that edit still work: their presents are bound back as the next step's pasts, as OrtValues.

A variant loads only after its manifest's checksums verify (``onnx_export.verify_export``, once per
file version and process): a damaged file is reported with its fix, never answered with.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Sequence
from contextlib import contextmanager
from pathlib import Path

from workbench.errors import WorkbenchError
from workbench.models.generate import TorchGenerator, repeat_bans
from workbench.models.onnx_export import verify_export
from workbench.models.onnx_graph import KV_SHARED

__all__ = ["OnnxGenerator", "physical_cores", "session_options"]


def physical_cores() -> int:
    """Cores this process may use, counting each physical core once (SMT siblings share its units)."""
    try:
        allowed = len(os.sched_getaffinity(0))
    except AttributeError:
        allowed = os.cpu_count() or 1
    try:
        import psutil

        physical = psutil.cpu_count(logical=False) or allowed
    except ImportError:
        physical = allowed
    return max(1, min(allowed, physical))


def session_options(threads: int | None = None):
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = threads or physical_cores()
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    so.log_severity_level = 3
    return so


class OnnxGenerator(TorchGenerator):
    """Same prompt handling, streaming, stop strings and Completion as TorchGenerator (inherited);
    only the forward pass, the decode steps and scoring are ONNX Runtime's. ``chat_many`` decodes several
    rows per step on graphs with fused attention (one shared KV buffer per layer, a row per answer)."""

    backend = "onnx"

    def __init__(self, path: str | Path, name: str | None = None, *, threads: int | None = None):
        import numpy as np
        import onnxruntime as ort
        from transformers import AutoConfig, AutoTokenizer

        self.path = Path(path)
        model_file = self.path / "model.onnx"
        if not model_file.is_file():
            raise WorkbenchError(f"No ONNX model in {self.path}.", where=str(self.path),
                                 fix=f"export it first: workbench export NAME --variants {self.path.name}   "
                                 "(from Python: workbench.models.onnx_export.export(name, variants=('int8',)))")
        manifest = verify_export(self.path)  # never run unverified bytes
        self.variant = manifest.get("variant", self.path.name)
        self.tokenizer = AutoTokenizer.from_pretrained(str(self.path), local_files_only=True)
        self.config = AutoConfig.from_pretrained(str(self.path), local_files_only=True)
        self.name = name or manifest.get("source", {}).get("model") or self.path.parent.name
        self.model = None  # no torch module behind this generator
        self.context_window = int(min(self.tokenizer.model_max_length, self.config.max_position_embeddings))
        self.stop_ids = {i for i in (self.tokenizer.eos_token_id, self.config.eos_token_id) if i is not None}
        self.last = None
        self.threads = threads or int(os.environ.get("WORKBENCH_ORT_THREADS") or 0) or physical_cores()
        ort.set_default_logger_severity(3)  # keep ORT's load-time advice out of notebooks
        try:
            self.session = ort.InferenceSession(str(model_file), session_options(self.threads),
                                                providers=["CPUExecutionProvider"])
        except Exception as exc:
            raise WorkbenchError(f"ONNX Runtime could not load {model_file}: {exc}", where=str(model_file),
                                 fix=f"re-export the variant: workbench export {self.name} --variants {self.variant} "
                                 "--force") from exc
        inputs = {i.name: i for i in self.session.get_inputs()}
        self.input_names = set(inputs)
        self.n_layers = sum(1 for n in inputs if n.startswith("past_key_values.") and n.endswith(".key"))
        missing = {"input_ids", "attention_mask"} - self.input_names
        if missing or "logits" not in {o.name for o in self.session.get_outputs()}:
            raise WorkbenchError(f"{model_file} is not a causal LM with a KV cache (lacks {sorted(missing)}).",
                                 where=str(model_file), fix="export with workbench.models.onnx_export.export")
        kv = inputs["past_key_values.0.key"].shape  # [batch, kv_heads, length, head_dim]
        self.kv_heads, self.head_dim = int(kv[1]), int(kv[3])
        self.vocab = int(self.session.get_outputs()[0].shape[-1])
        meta = self.session.get_modelmeta().custom_metadata_map
        self.shared_kv = meta.get(KV_SHARED) == "shared"
        self._np = np
        self._lock = threading.Lock()  # one generation or scoring call at a time: they share the buffers
        self._owner: int | None = None
        self._binding = self.session.io_binding()
        self._keep = np.zeros(1, dtype=np.int64)
        self._logits = np.empty((1, self.vocab), dtype=np.float32)  # grows to the most rows asked for
        self._capacity, self._rows = 0, 0  # tokens and rows the buffers below can hold
        self._bound: tuple | None = None  # (rows, first row) the KV buffers are bound for
        self._grow(256)

    # ---- buffers ------------------------------------------------------------------------------
    @contextmanager
    def _exclusive(self):
        """Other threads wait their turn; the same thread re-entering (an unfinished stream) is told."""
        if self._owner == threading.get_ident():
            raise WorkbenchError("This ONNX generator is still streaming an earlier answer in this thread.",
                                 fix="finish iterating that stream, or call .close() on it, before starting another")
        with self._lock:
            self._owner = threading.get_ident()
            try:
                yield
            finally:
                self._owner = None

    def _grow(self, tokens: int, rows: int = 1) -> None:
        """Make room for ``tokens`` positions in ``rows`` rows; shared KV buffers keep their contents."""
        np = self._np
        if tokens <= self._capacity and rows <= self._rows:
            return
        cap = self._capacity if tokens <= self._capacity else max(tokens, 2 * self._capacity)
        rows = max(rows, self._rows)
        self._ids = np.zeros(cap, dtype=np.int64)
        self._pos = np.arange(cap, dtype=np.int64)
        self._mask = np.ones(cap, dtype=np.int64)
        if self.shared_kv:
            old = getattr(self, "_kv", None)
            self._kv = [np.zeros((rows, self.kv_heads, cap, self.head_dim), dtype=np.float32)
                        for _ in range(2 * self.n_layers)]
            if old is not None:
                for new, prev in zip(self._kv, old, strict=True):
                    new[:prev.shape[0], :, :prev.shape[2]] = prev
            self._bound = None
        self._capacity, self._rows = cap, rows

    def _bind_kv(self, rows: int, first: int = 0) -> None:
        """Bind ``rows`` rows of the shared KV buffers from row ``first`` as the graph's past and present
        (one contiguous block: a row is [kv_heads, capacity, head_dim])."""
        if self._bound == (rows, first):
            return
        np, b = self._np, self._binding
        for layer in range(self.n_layers):
            for j, kind in enumerate(("key", "value")):
                buf = self._kv[2 * layer + j]
                shape, ptr = [rows, *buf.shape[1:]], buf[first:].ctypes.data
                b.bind_input(f"past_key_values.{layer}.{kind}", "cpu", 0, np.float32, shape, ptr)
                b.bind_output(f"present.{layer}.{kind}", "cpu", 0, np.float32, shape, ptr)
        self._bound = (rows, first)

    def _forward(self, ids: Sequence[int], start: int, keep: int = 0, past=None, row: int = 0):
        """Run ``ids`` at positions start.. on top of a cache holding ``start`` tokens (in buffer row ``row``).

        Returns (logits, past): logits is a view of rows for the last ``keep`` positions (all when
        0), valid until the next call; ``past`` is the cache handle to pass with the next call (None
        for a shared buffer, where positions >= start are simply overwritten, so rewinding is free).
        """
        np = self._np
        s, total = len(ids), start + len(ids)
        if total > self._capacity:
            self._grow(total)
        b = self._binding
        self._ids[:s] = ids
        b.bind_input("input_ids", "cpu", 0, np.int64, [1, s], self._ids.ctypes.data)
        b.bind_input("attention_mask", "cpu", 0, np.int64, [1, total], self._mask.ctypes.data)
        if "position_ids" in self.input_names:
            b.bind_input("position_ids", "cpu", 0, np.int64, [1, s], self._pos[start:].ctypes.data)
        if self.shared_kv:
            self._bind_kv(1, row)
        rows = s
        if "logits_to_keep" in self.input_names:
            rows = min(keep, s) if keep else s
            self._keep[0] = rows
            b.bind_input("logits_to_keep", "cpu", 0, np.int64, [1], self._keep.ctypes.data)
        if rows > len(self._logits):
            self._logits = np.empty((rows, self.vocab), dtype=np.float32)
        b.bind_output("logits", "cpu", 0, np.float32, [1, rows, self.vocab], self._logits.ctypes.data)
        if not self.shared_kv:
            if past is None:
                if start:
                    raise WorkbenchError("A non-empty cache needs its handle.", fix="pass past from the last call")
                empty = np.zeros((1, self.kv_heads, 0, self.head_dim), dtype=np.float32)
                past = [empty] * (2 * self.n_layers)
            for layer in range(self.n_layers):
                for j, kind in enumerate(("key", "value")):
                    v = past[2 * layer + j]
                    if isinstance(v, np.ndarray):
                        b.bind_cpu_input(f"past_key_values.{layer}.{kind}", v)
                    else:
                        b.bind_ortvalue_input(f"past_key_values.{layer}.{kind}", v)
                    b.bind_output(f"present.{layer}.{kind}", "cpu")
        self.session.run_with_iobinding(b)
        if not self.shared_kv:
            past = b.get_outputs()[1:]
        logits = self._logits[:rows]
        return (logits[-keep:] if keep else logits), past

    # ---- generation ---------------------------------------------------------------------------
    def _pick(self, logits, temperature: float, rng, bans=()):
        np = self._np
        if bans:
            logits = logits.copy()
            logits[list(bans)] = -np.inf
        if temperature <= 0:
            return int(logits.argmax())
        z = logits.astype(np.float64) / temperature
        p = np.exp(z - z.max())
        return int(rng.choice(len(p), p=p / p.sum()))

    def _steps(self, ids: list[int], max_new_tokens: int, temperature: float, seed: int, cancel,
               no_repeat: int = 0):
        """Yield (token_id, prefill_s) lazily, like TorchGenerator._steps, so ``greedy_tokens`` and the chat
        methods are inherited unchanged; sampling uses numpy's RNG, so sampled text differs from torch's
        for the same seed (greedy text does not)."""
        rng, said = self._np.random.default_rng(seed), []
        with self._exclusive():  # released when the loop ends or the caller drops the generator
            t0 = time.perf_counter()
            self._grow(len(ids) + max_new_tokens)
            logits, past = self._forward(ids, 0, keep=1)
            prefill = time.perf_counter() - t0
            pos = len(ids)
            for _ in range(max_new_tokens):
                if cancel is not None and cancel.is_set():
                    return
                tok = self._pick(logits[-1], temperature, rng, repeat_bans(said, no_repeat))
                if tok in self.stop_ids:
                    return
                said.append(tok)
                yield tok, prefill
                logits, past = self._forward((tok,), pos, keep=1, past=past)
                pos += 1

    def _decode_rows(self, toks: Sequence[int], lengths):
        """One decode step for rows 0..len(toks)-1 of the shared buffers, row r holding ``lengths[r]`` tokens;
        returns their next-token logits (a view valid until the next call). Per-row lengths are the mask's."""
        np, b, n = self._np, self._binding, len(toks)
        total = int(lengths.max()) + 1
        self._step_ids = np.asarray(toks, dtype=np.int64).reshape(n, 1)  # kept alive while bound
        self._step_mask = (np.arange(total)[None, :] <= lengths[:, None]).astype(np.int64)
        self._step_pos = lengths.astype(np.int64).reshape(n, 1)
        b.bind_cpu_input("input_ids", self._step_ids)
        b.bind_cpu_input("attention_mask", self._step_mask)
        if "position_ids" in self.input_names:
            b.bind_cpu_input("position_ids", self._step_pos)
        if "logits_to_keep" in self.input_names:
            self._keep[0] = 1
            b.bind_input("logits_to_keep", "cpu", 0, np.int64, [1], self._keep.ctypes.data)
        if n > len(self._logits):
            self._logits = np.empty((n, self.vocab), dtype=np.float32)
        b.bind_output("logits", "cpu", 0, np.float32, [n, 1, self.vocab], self._logits.ctypes.data)
        self._bind_kv(n)
        self.session.run_with_iobinding(b)
        return self._logits[:n]

    def _steps_many(self, take, max_new_tokens: int, temperature: float, seed: int, cancel, finished: set,
                    batch_size: int, no_repeat: int = 0):
        """TorchGenerator._steps_many on ONNX Runtime: each row is prefilled alone into a row of its own in the
        shared KV buffers, then the rows decode together. A row that leaves is overwritten by the batch's last
        row, so the rows decoding stay one block, and a new row joins at the end. Graphs without fused
        attention decode one row at a time."""
        np = self._np
        if not self.shared_kv:
            yield from self._rows_one_by_one(take, max_new_tokens, temperature, seed, cancel, finished, no_repeat)
            return
        tickets, counts, rngs, lengths, said = [], [], [], [], []
        logits = np.empty((0, self.vocab), dtype=np.float32)
        with self._exclusive():
            while True:
                if cancel is not None and cancel.is_set():
                    return
                joined = {}
                for ticket, ids in take(batch_size - len(tickets)):
                    t0, r = time.perf_counter(), len(tickets)
                    self._grow(len(ids) + max_new_tokens, r + 1)
                    logits = np.concatenate([logits, self._forward(ids, 0, keep=1, row=r)[0][-1:]])
                    tickets.append(ticket)
                    counts.append(0)
                    rngs.append(np.random.default_rng(seed))
                    lengths.append(len(ids))
                    said.append([])
                    joined[ticket] = time.perf_counter() - t0
                if not tickets:
                    return
                toks, step = self._row_step(logits, tickets, temperature, rngs, said, no_repeat)
                yield step, joined
                counts = [c + 1 for c in counts]
                for j in reversed(range(len(tickets))):  # highest first, so a moved row is never one that leaves
                    if tickets[j] in finished or step[tickets[j]] is None or counts[j] >= max_new_tokens:
                        end = len(tickets) - 1
                        if j != end:
                            for buf in self._kv:
                                buf[j, :, :lengths[end]] = buf[end, :, :lengths[end]]
                        for row in (tickets, counts, rngs, lengths, toks, said):
                            row[j] = row[end]
                            del row[end]
                if tickets:  # a copy: the next row's prefill writes the same logits buffer
                    logits = self._decode_rows(toks, np.array(lengths)).copy()
                    lengths = [n + 1 for n in lengths]
                else:
                    logits = logits[:0]

    def _rows_one_by_one(self, take, max_new_tokens, temperature, seed, cancel, finished, no_repeat):
        """``_steps_many``'s contract through the single-row loop, for graphs whose cache is not one buffer."""
        while got := take(1):
            (ticket, ids), = got
            steps, n = self._steps(ids, max_new_tokens, temperature, seed, cancel, no_repeat), 0
            try:
                for tok, prefill in steps:
                    n += 1
                    yield {ticket: tok}, ({ticket: prefill} if n == 1 else {})
                    if ticket in finished:
                        break
                else:
                    if cancel is not None and cancel.is_set():
                        return
                    if n < max_new_tokens:
                        yield {ticket: None}, {}  # an end-of-turn token
            finally:
                steps.close()  # releases the generator's hold on the buffers before the next row

    # ---- scoring ------------------------------------------------------------------------------
    def _log_softmax(self, rows):
        np = self._np
        z = rows.astype(np.float64)
        z -= z.max(axis=-1, keepdims=True)
        return z - np.log(np.exp(z).sum(axis=-1, keepdims=True))

    def logits(self, ids: Sequence[int]):
        """Logits for every position of ``ids`` (a copy), for parity checks and perplexity."""
        with self._exclusive():
            self._grow(len(ids))
            return self._forward(list(ids), 0)[0].copy()

    def score_many(self, conversations, options: Sequence[str], *, batch_size: int = 16) -> list[list[float]]:
        """Same numbers as TorchGenerator.score_many: the shared prompt prefix runs once, each prompt's
        tail runs on top of it, and each longer option on top of that tail (one row at a time;
        ``batch_size`` is accepted for signature compatibility)."""
        if not options or any(not isinstance(o, str) or not o for o in options):
            raise WorkbenchError("score_options needs a non-empty list of non-empty strings.",
                                 fix='e.g. options=["1", "2", "3", "4", "5"]')
        prompts = [self.encode_chat(m) for m in conversations]
        opts = [self.tokenizer.encode(o, add_special_tokens=False) for o in options]
        lcp, limit = 0, min(map(len, prompts)) - 1
        while lcp < limit and all(p[lcp] == prompts[0][lcp] for p in prompts):
            lcp += 1
        results = []
        with self._exclusive():
            self._grow(max(map(len, prompts)) + max(map(len, opts)))
            base = self._forward(prompts[0][:lcp], 0, keep=1)[1] if lcp else None
            for p in prompts:
                logits, tail = self._forward(p[lcp:], lcp, keep=1, past=base)
                first = self._log_softmax(logits[-1])
                scores = [float(first[o[0]]) for o in opts]
                for j, o in enumerate(opts):
                    if len(o) > 1:
                        logp = self._log_softmax(self._forward(o[:-1], len(p), past=tail)[0])
                        scores[j] += float(sum(logp[k, t] for k, t in enumerate(o[1:])))
                results.append(scores)
        return results
