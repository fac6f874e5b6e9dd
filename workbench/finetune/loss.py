"""The training loss: next-token cross-entropy on labelled (assistant) positions only, with the
output layer applied to those positions alone and a chunk of rows at a time."""

from __future__ import annotations

from functools import lru_cache

from workbench.finetune.data import IGNORE, collate, length_batches

__all__ = ["held_out_loss", "loss_on_labels", "output_cross_entropy"]


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


def held_out_loss(model, examples, tokens_per_batch: int, pad_id: int, device) -> float | None:
    """Mean per-token loss over ``examples`` without gradients; the model goes back to training mode."""
    import torch

    if not examples:
        return None
    model.eval()
    total, n = 0.0, 0
    with torch.no_grad():
        for batch in length_batches(examples, tokens_per_batch, 0):
            loss, k = loss_on_labels(model, *(t.to(device) for t in collate(batch, pad_id)))
            total, n = total + float(loss), n + k
    model.train()
    return total / max(n, 1)


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
