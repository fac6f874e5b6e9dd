"""MiniLM fine-tuned on this CPU with classification heads, run as ONNX: the crisis screen and the behaviour
coders are two of these.

The heads sit on the mean of the encoder's token states (sentence heads, one class distribution per text)
or on each token state (token heads, e.g. which words carry an empathy rationale). Training is plain AdamW
with warm-up and linear decay, the new heads at a higher rate than the pretrained encoder, batches of
similar length so short texts do not pay for long ones. Inference goes through an ONNX export (fp32:
int8 weights moved the screen's probabilities by up to 0.45), about 4x faster than PyTorch on one text.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from pathlib import Path

__all__ = ["export_onnx", "load_trainable", "network", "onnx_runner", "torch_runner", "train", "trainable_state"]


def network(heads: dict[str, int], token_heads: dict[str, int] | None = None, *, lora: int = 0):
    """MiniLM with a linear head per entry of ``heads`` (name -> classes) on the mean-pooled states and one
    per entry of ``token_heads`` on every token state. ``forward(ids, mask)`` gives logits by head name:
    [batch, classes] or [batch, tokens, classes]. The heads are created in the order given (the seed fixes
    their initial weights), then the encoder's pretrained weights are loaded. ``lora`` > 0 freezes the
    encoder and trains rank-``lora`` adapters on all its linear layers (peft) instead: what is learned is
    then small enough to ship (:func:`trainable_state`)."""
    import torch
    from transformers import AutoConfig, AutoModel

    from workbench.models.embeddings import minilm_path

    token_heads = dict(token_heads or {})

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.encoder = AutoModel.from_config(AutoConfig.from_pretrained(minilm_path()))
            width = self.encoder.config.hidden_size
            self.heads = torch.nn.ModuleDict({name: torch.nn.Linear(width, n) for name, n in heads.items()})
            self.token_heads = torch.nn.ModuleDict({n: torch.nn.Linear(width, k) for n, k in token_heads.items()})

        def forward(self, ids, mask):
            states = self.encoder(input_ids=ids, attention_mask=mask).last_hidden_state
            m = mask.unsqueeze(-1).to(states.dtype)
            pooled = (states * m).sum(1) / m.sum(1).clamp(min=1)
            return ({name: head(pooled) for name, head in self.heads.items()}
                    | {name: head(states) for name, head in self.token_heads.items()})

    net = Net()
    net.encoder.load_state_dict(AutoModel.from_pretrained(minilm_path()).state_dict())
    if lora:
        from peft import LoraConfig, get_peft_model

        net.encoder = get_peft_model(net.encoder, LoraConfig(
            r=lora, lora_alpha=2 * lora, lora_dropout=0.1, target_modules=["query", "key", "value", "dense"]))
    return net


def trainable_state(net) -> dict:
    """What training changed: the heads, and the adapters when the encoder has them (else everything)."""
    return {k: v.detach().clone().contiguous() for k, v in net.named_parameters() if v.requires_grad}


def load_trainable(net, state: dict):
    """Put :func:`trainable_state` back into a fresh :func:`network` of the same shape and merge the adapters
    into the encoder (plain MiniLM again: exported and run like any other)."""
    missing = {k for k, v in net.named_parameters() if v.requires_grad} - set(state)
    if missing:
        raise ValueError(f"the saved weights lack {sorted(missing)[:3]}")
    net.load_state_dict(state, strict=False)
    if hasattr(net.encoder, "merge_and_unload"):
        net.encoder = net.encoder.merge_and_unload()
    net.eval()
    return net


def train(net, batch: Callable[[Sequence[int]], tuple], rows: Sequence[int], lengths: Sequence[int], *,
          epochs: int, lr: float, head_lr: float, batch_size: int, seed: int,
          weights: dict | None = None, progress=None, cancel=None) -> bool:
    """Fine-tune ``net`` on the examples ``rows``. ``batch(indices)`` gives ``(ids, mask, targets)`` as
    tensors, targets by head name with -100 where an example has no label for that head (token heads:
    [batch, tokens]). ``lengths`` (one per row, in tokens) groups similar lengths into a batch; the batches
    are shuffled (``seed``; seed torch before :func:`network` for the heads and dropout). ``weights``: per
    head, a class-weight tensor for the loss. ``progress(done, total)`` follows the optimiser steps;
    ``cancel`` (a threading.Event) stops between steps and makes this return False."""
    import numpy as np
    import torch

    params = [{"params": [p for p in net.encoder.parameters() if p.requires_grad], "lr": lr},
              {"params": [*net.heads.parameters(), *net.token_heads.parameters()], "lr": head_lr}]
    opt = torch.optim.AdamW(params, weight_decay=0.01)
    total = epochs * -(-len(rows) // batch_size)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: min(1.0, (s + 1) / (0.1 * total)) * (total - s) / total)
    rng, done, lengths = np.random.RandomState(seed), 0, np.asarray(lengths)
    for _ in range(epochs):
        order = np.asarray(rows)[np.argsort(lengths + rng.uniform(0, 6, len(rows)), kind="stable")]
        batches = [order[i:i + batch_size] for i in range(0, len(order), batch_size)]
        net.train()
        for idx in (batches[j] for j in rng.permutation(len(batches))):
            if cancel is not None and cancel.is_set():
                return False
            ids, mask, targets = batch(idx)
            logits = net(ids, mask)
            loss = sum(torch.nn.functional.cross_entropy(logits[k].reshape(-1, logits[k].shape[-1]),
                                                         targets[k].reshape(-1), ignore_index=-100,
                                                         weight=(weights or {}).get(k))
                       for k in logits if k in targets and (targets[k] >= 0).any())
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            done += 1
            if progress:
                progress(done, total)
    net.eval()
    return True


def torch_runner(net):
    """``run(ids, mask)`` -> softmax probabilities by head (numpy), from the PyTorch network."""
    import torch

    def run(ids, mask) -> dict:
        net.eval()
        with torch.inference_mode():
            out = net(torch.from_numpy(ids), torch.from_numpy(mask))
        return {k: torch.softmax(v, -1).numpy() for k, v in out.items()}

    return run


def _outputs(net) -> tuple[str, ...]:
    return (*net.heads, *net.token_heads)


def export_onnx(net, tokenizer, path: Path) -> None:
    """The network as ONNX, each head's softmax an output named after it (batch and tokens dynamic)."""
    import torch

    names = _outputs(net)

    class Softmaxed(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.net = net

        def forward(self, ids, mask):
            out = self.net(ids, mask)
            return tuple(torch.softmax(out[k], -1) for k in names)

    b = tokenizer(["an example message"], return_tensors="pt")
    net.eval()
    with warnings.catch_warnings():  # the TorchScript exporter's notes on traced shapes
        warnings.simplefilter("ignore")
        torch.onnx.export(Softmaxed(), (b["input_ids"], b["attention_mask"]), str(path), dynamo=False,
                          input_names=["ids", "mask"], output_names=list(names), opset_version=17,
                          dynamic_axes={"ids": {0: "batch", 1: "tokens"}, "mask": {0: "batch", 1: "tokens"}})


def onnx_runner(path: Path):
    """``run(ids, mask)`` -> probabilities by head, from an export written by :func:`export_onnx`."""
    import onnxruntime as ort

    from workbench.models.onnx import session_options

    session = ort.InferenceSession(str(path), session_options(), providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]

    def run(ids, mask) -> dict:
        return dict(zip(names, session.run(None, {"ids": ids.astype("int64"), "mask": mask.astype("int64")}),
                        strict=True))

    return run
