"""Shared fixtures.

`bundled_model` loads the bundled Qwen2.5-Coder-0.5B-Instruct once per test
session (the first run on a machine converts it into the cache, about a
minute); tests that use it are marked `model`.
"""

from __future__ import annotations

import os

import pytest

# Never wait on the Hugging Face hub in tests: it is unreachable here and in CI.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


@pytest.fixture(scope="session")
def bundled_model():
    from engine.loading import load_model

    return load_model(None)


@pytest.fixture(scope="session")
def bundled_backend(bundled_model):
    from engine.local import LocalBackend

    backend = LocalBackend(bundled_model)
    yield backend
    backend.close()


@pytest.fixture(scope="session")
def bundled_tokenizer(bundled_model):
    return bundled_model.tokenizer


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory):
    """A randomly initialised 2-layer Qwen2 with the bundled model's real tokenizer, saved as a local directory.

    Fast enough for engine and server tests that check mechanics (stops,
    streaming, cancellation, caching) rather than completion quality.
    """
    from transformers import AutoTokenizer, Qwen2Config, Qwen2ForCausalLM

    from engine.bundled import bundled_model_dir

    import torch

    torch.manual_seed(0)
    tokenizer = AutoTokenizer.from_pretrained(bundled_model_dir())
    config = Qwen2Config(
        vocab_size=len(tokenizer),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=8192,
        # Untied: with tied embeddings a random model's greedy choice is the
        # token it was just fed, which for a FIM prompt is a sentinel.
        tie_word_embeddings=False,
        eos_token_id=tokenizer.convert_tokens_to_ids("<|im_end|>"),
    )
    out = tmp_path_factory.mktemp("tiny-qwen2")
    Qwen2ForCausalLM(config).save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out


@pytest.fixture(scope="session")
def tiny_model(tiny_model_dir):
    from engine.loading import load_model

    return load_model(str(tiny_model_dir))
