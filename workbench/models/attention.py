"""Grouped-query attention without the copy: one switch shared by generation, scoring and training."""

from __future__ import annotations

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


def _attention(module, query, key, value, attention_mask, dropout=0.0, scaling=None, is_causal=None, **_):
    """transformers' SDPA attention contract (inputs [batch, heads, seq, dim], output [batch, seq, heads, dim])."""
    import torch

    if attention_mask is not None:
        attention_mask = attention_mask[:, :, :, :key.shape[-2]]
    causal = getattr(module, "is_causal", True) if is_causal is None else is_causal
    out = torch.nn.functional.scaled_dot_product_attention(
        query, key, value, attn_mask=attention_mask, dropout_p=dropout, scale=scaling,
        is_causal=bool(causal and attention_mask is None and query.shape[2] > 1), enable_gqa=True)
    return out.transpose(1, 2).contiguous(), None
