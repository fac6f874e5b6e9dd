"""LoRA fine-tuning on chat dialogues: assistant-only loss, length-grouped batches, resumable runs.

The loop is ours (through ``accelerate``) rather than the HF Trainer so that a checkpoint is one
atomic directory, Stop lands between steps, and the loss reaches only assistant tokens and only
their logits are computed (the 49k-word output layer is the single largest matmul per token).
The same code runs single-process here and under ``accelerate launch`` on several devices.

    run = train(TrainConfig(name="cotherapist", steps=60))
    merge("cotherapist")              # a full model the registry loads by name
"""

from __future__ import annotations

import hashlib
import json
import math
import random
import shutil
import time
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Callable

from workbench import paths
from workbench.errors import WorkbenchError
from workbench.io import atomic_dir, write_json

IGNORE = -100


@dataclass
class TrainConfig:
    """Hyperparameters; the defaults fit a 2-core CPU (a few minutes on the shipped dialogues)."""

    name: str = "cotherapist"
    model: str | None = None  # registry name or path; None = the default model
    data: list[str] = field(default_factory=list)  # dialogue files/folders; empty = the shipped dialogues
    steps: int = 0  # optimiser steps; 0 = derive from epochs
    epochs: float = 1.0
    lr: float = 5e-4
    rank: int = 8
    alpha: int = 16
    dropout: float = 0.05
    target_modules: list[str] = field(default_factory=lambda: ["q_proj", "k_proj", "v_proj", "o_proj"])
    layers: int = 8  # adapt only the top N decoder layers (0 = all): backward then stops there, ~2x faster
    tokens_per_batch: int = 4096  # batch = as many similar-length dialogues as fit; 4096 beat 2048 and 8192 here
    grad_accum: int = 1
    max_length: int = 1024
    eval_fraction: float = 0.1
    eval_every: int = 20
    save_every: int = 20
    warmup: int = 5
    seed: int = 0


@dataclass
class Example:
    """One tokenised dialogue; ``labels`` is IGNORE wherever the model should not learn to speak."""

    id: str
    input_ids: list[int]
    labels: list[int]

    @property
    def n_loss(self) -> int:
        return sum(1 for t in self.labels if t != IGNORE)


@dataclass
class TrainResult:
    name: str
    status: str  # done | cancelled
    step: int
    steps: int
    train_loss: float | None
    eval_loss: float | None
    history: list[dict]
    adapter_dir: str | None
    wall_s: float
    train_tok_s: float


# ---- data -------------------------------------------------------------------------------------
def encode_dialogue(tokenizer, messages: list[dict], max_length: int, id: str = "") -> Example:
    """Chat-template a dialogue; labels keep only assistant content and its end-of-turn token.

    Each message's tokens are found by rendering the growing prefix, so the mask follows the
    model's own template (headers like ``<|im_start|>assistant\\n`` never carry loss).
    """
    ids: list[int] = []
    labels: list[int] = []
    end = tokenizer.convert_tokens_to_ids(tokenizer.eos_token) if tokenizer.eos_token else None
    for k, m in enumerate(messages):
        if m["role"] == "assistant":
            head = list(tokenizer.apply_chat_template(messages[:k], add_generation_prompt=True, tokenize=True))
        else:
            head = None
        full = list(tokenizer.apply_chat_template(messages[:k + 1], tokenize=True))
        if full[:len(ids)] != ids or (head is not None and full[:len(head)] != head):
            raise WorkbenchError(
                f"The chat template does not render dialogue {id or '?'} as growing prefixes, so the "
                "assistant turns cannot be located token by token.",
                where=f"message {k}",
                fix="use a model whose chat template appends each turn without rewriting earlier ones",
            )
        start = len(head) if head is not None else len(full)
        new_labels = [IGNORE] * (start - len(ids))
        body = full[start:]
        if head is not None:
            stop = body.index(end) + 1 if end in body else len(body)
            new_labels += body[:stop] + [IGNORE] * (len(body) - stop)
        ids, labels = full, labels + new_labels
    if len(ids) > max_length:
        ids, labels = ids[:max_length], labels[:max_length]
    return Example(id, ids, labels)


def _data_files(data: list[str]) -> list[Path]:
    if not data:
        return sorted((paths.corpora_dir() / "dialogues").glob("*.jsonl"))
    out = []
    for d in data:
        p = Path(d).expanduser()
        if p.is_dir():
            out += sorted(list(p.glob("*.jsonl")) + list(p.glob("*.csv")))
        elif p.is_file():
            out.append(p)
        else:
            raise WorkbenchError(f"Training data {d} does not exist.", where=str(p),
                                 fix="pass a dialogue JSONL/CSV file or a folder of them")
    if not out:
        raise WorkbenchError(f"No dialogue files (*.jsonl, *.csv) in {', '.join(data)}.",
                             fix="point --data at chat JSONL, ShareGPT JSONL or question/answer CSV files")
    return out


def load_examples(tokenizer, config: TrainConfig) -> tuple[list[Example], list[Example], list[Path]]:
    """Tokenise every dialogue and split off a seeded held-out set (by dialogue, never by token)."""
    from workbench.corpora import Problems, load_dialogues

    files = _data_files(config.data)
    dialogues = [d for f in files for d in load_dialogues(f, Problems(strict=True), strict_fields=False)]
    examples = [encode_dialogue(tokenizer, d.messages, config.max_length, d.id) for d in dialogues]
    examples = [e for e in examples if e.n_loss]
    if len(examples) < 2:
        raise WorkbenchError(f"Only {len(examples)} usable dialogue(s) in {', '.join(map(str, files))}.",
                             fix="training needs at least two dialogues with an assistant turn")
    order = list(range(len(examples)))
    random.Random(config.seed).shuffle(order)
    n_eval = max(1, round(len(examples) * config.eval_fraction)) if config.eval_fraction > 0 else 0
    held = set(order[:n_eval])
    return ([e for i, e in enumerate(examples) if i not in held],
            [e for i, e in enumerate(examples) if i in held], files)


def length_batches(examples: list[Example], tokens_per_batch: int, seed: int) -> list[list[Example]]:
    """Group dialogues of similar length so padding wastes little; batch order is shuffled by seed."""
    ranked = sorted(examples, key=lambda e: len(e.input_ids))
    batches, cur = [], []
    for e in ranked:
        width = max([len(x.input_ids) for x in cur] + [len(e.input_ids)])
        if cur and width * (len(cur) + 1) > tokens_per_batch:
            batches.append(cur)
            cur = []
        cur.append(e)
    if cur:
        batches.append(cur)
    random.Random(seed).shuffle(batches)
    return batches


def collate(batch: list[Example], pad_id: int):
    """Right-pad to the longest in the batch; padding never carries loss."""
    import torch

    width = max(len(e.input_ids) for e in batch)
    ids = torch.full((len(batch), width), pad_id, dtype=torch.long)
    labels = torch.full((len(batch), width), IGNORE, dtype=torch.long)
    mask = torch.zeros((len(batch), width), dtype=torch.long)
    for r, e in enumerate(batch):
        n = len(e.input_ids)
        ids[r, :n], labels[r, :n], mask[r, :n] = torch.tensor(e.input_ids), torch.tensor(e.labels), 1
    return ids, mask, labels


def loss_on_labels(model, ids, mask, labels):
    """Summed next-token loss over labelled positions, and their count; only those hidden states are
    projected to the vocabulary."""
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    # Right padding under causal attention: no real token ever sees a pad, so the mask can be left
    # out, and the attention kernel then skips the upper triangle (a mask makes it compute all of it).
    right_padded = not bool((mask[:, 1:] > mask[:, :-1]).any())
    hidden = base.get_decoder()(input_ids=ids, attention_mask=None if right_padded else mask).last_hidden_state
    target = labels[:, 1:]
    keep = target != IGNORE
    return output_cross_entropy(base.get_output_embeddings(), hidden[:, :-1][keep], target[keep]), int(keep.sum())


def output_cross_entropy(head, hidden, target, chunk: int = 512):
    """Summed cross-entropy of ``head(hidden)`` against ``target``, a chunk of rows at a time.

    With a frozen, bias-free output layer (LoRA leaves it alone) the gradient with respect to the hidden
    states, (softmax − one-hot) · W, is computed chunk by chunk during the forward pass, so the
    [rows × 49k] logits never exist whole and their softmax is not stored for backward; the numbers are
    those of ``F.cross_entropy``. Any other head takes that plain path.
    """
    import torch
    import torch.nn.functional as F

    w = getattr(head, "weight", None)
    if w is None or getattr(head, "bias", None) is not None or w.requires_grad or w.dtype != torch.float32:
        return F.cross_entropy(head(hidden).float(), target, reduction="sum")
    return _chunked_cross_entropy().apply(hidden, w, target, chunk)


@lru_cache(maxsize=1)
def _chunked_cross_entropy():
    """The autograd Function, defined on first use so that importing this module does not import torch."""
    import torch

    class ChunkedCrossEntropy(torch.autograd.Function):
        @staticmethod
        def forward(ctx, hidden, weight, target, chunk):
            total = hidden.new_zeros((), dtype=torch.float32)
            grad = torch.empty_like(hidden) if hidden.requires_grad else None
            for s in range(0, len(hidden), chunk):
                logits = hidden[s:s + chunk] @ weight.T
                t = target[s:s + chunk]
                lse = torch.logsumexp(logits, dim=-1)
                total += (lse - logits.gather(1, t[:, None]).squeeze(1)).sum()
                if grad is not None:
                    probs = logits.sub_(lse[:, None]).exp_()
                    probs[torch.arange(len(t)), t] -= 1
                    grad[s:s + chunk] = probs @ weight
            ctx.save_for_backward(grad)
            return total

        @staticmethod
        def backward(ctx, grad_out):
            (grad,) = ctx.saved_tensors
            return grad * grad_out, None, None, None

    return ChunkedCrossEntropy


def lora_config(config: TrainConfig, n_layers: int):
    from peft import LoraConfig

    top = list(range(max(0, n_layers - config.layers), n_layers)) if config.layers else None
    return LoraConfig(r=config.rank, lora_alpha=config.alpha, lora_dropout=config.dropout,
                      target_modules=list(config.target_modules), layers_to_transform=top, task_type="CAUSAL_LM")


# ---- runs -------------------------------------------------------------------------------------
def run_dir(name: str) -> Path:
    return paths.exports_dir() / "runs" / name


def adapter_dir(name: str) -> Path:
    return paths.exports_dir() / "adapters" / name


def _checkpoints(name: str) -> list[Path]:
    return sorted(p for p in run_dir(name).glob("checkpoint-*") if (p / "state.pt").is_file()
                  and (p / "done").is_file())


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _check_name(name: str) -> None:
    if not name or "/" in name or name.startswith("."):
        raise WorkbenchError(f"Adapter name {name!r} is not a plain folder name.",
                             fix="use letters, digits, - and _, e.g. cotherapist")


def train(config: TrainConfig, *, resume: bool = False, progress: Callable[[int, int, dict], None] | None = None,
          cancel=None) -> TrainResult:
    """Train a LoRA adapter; checkpoints every ``save_every`` steps; ``resume`` continues the last one.

    ``progress(step, steps, record)`` gets each logged record (train loss, eval loss, tokens/s) for
    live curves. On cancel the current step finishes, a checkpoint is kept, and no adapter is saved.
    """
    import torch
    from accelerate import Accelerator
    from peft import get_peft_model, get_peft_model_state_dict, set_peft_model_state_dict

    from workbench.models import registry
    from workbench.models.attention import grouped_query_sdpa

    _check_name(config.name)
    t_start = time.perf_counter()
    spec = registry.resolve(config.model)
    model, tok = registry.load(spec)
    grouped_query_sdpa(model)
    train_set, eval_set, files = load_examples(tok, config)
    accelerator = Accelerator(gradient_accumulation_steps=config.grad_accum, cpu=not torch.cuda.is_available())
    world, rank = accelerator.num_processes, accelerator.process_index
    per_epoch = max(1, len(length_batches(train_set, config.tokens_per_batch, 0)) // (config.grad_accum * world))
    steps = config.steps or max(1, math.ceil(per_epoch * config.epochs))

    torch.manual_seed(config.seed)
    model.train()
    model = get_peft_model(model, lora_config(config, model.config.num_hidden_layers))
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=config.lr, weight_decay=0.0)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min(1.0, (s + 1) / max(1, config.warmup)) * max(0.0, 1 - s / max(1, steps)) ** 0.5)
    model, opt = accelerator.prepare(model, opt)

    step, history, seen_tokens, train_s = 0, [], 0, 0.0
    if resume and _checkpoints(config.name):
        last = _checkpoints(config.name)[-1]
        state = torch.load(last / "state.pt", weights_only=False)
        if {k: v for k, v in state["config"].items() if k != "steps"} != {
                k: v for k, v in asdict(config).items() if k != "steps"}:
            raise WorkbenchError(f"The checkpoint in {last} was made with other settings.",
                                 where=str(last), fix="resume with the same settings, or start afresh without resume")
        set_peft_model_state_dict(accelerator.unwrap_model(model), state["adapter"])
        opt.load_state_dict(state["optimizer"])
        sched.load_state_dict(state["scheduler"])
        torch.set_rng_state(state["rng"])
        if state.get("cuda_rng") and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(state["cuda_rng"])
        step, history, seen_tokens, train_s = state["step"], state["history"], state["tokens"], state["train_s"]
    elif not resume and run_dir(config.name).exists():
        shutil.rmtree(run_dir(config.name))

    def micro_batch(index: int) -> list[Example]:
        epoch, k = divmod(index, len(batches_of(0)))
        return batches_of(epoch)[k]

    cache: dict[int, list] = {}

    def batches_of(epoch: int):
        if epoch not in cache:
            cache.clear()
            cache[epoch] = length_batches(train_set, config.tokens_per_batch, config.seed + epoch)
        return cache[epoch]

    pad = tok.pad_token_id if tok.pad_token_id is not None else 0

    def evaluate() -> float | None:
        if not eval_set:
            return None
        model.eval()
        total, n = 0.0, 0
        with torch.no_grad():
            for batch in length_batches(eval_set, config.tokens_per_batch, 0):
                loss, k = loss_on_labels(accelerator.unwrap_model(model),
                                         *(t.to(accelerator.device) for t in collate(batch, pad)))
                total, n = total + float(loss), n + k
        model.train()
        return total / max(n, 1)

    def checkpoint() -> None:
        if not accelerator.is_main_process:
            return
        d = run_dir(config.name) / f"checkpoint-{step:06d}"
        with atomic_dir(d) as tmp:
            torch.save({"adapter": get_peft_model_state_dict(accelerator.unwrap_model(model)),
                        "optimizer": opt.state_dict(), "scheduler": sched.state_dict(), "rng": torch.get_rng_state(),
                        "cuda_rng": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None,
                        "step": step, "history": history, "tokens": seen_tokens, "train_s": train_s,
                        "config": asdict(config) | {"steps": steps}}, tmp / "state.pt")
            (tmp / "done").write_text(str(step))
        for old in _checkpoints(config.name)[:-2]:  # keep the last two
            shutil.rmtree(old, ignore_errors=True)

    status = "done"
    while step < steps:
        if cancel is not None and cancel.is_set():
            status = "cancelled"
            break
        t0 = time.perf_counter()
        total_loss, total_n = 0.0, 0
        for a in range(config.grad_accum):
            batch = micro_batch((step * config.grad_accum + a) * world + rank)
            ids, mask, labels = (t.to(accelerator.device) for t in collate(batch, pad))
            with accelerator.accumulate(model):
                loss_sum, n = loss_on_labels(accelerator.unwrap_model(model), ids, mask, labels)
                accelerator.backward(loss_sum / max(n, 1) / config.grad_accum)
            total_loss, total_n = total_loss + float(loss_sum.detach()), total_n + n
            seen_tokens += int(mask.sum())
        if world > 1:  # the loss runs on the unwrapped model (to skip unneeded logits), so DDP's hooks never
            for p in params:  # fire: average the adapter's gradients across processes ourselves
                if p.grad is not None:
                    p.grad = accelerator.reduce(p.grad, reduction="mean")
        opt.step()
        sched.step()
        opt.zero_grad(set_to_none=True)
        step += 1
        train_s += time.perf_counter() - t0
        record = {"step": step, "train_loss": total_loss / max(total_n, 1), "lr": sched.get_last_lr()[0],
                  "tok_s": seen_tokens / max(train_s, 1e-9)}
        if config.eval_every and (step % config.eval_every == 0 or step == steps):
            record["eval_loss"] = evaluate()
        history.append(record)
        if progress:
            progress(step, steps, record)
        if config.save_every and step % config.save_every == 0 and step < steps:
            checkpoint()
    if status == "cancelled":
        checkpoint()

    eval_losses = [h["eval_loss"] for h in history if h.get("eval_loss") is not None]
    train_losses = [h["train_loss"] for h in history[-10:]]
    result = TrainResult(config.name, status, step, steps, sum(train_losses) / len(train_losses) if train_losses else None,
                         eval_losses[-1] if eval_losses else None, history, None,
                         round(time.perf_counter() - t_start, 1), round(seen_tokens / max(train_s, 1e-9), 1))
    if status == "done" and accelerator.is_main_process:
        from workbench import __version__

        out = adapter_dir(config.name)
        with atomic_dir(out) as tmp:
            accelerator.unwrap_model(model).save_pretrained(tmp)
            write_json(tmp / "manifest.json", {
                "name": config.name, "base_model": spec.name, "base_source": spec.source,
                "data": {str(f): _sha256(f) for f in files}, "train_dialogues": len(train_set),
                "eval_dialogues": len(eval_set), "hyperparameters": asdict(config) | {"steps": steps},
                "steps": step, "train_loss": result.train_loss, "eval_loss": result.eval_loss,
                "wall_s": result.wall_s, "train_tok_s": result.train_tok_s, "processes": world,
                "workbench": __version__, "created": time.strftime("%Y-%m-%dT%H:%M:%S")})
        result.adapter_dir = str(out)
        shutil.rmtree(run_dir(config.name), ignore_errors=True)  # the adapter now holds everything
    return result


# ---- adapters ---------------------------------------------------------------------------------
def list_adapters() -> list[dict]:
    root = paths.exports_dir() / "adapters"
    return [read_manifest(d.name) for d in sorted(root.iterdir())
            if (d / "manifest.json").is_file()] if root.is_dir() else []


def read_manifest(name: str) -> dict:
    path = adapter_dir(name) / "manifest.json"
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        known = ", ".join(sorted(p.name for p in adapter_dir(name).parent.glob("*"))) or "none yet"
        raise WorkbenchError(f"No adapter named {name!r}.", where=str(path.parent),
                             fix=f"train it first: workbench finetune --name {name}   (adapters here: {known})") from None


def load_with_adapter(name: str):
    """(model, tokenizer, base spec) with the adapter merged in memory, ready for generation."""
    from peft import PeftModel

    from workbench.models import registry

    manifest = read_manifest(name)
    spec = registry.resolve(manifest["base_source"] or manifest["base_model"])
    model, tok = registry.load(spec)
    model = PeftModel.from_pretrained(model, str(adapter_dir(name))).merge_and_unload()
    model.eval()
    return model, tok, spec


def merge(name: str, out: str | Path | None = None) -> Path:
    """Write base + adapter as one full model under exports/models/<name>; the registry lists it."""
    model, tok, spec = load_with_adapter(name)
    out = Path(out) if out else paths.exports_dir() / "models" / name
    with atomic_dir(out) as tmp:
        model.save_pretrained(tmp, safe_serialization=True)
        tok.save_pretrained(tmp)
        write_json(tmp / "merge.json", {"adapter": name, "base_model": spec.name,
                                        "created": time.strftime("%Y-%m-%dT%H:%M:%S")})
    return out
