"""`pick_token` over every setting the HTTP API accepts: always a valid token, never a NaN distribution."""

from __future__ import annotations

import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.generation import Sampling, pick_token

VOCAB = 50
# Positive floats down to the smallest subnormal: the API accepts any temperature in (0, 2] and top_p in (0, 1].
tiny_to = lambda high: st.floats(min_value=5e-324, max_value=high, allow_nan=False)  # noqa: E731


@settings(max_examples=300, deadline=None)
@given(
    temperature=tiny_to(2.0),
    top_p=tiny_to(1.0),
    top_k=st.integers(0, VOCAB + 5),
    scale=st.sampled_from([1e-3, 1.0, 30.0, 1e4]),
    seed=st.integers(0, 2**64 - 1),
)
def test_any_accepted_setting_picks_a_token(temperature, top_p, top_k, scale, seed):
    logits = torch.randn(VOCAB, generator=torch.Generator().manual_seed(seed % 2**32)) * scale
    generator = torch.Generator().manual_seed(seed)
    token = pick_token(logits.to(torch.bfloat16), Sampling(temperature, top_p, top_k, seed), generator)
    assert 0 <= token < VOCAB


def test_vanishing_temperature_or_top_p_is_greedy():
    logits = torch.tensor([0.0, 3.0, 2.9, -1.0])
    generator = torch.Generator().manual_seed(0)
    for sampling in (Sampling(1e-320), Sampling(1.0, top_p=1e-300), Sampling(5e-324, top_p=5e-324, top_k=2)):
        assert {pick_token(logits, sampling, generator) for _ in range(20)} == {1}


def test_ordinary_sampling_still_spreads_over_likely_tokens():
    logits = torch.tensor([0.0, 3.0, 2.9, -1.0])
    generator = torch.Generator().manual_seed(0)
    picked = {pick_token(logits, Sampling(1.0, top_p=0.9), generator) for _ in range(200)}
    assert picked == {1, 2}
