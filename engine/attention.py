"""Attention for decode steps: a grouped matmul where torch's CPU SDPA kernel is slow for a few query rows.

A decode step (and a speculative check) asks attention for 1-16 query rows
against the whole cache. torch 2.13's CPU flash-attention kernel, which
transformers' `sdpa` attention calls, costs about 1 ms per layer for one bf16
query row against 900 cached tokens (2.3 ms against 2000): ~22 ms of a 73 ms
decode step of the bundled model on a 2-core AMD EPYC with AVX512-BF16, where
every other kernel is native. Two matmuls and a softmax over the grouped heads
(the query heads that share one key/value head stacked as rows, so nothing is
copied) take 0.1 ms there (0.2 ms against 2000). Measured there, 2 threads, 14
query heads and 2 key/value heads of 64 (the bundled model's), mean of 200 calls:

| dtype | cached tokens | query rows | torch SDPA ms | grouped matmul ms |
|---|---|---|---|---|
| bf16 | 900 | 1 | 1.00 | 0.11 |
| bf16 | 900 | 13 | 0.51 | 0.35 |
| bf16 | 2000 | 1 | 2.34 | 0.21 |
| fp32 | 900 | 1 | 0.10 | 0.08 |
| fp32 | 2000 | 13 | 2.09 | 1.07 |

So `small_query_attention` does those few rows itself and hands everything
else (prompt chunks, soft-capped or sliding-window attention, dropout) to
transformers' own `sdpa_attention_forward`. It is registered with
transformers' `AttentionInterface` (and `sdpa`'s mask builder under the same
name), the extension point meant for this, by `use_small_query_attention`.
"""

from __future__ import annotations

from typing import Any

import torch

#: Most query rows handled by the grouped matmul (a decode step is 1, a speculative check up to 1 + the draft).
SMALL_QUERY = 16
#: The name the implementation is registered under.
NAME = "codegemma_sdpa"


def small_query_attention(module: torch.nn.Module, query: torch.Tensor, key: torch.Tensor, value: torch.Tensor,
                          attention_mask: torch.Tensor | None, dropout: float = 0.0, scaling: float | None = None,
                          is_causal: bool | None = None, **kwargs: Any) -> tuple[torch.Tensor, None]:  # fmt: skip
    """transformers' attention signature: query (b, heads, q, d), key/value (b, kv_heads, k, d) -> (b, q, heads, d)."""
    from transformers.integrations.sdpa_attention import sdpa_attention_forward

    batch, heads, rows, dim = query.shape
    kv_heads, length = key.shape[1], key.shape[2]
    special = dropout or kwargs.get("softcap") is not None or kwargs.get("sliding_window") is not None
    if rows > SMALL_QUERY or special or heads % kv_heads or kwargs.get("position_bias") is not None:
        return sdpa_attention_forward(module, query, key, value, attention_mask, dropout=dropout, scaling=scaling,
                                      is_causal=is_causal, **kwargs)  # fmt: skip
    group = heads // kv_heads
    scale = scaling if scaling is not None else dim**-0.5
    # Query heads h = kv * group + g share key/value head kv: stacked as rows, (b, kv, group * q, d).
    grouped = query.reshape(batch, kv_heads, group * rows, dim)
    scores = torch.matmul(grouped, key.transpose(-1, -2)).float().mul_(scale).view(batch, kv_heads, group, rows, length)
    if attention_mask is not None:  # (b, 1, q, k): True (or 0.0) where a row may look
        mask = attention_mask[:, :, None, :, -length:]
        if mask.dtype == torch.bool:
            scores = scores.masked_fill(~mask, float("-inf"))
        else:
            scores = scores + mask.float()
    elif rows > 1:  # causal, the last `rows` keys being the queries' own positions
        allowed = torch.ones(rows, length, dtype=torch.bool).tril(length - rows)
        scores = scores.masked_fill(~allowed, float("-inf"))
    probs = torch.softmax(scores, dim=-1).to(value.dtype).view(batch, kv_heads, group * rows, length)
    out = torch.matmul(probs, value).view(batch, heads, rows, dim)
    return out.transpose(1, 2).contiguous(), None


def use_small_query_attention(model: Any) -> bool:
    """Switch `model` from `sdpa` to `small_query_attention`; False (and no change) for any other attention."""
    from transformers import AttentionInterface
    from transformers.masking_utils import AttentionMaskInterface, sdpa_mask

    if getattr(model.config, "_attn_implementation", None) != "sdpa":
        return False
    AttentionInterface.register(NAME, small_query_attention)
    AttentionMaskInterface.register(NAME, sdpa_mask)
    model.set_attn_implementation(NAME)
    return model.config._attn_implementation == NAME
