"""Learned behaviour coders: EPITOME empathy levels and MITI question and reflection codes of a response,
from one MiniLM fine-tuned with rank-8 adapters (``models.tuned``) and run as ONNX.

Input: the turn answered (its last ``CONTEXT_CHARS`` characters) and the response, as one pair. Heads on the
pooled states: the three EPITOME mechanisms (0 none, 1 weak, 2 strong), ``question`` (none, open, closed)
and ``reflection`` (none, simple, complex); per token, whether the word is part of an EPITOME rationale.
Trained on EPITOME (Sharma et al., EMNLP 2020; about 75 % of the public set, with the authors'
acknowledgement in ``weights/NOTICE``) and our MI-coded utterances (``corpora/rubric/mi/train``); every pair
only teaches the heads it was coded on. The adapters and heads ship in ``weights/`` (about 1.4 MB) with a
manifest (data hashes, settings, seed); ``workbench coders --train`` reproduces them. The first use merges
them into MiniLM and exports ONNX into the cache (seconds). Validity numbers: ``weights/manifest.json`` and
``workbench validate``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from workbench.behaviours.coded import CODES, MECHANISMS, CodedPair
from workbench.errors import WorkbenchError

__all__ = ["CONTEXT_CHARS", "Coders", "WEIGHTS", "code", "coders", "decide", "epitome_levels", "fit", "mi_codes",
           "apply_cv", "cv_summary", "save", "training_files"]

VERSION = 1
LORA, EPOCHS, LR, HEAD_LR, BATCH, MAX_TOKENS, CONTEXT_CHARS, SEED = 8, 3, 1e-3, 2e-3, 16, 128, 100, 0
HEADS = {name: len(classes) for name, classes in CODES.items()}
SPANS = {f"{m}_span": 2 for m in MECHANISMS}
WEIGHTS = Path(__file__).with_name("weights")


def _context(text: str) -> str:
    """The end of the turn answered (what a reply reflects is mostly there), cut at a word."""
    text = " ".join((text or "").split())
    if len(text) <= CONTEXT_CHARS:
        return text
    return text[-CONTEXT_CHARS:].split(" ", 1)[-1]


def _encode(tokenizer, pairs: Sequence[tuple[str, str]], tensors: str = "np"):
    return tokenizer([_context(c) for c, _ in pairs], [t for _, t in pairs], padding=True,
                     truncation="only_second", max_length=MAX_TOKENS, return_offsets_mapping=True,
                     return_tensors=tensors)


def _span_targets(enc, row: int, pair: CodedPair, mech: str) -> list[int]:
    """Per token: 1 inside a rationale of ``mech``, 0 elsewhere in the response, -100 outside it or when the
    pair has no level for ``mech``."""
    seq = enc.sequence_ids(row)
    if mech not in pair.codes:
        return [-100] * len(seq)
    ranges = []
    for span in pair.rationales.get(mech, []):
        at = pair.text.find(span)
        if at >= 0:
            ranges.append((at, at + len(span)))
    out = []
    for s, (a, b) in zip(seq, enc["offset_mapping"][row].tolist(), strict=True):
        out.append(-100 if s != 1 else int(any(lo <= a and b <= hi for lo, hi in ranges)))
    return out


def fit(pairs: Sequence[CodedPair], rows: Sequence[int] | None = None, *, seed: int = SEED, progress=None,
        cancel=None):
    """Fine-tune the coder network on ``pairs[rows]`` (all by default); the trained PyTorch network, or None
    when ``cancel`` was set. Each head's classes are weighted by 1/sqrt(frequency): rare levels (strong
    emotional reactions are 5 % of EPITOME) count for macro-F1 as much as common ones."""
    import numpy as np
    import torch
    from transformers import AutoTokenizer

    from workbench.models import tuned
    from workbench.models.embeddings import minilm_path

    rows = list(range(len(pairs))) if rows is None else list(rows)
    torch.manual_seed(seed)
    tok = AutoTokenizer.from_pretrained(minilm_path())
    net = tuned.network(HEADS, SPANS, lora=LORA)
    labels = {h: torch.tensor([CODES[h].index(p.codes[h]) if h in p.codes else -100 for p in pairs])
              for h in HEADS}
    weights = {}
    for h, y in labels.items():
        counts = np.bincount(y[rows][y[rows] >= 0].numpy(), minlength=HEADS[h]).astype(float)
        weights[h] = torch.tensor((counts.sum() / np.maximum(counts, 1)) ** 0.5, dtype=torch.float32)
        weights[h] /= weights[h].mean()
    lengths = [len(x) for x in _encode(tok, [(pairs[i].context, pairs[i].text) for i in rows])["input_ids"]]

    def batch(idx):
        group = [pairs[i] for i in idx]
        enc = _encode(tok, [(p.context, p.text) for p in group], "pt")
        targets = {h: labels[h][idx] for h in HEADS}
        for m in MECHANISMS:
            targets[f"{m}_span"] = torch.tensor([_span_targets(enc, r, p, m) for r, p in enumerate(group)])
        return enc["input_ids"], enc["attention_mask"], targets

    done = tuned.train(net, batch, rows, lengths, epochs=EPOCHS, lr=LR, head_lr=HEAD_LR, batch_size=BATCH,
                       seed=seed, weights=weights, progress=progress, cancel=cancel)
    return (net, tok) if done else None


@dataclass
class Coders:
    """The coder network (``run(ids, mask)`` -> probabilities by head) and its tokenizer."""

    run: Any
    tokenizer: Any
    manifest: dict = field(default_factory=dict)

    def predict(self, pairs: Sequence[tuple[str, str]], batch_size: int = 16) -> list[dict]:
        """Per (context, response): ``probs`` (head -> class probabilities in ``CODES`` order) and ``spans``
        (mechanism -> the response's words the model reads as its rationale). Batched by length."""
        import numpy as np

        out: list[dict] = [{} for _ in pairs]
        order = np.argsort([len(t) + min(len(c), CONTEXT_CHARS) for c, t in pairs], kind="stable")
        for start in range(0, len(pairs), batch_size):
            idx = order[start:start + batch_size]
            group = [(pairs[i][0] or "", pairs[i][1] or "") for i in idx]
            enc = _encode(self.tokenizer, group)
            res = self.run(enc["input_ids"], enc["attention_mask"])
            for r, i in enumerate(idx):
                out[i]["probs"] = {h: [float(p) for p in res[h][r]] for h in HEADS}
                out[i]["spans"] = {m: _span_text(group[r][1], enc, r, res[f"{m}_span"][r][:, 1]) for m in MECHANISMS}
        return out


def _span_text(text: str, enc, row: int, p) -> str:
    """The longest run of response tokens the model marks (p >= 0.5) as a rationale, as text ("" when none)."""
    seq, offsets = enc.sequence_ids(row), enc["offset_mapping"][row]
    best, run = (0, 0), None
    for t, s in enumerate(seq):
        on = s == 1 and p[t] >= 0.5
        if on:
            run = (run[0] if run else int(offsets[t][0]), int(offsets[t][1]))
            best = max(best, run, key=lambda r: r[1] - r[0])
        elif s == 1:
            run = None
    return text[best[0]:best[1]].strip()


def training_files(epitome: str | Path) -> list[Path]:
    """What the coders learn from: the EPITOME CSVs in ``epitome`` and our MI files."""
    from workbench.behaviours.coded import mi_files

    return sorted(Path(epitome).glob("*.csv")) + mi_files()


def cv_summary(cv: dict) -> dict:
    """What a manifest keeps of a cross-validation report: folds, pairs, per head kappa and macro-F1 (with
    and without the offsets), T-BARS empathy's Spearman."""
    return {"k": cv["k"], "folds": cv["folds"], "n_pairs": cv["n_pairs"],
            "heads": {h: {"kappa": st["kappa"], "macro_f1": st["macro_f1"],
                          "macro_f1_without_offsets": cv.get("macro_f1_without_offsets", {}).get(h)}
                      for h, st in cv["heads"].items()},
            "tbars_empathy": cv.get("tbars_empathy")}


def save(net, folder: Path, files: Sequence[Path]) -> None:
    """The adapters and heads (``coders.safetensors``) with a manifest: settings, seed, the SHA-256 of every
    training file (``workbench coders --train`` on the same files reproduces them) and, when the folder holds
    a cross-validation (``cv.json``), its decision offsets and summary. Other files in the folder (the NOTICE,
    cv.json) are kept. Atomic."""
    import shutil

    from safetensors.torch import save_file

    from workbench.io import atomic_dir, sha256_file
    from workbench.models import tuned

    cv = json.loads((folder / "cv.json").read_text()) if (folder / "cv.json").is_file() else None
    with atomic_dir(folder) as tmp:
        for f in folder.glob("*") if folder.is_dir() else []:
            if f.is_file() and f.name not in ("coders.safetensors", "manifest.json"):
                shutil.copy(f, tmp / f.name)  # the EPITOME authors' NOTICE travels along
        save_file(tuned.trainable_state(net), str(tmp / "coders.safetensors"))
        manifest = {"version": VERSION, "settings": {"lora": LORA, "epochs": EPOCHS, "lr": LR, "head_lr": HEAD_LR,
                                                     "batch": BATCH, "max_tokens": MAX_TOKENS,
                                                     "context_chars": CONTEXT_CHARS, "seed": SEED},
                    "training_files": {f.name: sha256_file(f) for f in files}}
        (tmp / "manifest.json").write_text(json.dumps(manifest | _from_cv(cv), indent=1))


def _from_cv(cv: dict | None) -> dict:
    return {"offsets": cv["offsets"] if cv else {}, "cross_validation": cv_summary(cv) if cv else None}


def apply_cv(folder: Path = WEIGHTS) -> None:
    """Take the decision offsets and the summary of ``folder/cv.json`` into its manifest (after
    ``workbench coders --cv K``; the weights are unchanged)."""
    from workbench.io import write_json

    if not (folder / "manifest.json").is_file():  # nothing trained yet: --train takes cv.json in when it saves
        return
    manifest = json.loads((folder / "manifest.json").read_text())
    write_json(folder / "manifest.json", manifest | _from_cv(json.loads((folder / "cv.json").read_text())))
    coders.cache_clear()


def _key() -> str:
    from workbench.io import sha256_file

    return sha256_file(WEIGHTS / "coders.safetensors")[:16]


@lru_cache(maxsize=1)
def coders() -> Coders:
    """The shipped coders, merged into MiniLM and exported to ONNX in the cache on first use."""
    import torch
    from safetensors.torch import load_file
    from transformers import AutoTokenizer

    from workbench import paths
    from workbench.io import atomic_dir
    from workbench.models import tuned
    from workbench.models.embeddings import minilm_path

    if not (WEIGHTS / "coders.safetensors").is_file():
        raise WorkbenchError("The behaviour coders' weights are missing.", where=str(WEIGHTS),
                             fix="reinstall the workbench, or train them: workbench coders --train")
    manifest = json.loads((WEIGHTS / "manifest.json").read_text())
    folder = paths.cache_dir() / "coders" / f"v{VERSION}-{_key()}"
    if not (folder / "coders.onnx").is_file():
        torch.manual_seed(SEED)
        net = tuned.load_trainable(tuned.network(HEADS, SPANS, lora=LORA), load_file(WEIGHTS / "coders.safetensors"))
        tok = AutoTokenizer.from_pretrained(minilm_path())
        with atomic_dir(folder) as tmp:
            tuned.export_onnx(net, tok, tmp / "coders.onnx")
            tok.save_pretrained(tmp)
    return Coders(tuned.onnx_runner(folder / "coders.onnx"), AutoTokenizer.from_pretrained(folder), manifest)


def _pairs(pairs) -> list[tuple[str, str]]:
    out = []
    for n, p in enumerate(pairs):
        if isinstance(p, CodedPair):
            p = (p.context, p.text)
        if not (isinstance(p, (tuple, list)) and len(p) == 2 and all(isinstance(x, str) for x in p)):
            raise WorkbenchError(f"Pair {n} is not (context, response) text: {p!r:.80}.", where=f"pair {n}",
                                 fix='pass a list of (message, response) string pairs; use "" for no message')
        out.append((p[0], p[1]))
    return out


def decide(probs: Sequence[float], offsets: Sequence[float] | None = None) -> int:
    """The class index: the most probable after adding ``offsets`` to the log-probabilities. The offsets ship in
    the manifest, chosen on out-of-fold predictions for macro-F1 (a rare level, like EPITOME's weak
    interpretations at 4 %, is otherwise never the most probable)."""
    import math

    off = offsets or [0.0] * len(probs)
    return max(range(len(probs)), key=lambda c: math.log(max(probs[c], 1e-9)) + off[c])


def code(pairs, model: Coders | None = None, *, find_sentences: bool = True) -> list[dict]:
    """Every code of each (turn answered, response) in one pass: the three EPITOME levels, ``question`` and
    ``reflection``; ``probabilities`` (head -> class probabilities in ``CODES`` order), ``rationales``
    (mechanism -> the words that show it, "" when none or level 0) and, with ``find_sentences``,
    ``sentence`` (MI head -> the sentence carrying its code: a turn is coded whole, as MI coders code an
    utterance, then its sentences, to find which one carries it)."""
    from workbench.behaviours.patterns import sentences

    model = model or coders()
    pairs = _pairs(pairs)
    out, parts = [], []
    for n, r in enumerate(model.predict(pairs)):
        offsets = model.manifest.get("offsets", {})
        d: dict = {h: CODES[h][decide(r["probs"][h], offsets.get(h))] for h in HEADS}
        d["probabilities"] = r["probs"]
        d["rationales"] = {m: (r["spans"][m] if d[m] else "") for m in MECHANISMS}
        d["sentence"] = {h: "" for h in ("question", "reflection")}
        sents = sentences(pairs[n][1]) if find_sentences else []
        for h in ("question", "reflection"):
            if d[h] != "none" and find_sentences:
                if len(sents) <= 1:
                    d["sentence"][h] = pairs[n][1].strip()
                else:
                    parts += [(n, h, s) for s in sents]
        out.append(d)
    if parts:  # the sentence most probably carrying the turn's code
        best: dict = {}
        for (n, h, s), p in zip(parts, model.predict([(pairs[n][0], s) for n, _, s in parts]), strict=True):
            q = p["probs"][h][CODES[h].index(out[n][h])]
            if q > best.get((n, h), (-1.0, ""))[0]:
                best[(n, h)] = (q, s)
        for (n, h), (_, s) in best.items():
            out[n]["sentence"][h] = s
    return out


def epitome_levels(pairs, model: Coders | None = None) -> list[dict]:
    """EPITOME levels of each (seeker message, response): per mechanism 0, 1 or 2, with ``probabilities``
    (mechanism -> [p0, p1, p2]) and ``rationales`` (mechanism -> the words that show it, "" when none)."""
    keep = (*MECHANISMS, "rationales")
    return [{k: d[k] for k in keep} | {"probabilities": {m: d["probabilities"][m] for m in MECHANISMS}}
            for d in code(pairs, model, find_sentences=False)]


def mi_codes(pairs, model: Coders | None = None) -> list[dict]:
    """MITI codes of each (preceding client turn or "", therapist turn): ``question`` (open, closed or none)
    and ``reflection`` (simple, complex or none), with ``probabilities`` (head -> class -> p) and ``sentence``
    (head -> the sentence that carries the code, "" for none)."""
    mi = ("question", "reflection")
    return [{h: d[h] for h in mi} | {"sentence": d["sentence"], "probabilities": {
        h: dict(zip(CODES[h], d["probabilities"][h], strict=True)) for h in mi}} for d in code(pairs, model)]
