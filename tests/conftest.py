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
    from evals.tiny_model import build_tiny_model

    return build_tiny_model(tmp_path_factory.mktemp("tiny-qwen2"))


@pytest.fixture(scope="session")
def tiny_model(tiny_model_dir):
    from engine.loading import load_model

    return load_model(str(tiny_model_dir))
