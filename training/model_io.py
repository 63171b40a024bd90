"""Find the tokenizer, FIM format and trainable weights of `--model`, through `engine.loading`.

Packing needs only the tokenizer and the format (checked exactly as the
server checks them, so training text and prompts agree); training needs
the weights in a dtype gradients work in, which is why it does not use
`engine.loading.load_model` (that one returns an inference-ready model,
merged and in eval mode).
"""

from __future__ import annotations

import hashlib
import logging
from typing import Any

from engine.errors import EngineError
from engine.loading import check_format, choose_format, resolve_model_dir
from fim.formats import FimFormat
from training.errors import TrainingError

log = logging.getLogger(__name__)


def load_tokenizer(spec: str | None, fim_format: str | None = None) -> tuple[Any, FimFormat, str]:
    """(tokenizer, format, model directory) for `--model`; every sentinel checked to be one token."""
    from transformers import AutoConfig, AutoTokenizer

    try:
        _, where = resolve_model_dir(spec)
        tokenizer = AutoTokenizer.from_pretrained(where)
        config = AutoConfig.from_pretrained(where)
        fmt = choose_format(tokenizer, config, fim_format)
        check_format(tokenizer, fmt, spec or "the bundled model")
    except (EngineError, OSError, ValueError) as exc:
        raise TrainingError(str(exc)) from None
    if not getattr(tokenizer, "is_fast", False):
        raise TrainingError(f"{spec}: packing needs a fast (Rust) tokenizer; this model only has a slow one")
    end = fmt.family.stops[0] if fmt.family.stops else None
    if end is not None and len(tokenizer.encode(end, add_special_tokens=False)) != 1:
        raise TrainingError(f"{spec}: the end token {end!r} of format {fmt.name} is not one token of this tokenizer")
    return tokenizer, fmt, where


def tokenizer_fingerprint(tokenizer: Any) -> dict[str, Any]:
    """Vocabulary size and a hash of the whole vocabulary (token -> id)."""
    vocab = sorted(tokenizer.get_vocab().items(), key=lambda kv: kv[1])
    digest = hashlib.sha256("\n".join(f"{i}\t{t}" for t, i in vocab).encode("utf-8")).hexdigest()
    return {"vocab_size": len(vocab), "sha256": digest[:16]}


def training_dtype(name: str, device: str) -> Any:
    """`auto`: bfloat16 on a GPU that supports it, else float32 (CPUs here have no fast bf16)."""
    import torch

    if name == "auto":
        if device.startswith("cuda") and torch.cuda.is_available() and torch.cuda.is_bf16_supported():
            return torch.bfloat16
        return torch.float32
    if name not in ("float32", "bfloat16", "float16"):
        raise TrainingError(f"unknown dtype {name!r}; choose auto, float32, bfloat16 or float16")
    return getattr(torch, name)


def load_for_training(spec: str | None, dtype: Any, device: str) -> tuple[Any, str]:
    """(causal LM in `dtype` on `device`, model directory) for `--model`."""
    from transformers import AutoModelForCausalLM

    try:
        _, where = resolve_model_dir(spec)
        model = AutoModelForCausalLM.from_pretrained(where, dtype=dtype)
    except (EngineError, OSError, ValueError) as exc:
        raise TrainingError(str(exc)) from None
    return model.to(device), where
