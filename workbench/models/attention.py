"""Grouped-query attention without the copy: one switch shared by generation, scoring and training."""

from __future__ import annotations

__all__ = ["NAME", "grouped_query_sdpa", "prefix_attention"]

NAME = "workbench_sdpa"


def grouped_query_sdpa(model) -> None:
    """Switch a model on transformers' SDPA attention to the same kernel with ``enable_gqa``.

    transformers copies each key/value head once per query head whenever an attention mask is given
    (score_many's always is, and so is a padded training batch); PyTorch's CPU kernel reads the
    shared heads directly, with the same numbers, and that copy was about a tenth of a
    questionnaire's scoring time here. Models on other attention implementations are left alone.
    """
    config = getattr(model, "config", None)
    if getattr(config, "_attn_implementation", None) != "sdpa":
        return
    from transformers import AttentionInterface, AttentionMaskInterface
    from transformers.masking_utils import sdpa_mask

    AttentionInterface.register(NAME, _attention)
    AttentionMaskInterface.register(NAME, sdpa_mask)
    config._attn_implementation = NAME


def _attention(module, query, key, value, attention_mask, dropout=0.0, scaling=None, is_causal=None,
               shared_prefix=None, **_):
    """transformers' SDPA attention contract (inputs [batch, heads, seq, dim], output [batch, seq, heads, dim]).

    ``shared_prefix`` (a forward-pass keyword, one (keys, values) pair of batch 1 per layer) is a prompt
    prefix every row attends to: see ``prefix_attention``.
    """
    import torch

    if shared_prefix is not None:
        keys, values = shared_prefix[module.layer_idx]
        scale = scaling if scaling is not None else query.shape[-1] ** -0.5
        return prefix_attention(query, key, value, attention_mask, keys, values, scale), None
    if attention_mask is not None:
        attention_mask = attention_mask[:, :, :, :key.shape[-2]]
    causal = getattr(module, "is_causal", True) if is_causal is None else is_causal
    out = torch.nn.functional.scaled_dot_product_attention(
        query, key, value, attn_mask=attention_mask, dropout_p=dropout, scale=scaling,
        is_causal=bool(causal and attention_mask is None and query.shape[2] > 1), enable_gqa=True)
    return out.transpose(1, 2).contiguous(), None


def prefix_attention(query, key, value, mask, prefix_keys, prefix_values, scale: float):
    """Attention of a batch of rows over one shared prefix (batch 1) plus each row's own new keys.

    The prefix is never copied per row: its scores come from one matrix product with the batch folded
    into the rows, and the two parts share one softmax (max and sum merged). ``mask`` ([batch, 1,
    queries, prefix + new], True = attend) covers both parts. Returns [batch, queries, heads, dim].
    """
    import torch

    b, h, n, d = query.shape
    kv = key.shape[1]
    g, p = h // kv, prefix_keys.shape[2]
    q = query.reshape(b, kv, g * n, d)
    # prefix part, batch folded into rows: [kv, b * g * n, p]
    folded = q.permute(1, 0, 2, 3).reshape(kv, b * g * n, d)
    s_pre = torch.bmm(folded, prefix_keys[0].transpose(1, 2)).mul_(scale).view(kv, b, g, n, p)
    s_new = torch.matmul(q, key.transpose(-1, -2)).mul_(scale).view(b, kv, g, n, -1)
    if mask is not None:
        s_pre.masked_fill_(~mask[:, :, :, :p].view(1, b, 1, n, p), float("-inf"))
        s_new.masked_fill_(~mask[:, :, :, p:].view(b, 1, 1, n, -1), float("-inf"))
    top = torch.maximum(s_pre.amax(-1).permute(1, 0, 2, 3), s_new.amax(-1))  # [b, kv, g, n]
    e_pre = (s_pre - top.permute(1, 0, 2, 3).unsqueeze(-1)).exp_()
    e_new = (s_new - top.unsqueeze(-1)).exp_()
    total = e_pre.sum(-1).permute(1, 0, 2, 3) + e_new.sum(-1)
    out_pre = torch.bmm(e_pre.view(kv, b * g * n, p), prefix_values[0]).view(kv, b, g, n, d).permute(1, 0, 2, 3, 4)
    out = (out_pre + torch.matmul(e_new.view(b, kv, g * n, -1), value).view(b, kv, g, n, d)) / total.unsqueeze(-1)
    return out.reshape(b, h, n, d).transpose(1, 2).contiguous()
