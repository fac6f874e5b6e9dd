"""The learned part of the crisis screen: two models trained on ``corpora/safety/train/``, their probabilities
averaged, each with four heads (risk, level, subject, category).

- **Fine-tuned MiniLM**, heads on its mean-pooled output: it learns that "my clean streak is over" is a
  disclosure and "dead tired" is not, which a fixed sentence embedding blurs.
- **Linear**: logistic regressions over character n-grams (2–5: slang, typos, Spanish and Hindi an English
  encoder half reads) and the rule layer's findings as numbers (a cue per category and its level, benign
  readings, a clinician's wording, a third person).

Why both: they err on different messages. On held-out training messages the average keeps 0.98 recall at
precision 0.75, against 0.69 and 0.70 for either alone (the 7,790 messages shipped now); rules
alone found under a third of the risk in messages written outside the team. The linear part once also read
the frozen MiniLM embedding: a second encoder pass (9 ms of a 50 ms screen) that did not change the average's
precision (0.738 without, 0.734 with, same held-out messages), so it was dropped.

How: 85 % of the messages train both (MiniLM: 4 epochs of 128 tokens, AdamW with warm-up and decay, 1,656
steps: about 17 minutes on two cores of a Xeon, longer with other jobs sharing them); 15 %, stratified by
category and language, choose the risk threshold (the highest keeping ``RECALL_TARGET`` recall on them) and give the
report. Nothing is tuned on the frozen test split. The network runs as an ONNX export (fp32; 4× faster than
PyTorch on one message here). Everything is cached by the SHA-256 of the training files and these
settings: ``make setup`` trains once (``workbench screen --train``), later processes load in seconds, the
files checked against the SHA-256 recorded when saved.
"""

from __future__ import annotations

import json
import pickle
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from workbench.corpora import RISK_CATEGORIES, RISK_LEVELS, SUBJECTS

__all__ = ["HEADS", "RECALL_TARGET", "Learned", "fit", "learned", "model_dir", "rule_features"]

VERSION = 5
EPOCHS, LR, HEAD_LR, BATCH, MAX_TOKENS, HELD_OUT, SEED = 4, 5e-5, 1e-3, 16, 128, 0.15, 0
RECALL_TARGET = 0.98   # on the held-out training messages
HEADS = {"level": RISK_LEVELS[1:], "subject": SUBJECTS[:3], "category": RISK_CATEGORIES}  # "none" is the risk head's
C = 4.0  # inverse regularisation of the linear heads
_BENIGN = ("idiom", "denial", "study_or_fiction", "joke", "resolved_history")


def rule_features(text: str):
    """The rule layer's findings as a fixed-length vector (see the module docstring)."""
    import numpy as np

    from workbench.safety_rules import RANK, TOPICAL, WHO, rules
    from workbench.safety_rules.readings import CLINICIAN

    hits, benign = rules(text)
    row = [float(any(h.category == c for h in hits)) for c in HEADS["category"]]
    row.append(max((RANK[h.level] for h in hits), default=0) / 3)
    kinds = {b["rule"] for b in benign}
    row += [float(k in kinds) for k in _BENIGN]
    first = WHO.search(text)
    row += [float(bool(CLINICIAN.search(text))), float(bool(first and first.group("other"))),
            float(bool(TOPICAL.search(text)))]
    return np.array(row, dtype=np.float32)


@dataclass
class Linear:
    """Logistic-regression heads over character n-grams and rule findings."""

    ngrams: Any
    heads: dict

    @staticmethod
    def rows(texts: list[str], ngrams):
        import numpy as np
        from scipy import sparse

        rules = np.vstack([rule_features(t) for t in texts])
        return sparse.hstack([ngrams.transform(texts), sparse.csr_matrix(rules)], format="csr")

    @classmethod
    def fit(cls, examples) -> Linear:
        import numpy as np
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.linear_model import LogisticRegression

        texts = [e.text for e in examples]
        ngrams = TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), min_df=2, sublinear_tf=True,
                                 max_features=60000).fit(texts)
        X = cls.rows(texts, ngrams)
        risky = np.flatnonzero([e.risk for e in examples])

        def head(rows, y):
            return LogisticRegression(C=C, max_iter=3000, class_weight="balanced").fit(rows, y)

        heads = {"risk": head(X, [int(e.risk) for e in examples])}
        heads |= {name: head(X[risky], [getattr(examples[i], name) for i in risky]) for name in HEADS}
        return cls(ngrams, heads)

    def probs(self, texts: list[str]) -> dict:
        """Per head, an array of probabilities in the class order of HEADS (risk: [none, risk]). Computed from
        the fitted coefficients directly: sklearn's per-call input checks cost more than the product."""
        import numpy as np

        X = self.rows(texts, self.ngrams)
        out = {}
        for name, model in self.heads.items():
            z = np.asarray(X @ model.coef_.T) + model.intercept_
            if z.shape[1] == 1:  # binary: one logit for classes_[1]
                z = np.hstack([np.zeros_like(z), z])
            p = np.exp(z - z.max(axis=1, keepdims=True))
            p /= p.sum(axis=1, keepdims=True)
            order = (0, 1) if name == "risk" else HEADS[name]
            out[name] = p[:, [list(model.classes_).index(c) for c in order]]
        return out


@dataclass
class Learned:
    """Both models, the tokenizer, the risk threshold and how the screen did on held-out messages.

    ``run(ids, mask)`` gives the fine-tuned heads' probabilities (numpy, by head): the PyTorch network while
    training, its ONNX export once saved (4× faster on one message here; probabilities within 0.03)."""

    run: Any
    tokenizer: Any
    linear: Linear | None = None
    threshold: float = 0.5
    report: dict = field(default_factory=dict)
    net: Any = None  # the PyTorch network, when just trained (it is exported, then dropped)

    def _net_probs(self, texts: list[str]) -> dict:
        import numpy as np

        parts: dict[str, list] = {}
        for start in range(0, len(texts), 32):
            b = self.tokenizer(texts[start:start + 32], padding=True, truncation=True, max_length=MAX_TOKENS,
                               return_tensors="np")
            for k, v in self.run(b["input_ids"], b["attention_mask"]).items():
                parts.setdefault(k, []).append(v)
        return {k: np.concatenate(v) for k, v in parts.items()}

    def risk_of(self, texts: list[str]):
        """The fine-tuned model's probability of risk alone (cheap: used to find the riskiest sentence)."""
        return self._net_probs(texts)["risk"][:, 1]

    def predict(self, texts: list[str]) -> list[dict]:
        """Per text: ``p_risk``, ``risk`` (at the threshold) and the probabilities of each head, the two
        models averaged."""
        probs = self._net_probs(texts)
        if self.linear is not None:
            other = self.linear.probs(texts)
            probs = {k: (v + other[k]) / 2 for k, v in probs.items()}
        out = []
        for i in range(len(texts)):
            p = float(probs["risk"][i][1])
            row: dict = {"p_risk": p, "risk": p >= self.threshold}
            for name, classes in HEADS.items():
                row[name] = {c: float(q) for c, q in zip(classes, probs[name][i], strict=True)}
            out.append(row)
        return out


def _split(examples, seed: int):
    from sklearn.model_selection import train_test_split

    strata = [f"{e.category}:{e.lang}" for e in examples]
    counts = {s: strata.count(s) for s in set(strata)}
    strata = [s if counts[s] >= 8 else s.split(":")[0] for s in strata]  # rare pairs: by category alone
    return train_test_split(list(range(len(examples))), test_size=HELD_OUT, random_state=seed, stratify=strata)


def fit(examples, *, seed: int = SEED, progress=None) -> Learned:
    """Fine-tune MiniLM and fit the linear heads on most of ``examples``; choose the threshold and report on the rest.
    ``progress(done, total)`` follows the optimiser steps."""
    import torch
    from transformers import AutoTokenizer

    from workbench.models import tuned
    from workbench.models.embeddings import minilm_path

    torch.manual_seed(seed)
    train, held = _split(examples, seed)
    tok = AutoTokenizer.from_pretrained(minilm_path())
    net = tuned.network({"risk": 2} | {name: len(classes) for name, classes in HEADS.items()})
    labels = {"risk": [int(e.risk) for e in examples]} | {
        name: [classes.index(getattr(e, name)) if e.risk else -100 for e in examples]
        for name, classes in HEADS.items()}
    targets = {k: torch.tensor(v) for k, v in labels.items()}
    lengths = [len(tok(examples[i].text, truncation=True, max_length=MAX_TOKENS)["input_ids"]) for i in train]

    def batch(idx):
        b = tok([examples[i].text for i in idx], padding=True, truncation=True, max_length=MAX_TOKENS,
                return_tensors="pt")
        return b["input_ids"], b["attention_mask"], {k: v[idx] for k, v in targets.items()}

    tuned.train(net, batch, train, lengths, epochs=EPOCHS, lr=LR, head_lr=HEAD_LR, batch_size=BATCH, seed=seed,
                progress=progress)
    model = Learned(tuned.torch_runner(net), tok, Linear.fit([examples[i] for i in train]), net=net)
    model.threshold, model.report = _held_out_report(model, [examples[i] for i in held])
    model.report["n_train"] = len(train)
    return model


def _threshold(p, truth) -> float:
    """The highest threshold (at most 0.5) that keeps RECALL_TARGET recall on these probabilities."""
    import numpy as np

    pos = np.sort(p[truth])
    return float(min(0.5, pos[int(np.floor((1 - RECALL_TARGET) * len(pos)))])) if len(pos) else 0.5


def _held_out_report(model: Learned, held) -> tuple[float, dict]:
    """The threshold that keeps RECALL_TARGET recall on the held-out messages, rates at it, and the precision
    each model alone would have at the same recall."""
    import numpy as np

    texts = [e.text for e in held]
    rows = model.predict(texts)
    p = np.array([r["p_risk"] for r in rows])
    truth = np.array([e.risk for e in held])
    threshold = _threshold(p, truth)
    pred = p >= threshold
    risky = np.flatnonzero(truth)

    def top(row: dict, name: str) -> str:
        return max(row[name], key=row[name].get)

    def precision_alone(q) -> float:
        return float(truth[q >= _threshold(q, truth)].mean())

    return threshold, {
        "held_out": len(held), "held_out_risk": int(truth.sum()), "recall_target": RECALL_TARGET,
        "threshold": threshold, "recall": float(pred[truth].mean()) if len(risky) else 0.0,
        "precision": float(truth[pred].mean()) if pred.any() else 0.0,
        "precision_finetuned_alone": precision_alone(model._net_probs(texts)["risk"][:, 1]),
        "precision_linear_alone": precision_alone(model.linear.probs(texts)["risk"][:, 1]),
        "recall_at_half": float((p[truth] >= 0.5).mean()) if len(risky) else 0.0,
        "precision_at_half": float(truth[p >= 0.5].mean()) if (p >= 0.5).any() else 0.0,
        "subject_accuracy": float(np.mean([top(rows[i], "subject") == held[i].subject for i in risky])),
        "level_accuracy": float(np.mean([top(rows[i], "level") == held[i].level for i in risky])),
        "category_accuracy": float(np.mean([top(rows[i], "category") == held[i].category for i in risky])),
    }


def _key(files: list[Path]) -> str:
    import hashlib

    import torch

    from workbench.io import sha256_file

    h = hashlib.sha256(f"v{VERSION} {EPOCHS} {LR} {HEAD_LR} {BATCH} {C} {MAX_TOKENS} {HELD_OUT} {SEED} {RECALL_TARGET} "
                       f"torch {torch.__version__.split('+')[0]}".encode())
    for f in files:
        h.update(f.name.encode() + sha256_file(f).encode())
    return h.hexdigest()[:16]


def model_dir(path: str | Path | None = None) -> Path:
    """Where the model trained on ``path`` (default: the shipped training messages) is cached."""
    from workbench import paths
    from workbench.safety_corpus import screening_files

    return paths.cache_dir() / "safety" / f"screen-{_key(screening_files(path))}"


def _load(folder: Path) -> Learned | None:
    """The cached model, or None when there is none; a damaged or outdated one is reported, then retrained."""
    import sys

    from transformers import AutoTokenizer

    from workbench.io import verify_files
    from workbench.models import tuned

    if not (folder / "meta.json").is_file():
        return None
    try:
        meta = json.loads((folder / "meta.json").read_text())
        verify_files(folder, meta["files"], what="crisis-screen model", fix="it is trained again")
        linear = pickle.loads((folder / "linear.pkl").read_bytes())  # ours, and its SHA-256 was just checked
        return Learned(tuned.onnx_runner(folder / "screen.onnx"), AutoTokenizer.from_pretrained(folder), linear,
                       meta["threshold"], meta["report"])
    except Exception as exc:  # damaged or from an older version: say so, then train again
        print(f"The cached crisis-screen model in {folder} cannot be used ({exc}); training it again.",
              file=sys.stderr)
        return None


@lru_cache(maxsize=2)
def learned(path: str | None = None) -> Learned:
    """The model trained on ``path`` (default: the shipped training messages): loaded from the cache when the
    files are unchanged, otherwise fine-tuned (a few minutes, with a progress bar) and cached atomically."""
    from tqdm.auto import tqdm

    from workbench.io import atomic_dir, sha256_file
    from workbench.models import tuned
    from workbench.safety_corpus import load_screening

    folder = model_dir(path)
    model = _load(folder)
    if model is not None:
        return model
    with tqdm(desc="Training the crisis screen (once per machine)", unit="step") as bar:
        def progress(done: int, total: int) -> None:
            bar.total = total
            bar.update(done - bar.n)

        model = fit(load_screening(path), progress=progress)
    with atomic_dir(folder) as tmp:
        tuned.export_onnx(model.net, model.tokenizer, tmp / "screen.onnx")
        (tmp / "linear.pkl").write_bytes(pickle.dumps(model.linear))
        model.tokenizer.save_pretrained(tmp)
        files = {f.name: {"size": f.stat().st_size, "sha256": sha256_file(f)} for f in sorted(tmp.iterdir())
                 if f.is_file()}
        (tmp / "meta.json").write_text(json.dumps({"threshold": model.threshold, "report": model.report,
                                                   "files": files}, indent=1))
    return _load(folder) or model  # what every later process will load
