"""The training loop: LoRA on the top decoder layers through ``accelerate``, checkpoints that resume
bit for bit, and an adapter folder with a manifest at the end.

The loop is ours rather than the HF Trainer so that a checkpoint is one atomic directory, Stop lands
between steps, and only the assistant tokens' logits are computed (see ``loss``). The same code runs
single-process here and under ``accelerate launch`` on several devices.
"""

from __future__ import annotations

import math
import shutil
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from workbench import paths
from workbench.errors import WorkbenchError
from workbench.finetune.adapters import check_name, trained_dir
from workbench.finetune.data import SYSTEMS, BatchStream, collate, load_examples
from workbench.finetune.loss import held_out_loss, loss_on_labels
from workbench.io import atomic_dir, check_writable, sha256_file, write_json

__all__ = ["Checkpoint", "TrainConfig", "TrainResult", "checkpoint_history", "lora_config", "remaining_s", "run_dir",
           "train"]


@dataclass
class TrainConfig:
    """Hyperparameters; the defaults fit a 2-core CPU (a few minutes on the shipped dialogues)."""

    name: str = "cotherapist"
    model: str | None = None  # registry name or path; None = the default model
    data: list[str] = field(default_factory=list)  # dialogue files/folders; empty = the shipped dialogues
    system: str = "agent"  # the system message of each dialogue: agent | persona | none (data.SYSTEMS)
    steps: int | None = None  # optimiser steps; None = derive from epochs
    epochs: float = 1.0
    lr: float = 1e-3  # the shipped adapter's recipe (shipped/README.md)
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

    def validate(self) -> TrainConfig:
        """Refuse a value outside its range before any model loads, naming the field, its value and what is
        accepted (``steps=0`` used to train a whole epoch silently). Returns the config for chaining."""
        for name, ok, accepted in _RULES:
            value = getattr(self, name)
            if not ok(value):
                flag = f" (--{name.replace('_', '-')} on the command line)" if name in _CLI_FLAGS else ""
                hint = ", or leave it out (None) to train for epochs, one by default" if name == "steps" else ""
                raise WorkbenchError(f"{name}={value!r} is not accepted: {name} must be {accepted}.",
                                     where=f"TrainConfig.{name}{flag}", fix=f"set {name} to {accepted}{hint}")
        return self


def _whole(lo: int):
    return lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= lo


def _real(lo: float, hi: float = math.inf, *, open_lo: bool = True, open_hi: bool = True):
    def ok(v):
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
            return False
        return (v > lo if open_lo else v >= lo) and (v < hi if open_hi else v <= hi)
    return ok


_CLI_FLAGS = {"system", "steps", "epochs", "lr", "rank", "layers", "grad_accum", "tokens_per_batch", "save_every",
              "eval_every", "seed", "model", "data"}
_RULES = (  # field, test, the accepted values in words
    ("steps", lambda v: v is None or _whole(1)(v), "a whole number ≥ 1 (e.g. 60)"),
    ("epochs", _real(0), "a number > 0 (e.g. 1 or 0.5)"),
    ("lr", _real(0), "a number > 0 (e.g. 5e-4)"),
    ("rank", _whole(1), "a whole number ≥ 1 (e.g. 8)"),
    ("alpha", _real(0), "a number > 0 (e.g. 16)"),
    ("dropout", _real(0, 1, open_lo=False), "a number in [0, 1) (e.g. 0.05)"),
    ("layers", _whole(0), "a whole number ≥ 0 (0 = all layers)"),
    ("tokens_per_batch", _whole(1), "a whole number ≥ 1 (e.g. 4096)"),
    ("grad_accum", _whole(1), "a whole number ≥ 1"),
    ("max_length", _whole(2), "a whole number ≥ 2 (e.g. 1024)"),
    ("eval_fraction", _real(0, 1, open_lo=False), "a number in [0, 1) (0 = no held-out set)"),
    ("eval_every", _whole(0), "a whole number ≥ 0 (0 = no held-out evaluation)"),
    ("save_every", _whole(0), "a whole number ≥ 0 (0 = no checkpoints)"),
    ("warmup", _whole(0), "a whole number ≥ 0"),
    ("seed", _whole(0), "a whole number ≥ 0"),
    ("model", lambda v: v is None or (isinstance(v, str) and bool(v.strip())), "a model name or path, or None"),
    ("data", lambda v: isinstance(v, list) and all(isinstance(d, str | Path) for d in v),
     'a list of dialogue files or folders, e.g. ["my.jsonl"] (empty = the shipped dialogues)'),
    ("system", lambda v: v in SYSTEMS, "'agent', 'persona' or 'none'"),
    ("target_modules", lambda v: isinstance(v, list) and bool(v) and all(isinstance(m, str) for m in v),
     'a non-empty list of module names, e.g. ["q_proj", "v_proj"]'),
)


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
    wall_s: float  # all legs of the run together, not only the last one
    train_tok_s: float
    legs: int = 1  # 1 + the number of resumes it took


def lora_config(config: TrainConfig, n_layers: int):
    from peft import LoraConfig

    top = list(range(max(0, n_layers - config.layers), n_layers)) if config.layers else None
    return LoraConfig(r=config.rank, lora_alpha=config.alpha, lora_dropout=config.dropout,
                      target_modules=list(config.target_modules), layers_to_transform=top, task_type="CAUSAL_LM")


def run_dir(name: str) -> Path:
    return paths.exports_dir() / "runs" / name


class Checkpoint:
    """The checkpoints of one run: exports/runs/<name>/checkpoint-NNNNNN/{state.pt, done}.

    ``state.pt`` holds the adapter, optimiser, scheduler and RNG states with the loop's counters;
    a folder without ``done`` is half written and never loaded; the last two are kept.
    ``settings`` (the TrainConfig as a dict, with the derived step count) must match to resume.
    """

    COUNTERS = ("step", "history", "tokens", "train_s", "wall_s", "legs")
    DEFAULTS = {"wall_s": 0.0, "legs": 1}  # checkpoints written before these counters existed

    def __init__(self, name: str, settings: dict):
        self.root, self.settings = run_dir(name), settings

    def differences(self, saved: dict) -> list[str]:
        """'name: checkpoint value → requested value' for each setting that differs (the step count aside)."""
        def show(d, k):
            return repr(d[k]) if k in d else "(not set)"

        keys = [k for k in dict.fromkeys([*saved, *self.settings]) if k != "steps"]
        return [f"{k}: {show(saved, k)} → {show(self.settings, k)}" for k in keys
                if k not in saved or k not in self.settings or saved[k] != self.settings[k]]

    def saved(self) -> list[Path]:
        return sorted(p for p in self.root.glob("checkpoint-*") if (p / "state.pt").is_file()
                      and (p / "done").is_file())

    def history(self) -> list[dict]:
        """The logged records of the last complete checkpoint (empty when there is none), without touching a
        model: a view redraws the steps done before a resume from them."""
        import torch

        saved = self.saved()
        return list(torch.load(saved[-1] / "state.pt", weights_only=False, map_location="cpu")["history"]) \
            if saved else []

    def clear(self) -> None:
        if self.root.exists():
            shutil.rmtree(self.root)

    def save(self, model, opt, sched, counters: dict) -> None:
        import torch
        from peft import get_peft_model_state_dict

        step = counters["step"]
        with atomic_dir(self.root / f"checkpoint-{step:06d}") as tmp:
            torch.save({"adapter": get_peft_model_state_dict(model), "optimizer": opt.state_dict(),
                        "scheduler": sched.state_dict(), "rng": torch.get_rng_state(),
                        "cuda_rng": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None,
                        **{k: counters[k] for k in self.COUNTERS}, "config": self.settings}, tmp / "state.pt")
            (tmp / "done").write_text(str(step))
        for old in self.saved()[:-2]:  # keep the last two
            shutil.rmtree(old, ignore_errors=True)

    def resume(self, model, opt, sched) -> dict | None:
        """Load the last complete checkpoint into model, optimiser, scheduler and the RNGs; its counters
        (None when there is none). Refuses one made with other settings (the step count aside)."""
        import torch
        from peft import set_peft_model_state_dict

        saved = self.saved()
        if not saved:
            return None
        last = saved[-1]
        state = torch.load(last / "state.pt", weights_only=False)
        differ = self.differences(state["config"])
        if differ:
            raise WorkbenchError(f"The checkpoint in {last} was made with other settings: {'; '.join(differ)}.",
                                 where=str(last), fix="resume with the checkpoint's values (left of each arrow), "
                                 "or start afresh without resume")
        set_peft_model_state_dict(model, state["adapter"])
        opt.load_state_dict(state["optimizer"])
        sched.load_state_dict(state["scheduler"])
        torch.set_rng_state(state["rng"])
        if state.get("cuda_rng") and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(state["cuda_rng"])
        return {k: state[k] if k in state else self.DEFAULTS[k] for k in self.COUNTERS}


def checkpoint_history(name: str) -> list[dict]:
    """The records a resume of run ``name`` starts from: what its loss curve showed before it stopped."""
    return Checkpoint(name, {}).history()


def remaining_s(elapsed_s: float, done: int, left: int) -> float | None:
    """Seconds left at this leg's pace: ``elapsed_s`` over the ``done`` steps of this leg (not since step 0, so
    a resume neither counts the earlier legs' steps as free nor model loading as a step), times ``left``."""
    return elapsed_s / done * left if done > 0 else None


def _optimiser(model, config: TrainConfig, steps: int):
    """AdamW over the adapter with linear warmup then square-root decay to zero at ``steps``."""
    import torch

    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=config.lr, weight_decay=0.0)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min(1.0, (s + 1) / max(1, config.warmup)) * max(0.0, 1 - s / max(1, steps)) ** 0.5)
    return params, opt, sched


def _summary(config, status, counters, steps) -> TrainResult:
    history = counters["history"]
    eval_losses = [h["eval_loss"] for h in history if h.get("eval_loss") is not None]
    train_losses = [h["train_loss"] for h in history[-10:]]
    return TrainResult(config.name, status, counters["step"], steps,
                       sum(train_losses) / len(train_losses) if train_losses else None,
                       eval_losses[-1] if eval_losses else None, history, None,
                       round(counters["wall_s"], 1), round(counters["tokens"] / max(counters["train_s"], 1e-9), 1),
                       counters["legs"])


def data_name(path: Path) -> str:
    """A training file as the manifest names it: the shipped dialogues as corpora/…, so a manifest written on
    one machine names the same files on another; user data by its full path."""
    path = Path(path).resolve()
    root = paths.corpora_dir().resolve()
    return f"corpora/{path.relative_to(root).as_posix()}" if path.is_relative_to(root) else str(path)


def _save_adapter(model, config: TrainConfig, result: TrainResult, spec, files, sizes: tuple[int, int],
                  processes: int) -> Path:
    from workbench import __version__

    out = trained_dir(config.name)
    with atomic_dir(out) as tmp:
        model.save_pretrained(tmp)
        write_json(tmp / "manifest.json", {
            "name": config.name, "base_model": spec.name, "base_source": spec.source,
            "data": {data_name(f): sha256_file(f) for f in files}, "train_dialogues": sizes[0],
            "eval_dialogues": sizes[1], "hyperparameters": asdict(config) | {"steps": result.steps},
            "steps": result.step, "train_loss": result.train_loss, "eval_loss": result.eval_loss,
            "wall_s": result.wall_s, "legs": result.legs, "train_tok_s": result.train_tok_s, "processes": processes,
            "workbench": __version__, "created": time.strftime("%Y-%m-%dT%H:%M:%S")})
    return out


def train(config: TrainConfig, *, resume: bool = False, progress: Callable[[int, int, dict], None] | None = None,
          cancel=None) -> TrainResult:
    """Train a LoRA adapter; checkpoints every ``save_every`` steps; ``resume`` continues the last one.

    ``progress(step, steps, record)`` gets each logged record (train loss, eval loss, tokens/s) for live
    curves, with ``eta_s``: the seconds left at this leg's pace. On cancel the current step finishes, a
    checkpoint is kept, and no adapter is saved. ``wall_s`` and ``legs`` of the result add up every leg.
    """
    import torch
    from accelerate import Accelerator
    from peft import get_peft_model

    from workbench.models import registry
    from workbench.models.attention import grouped_query_sdpa

    check_name(config.name)
    config.validate()  # before anything is loaded or written
    for folder in (run_dir(config.name), trained_dir(config.name).parent):  # fail now, not after training
        check_writable(folder)
    t_start = time.perf_counter()
    spec = registry.resolve(config.model)
    model, tok = registry.load(spec)
    grouped_query_sdpa(model)
    train_set, eval_set, files = load_examples(tok, config)
    accelerator = Accelerator(gradient_accumulation_steps=config.grad_accum, cpu=not torch.cuda.is_available())
    world, rank = accelerator.num_processes, accelerator.process_index
    stream = BatchStream(train_set, config.tokens_per_batch, config.seed)
    per_epoch = max(1, stream.per_epoch // (config.grad_accum * world))
    steps = config.steps or max(1, math.ceil(per_epoch * config.epochs))

    torch.manual_seed(config.seed)  # before the adapter exists: its initial weights come from this seed
    model.train()
    model = get_peft_model(model, lora_config(config, model.config.num_hidden_layers))
    params, opt, sched = _optimiser(model, config, steps)
    model, opt = accelerator.prepare(model, opt)
    inner = accelerator.unwrap_model(model)  # the loss runs here, skipping logits nobody needs

    ckpt = Checkpoint(config.name, asdict(config) | {"steps": steps})
    counters = {"step": 0, "history": [], "tokens": 0, "train_s": 0.0, "wall_s": 0.0, "legs": 1}
    if resume and (saved := ckpt.resume(inner, opt, sched)):
        counters = saved | {"legs": saved["legs"] + 1}
    elif not resume:
        ckpt.clear()
    earlier_wall, first_step, t_loop = counters["wall_s"], counters["step"], time.perf_counter()

    def save():  # the wall time so far travels with the checkpoint, so the next leg adds to it
        counters["wall_s"] = earlier_wall + time.perf_counter() - t_start
        ckpt.save(inner, opt, sched, counters)

    pad = tok.pad_token_id if tok.pad_token_id is not None else 0
    status = "done"
    while counters["step"] < steps:
        if cancel is not None and cancel.is_set():
            status = "cancelled"
            break
        t0 = time.perf_counter()
        total_loss, total_n = 0.0, 0
        for a in range(config.grad_accum):
            batch = stream[(counters["step"] * config.grad_accum + a) * world + rank]
            ids, mask, labels = (t.to(accelerator.device) for t in collate(batch, pad))
            with accelerator.accumulate(model):
                loss_sum, n = loss_on_labels(inner, ids, mask, labels)
                accelerator.backward(loss_sum / max(n, 1) / config.grad_accum)
            total_loss, total_n = total_loss + float(loss_sum.detach()), total_n + n
            counters["tokens"] += int(mask.sum())
        if world > 1:  # the loss runs on the unwrapped model, so DDP's hooks never fire:
            for p in params:  # average the adapter's gradients across processes ourselves
                if p.grad is not None:
                    p.grad = accelerator.reduce(p.grad, reduction="mean")
        opt.step()
        sched.step()
        opt.zero_grad(set_to_none=True)
        counters["step"] += 1
        step = counters["step"]
        counters["train_s"] += time.perf_counter() - t0
        record = {"step": step, "train_loss": total_loss / max(total_n, 1), "lr": sched.get_last_lr()[0],
                  "tok_s": counters["tokens"] / max(counters["train_s"], 1e-9)}
        if config.eval_every and (step % config.eval_every == 0 or step == steps):
            record["eval_loss"] = held_out_loss(inner, eval_set, config.tokens_per_batch, pad, accelerator.device)
        counters["history"].append(record)
        if progress:  # the ETA is for the live view only, not part of the run's history
            progress(step, steps, record | {"eta_s": remaining_s(time.perf_counter() - t_loop, step - first_step,
                                                                steps - step)})
        if config.save_every and step % config.save_every == 0 and step < steps and accelerator.is_main_process:
            save()
    if status == "cancelled" and accelerator.is_main_process:
        save()
    counters["wall_s"] = earlier_wall + time.perf_counter() - t_start
    result = _summary(config, status, counters, steps)
    if status == "done" and accelerator.is_main_process:
        out = _save_adapter(inner, config, result, spec, files, (len(train_set), len(eval_set)), world)
        result.adapter_dir = str(out)
        shutil.rmtree(run_dir(config.name), ignore_errors=True)  # the adapter now holds everything
    return result
