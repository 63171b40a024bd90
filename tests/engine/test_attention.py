"""The decode-step attention gives what transformers' sdpa attention gives, for every mask a step can have."""

from __future__ import annotations

import types

import pytest
import torch
from transformers import DynamicCache, Qwen2Config, Qwen2ForCausalLM
from transformers.integrations.sdpa_attention import sdpa_attention_forward

from engine.attention import NAME, SMALL_QUERY, small_query_attention, use_small_query_attention

HEADS, KV_HEADS, DIM = 14, 2, 64


def tensors(batch: int, rows: int, length: int, dtype=torch.float64):
    torch.manual_seed(rows * 100 + length)
    query = torch.randn(batch, HEADS, rows, DIM, dtype=dtype)
    key = torch.randn(batch, KV_HEADS, length, DIM, dtype=dtype)
    value = torch.randn(batch, KV_HEADS, length, DIM, dtype=dtype)
    return query, key, value


MODULE = types.SimpleNamespace(num_key_value_groups=HEADS // KV_HEADS, is_causal=True)


def both(query, key, value, mask):
    ours, _ = small_query_attention(MODULE, query, key, value, mask, scaling=DIM**-0.5)
    theirs, _ = sdpa_attention_forward(MODULE, query, key, value, mask, scaling=DIM**-0.5)
    return ours, theirs


@pytest.mark.parametrize("length", [1, 37, 900])
def test_one_row_against_the_cache_matches_sdpa(length):
    ours, theirs = both(*tensors(1, 1, length), None)
    assert ours.shape == theirs.shape == (1, 1, HEADS, DIM)
    torch.testing.assert_close(ours, theirs)


@pytest.mark.parametrize("rows", [2, 5, SMALL_QUERY])
def test_a_speculative_check_sees_only_the_keys_before_each_row(rows):
    length = 50
    query, key, value = tensors(1, rows, length)
    causal = torch.ones(rows, length, dtype=torch.bool).tril(length - rows)[None, None]
    ours, theirs = both(query, key, value, causal)
    torch.testing.assert_close(ours, theirs)
    # No mask means causal with the queries as the last keys, as transformers skips the mask for that case.
    unmasked, _ = small_query_attention(MODULE, query, key, value, None, scaling=DIM**-0.5)
    torch.testing.assert_close(unmasked, theirs)


def test_left_padded_rows_of_a_batched_step_ignore_the_padding():
    query, key, value = tensors(3, 1, 20)
    mask = torch.ones(3, 1, 1, 20, dtype=torch.bool)
    mask[0, ..., :7] = False  # the shorter caches are padded on the left
    mask[2, ..., :1] = False
    ours, theirs = both(query, key, value, mask)
    torch.testing.assert_close(ours, theirs)
    float_mask = torch.zeros(3, 1, 1, 20, dtype=torch.float64).masked_fill(~mask, float("-inf"))
    ours_float, _ = small_query_attention(MODULE, query, key, value, float_mask, scaling=DIM**-0.5)
    torch.testing.assert_close(ours_float, theirs)


def test_bf16_rows_stay_close_to_sdpa():
    query, key, value = tensors(1, 1, 900, dtype=torch.bfloat16)
    ours, theirs = both(query, key, value, None)
    exact, _ = small_query_attention(MODULE, query.double(), key.double(), value.double(), None, scaling=DIM**-0.5)
    # Both round to bf16 once at the end; ours keeps the softmax in float32.
    assert (ours.double() - exact).abs().max() <= (theirs.double() - exact).abs().max() + 1e-2


def test_a_model_switched_to_it_decodes_what_sdpa_decodes():
    torch.manual_seed(0)
    config = Qwen2Config(vocab_size=300, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=512,
                         tie_word_embeddings=False)  # fmt: skip
    model = Qwen2ForCausalLM(config).eval()
    prompt = torch.randint(0, 300, (1, 40))

    def logits_of_steps():
        cache = DynamicCache(config=config)
        rows = []
        with torch.inference_mode():
            model(input_ids=prompt, past_key_values=cache, use_cache=True)
            for step in ([7], [8, 9, 10, 11], [12]):
                out = model(input_ids=torch.tensor([step]), past_key_values=cache, use_cache=True)
                rows.append(out.logits[0])
        return rows

    before = logits_of_steps()
    assert use_small_query_attention(model)
    assert model.config._attn_implementation == NAME
    after = logits_of_steps()
    for a, b in zip(before, after):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-4)


def test_a_model_on_another_attention_is_left_alone():
    config = Qwen2Config(vocab_size=50, hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                         num_attention_heads=2, num_key_value_heads=1)  # fmt: skip
    config._attn_implementation = "eager"
    model = Qwen2ForCausalLM(config)
    assert not use_small_query_attention(model)
    assert model.config._attn_implementation == "eager"
