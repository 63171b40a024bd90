"""A tiny random-weight model with the bundled model's real tokenizer, for runs that test the machinery.

Two layers of width 64: it loads in about a second and answers in milliseconds, so a fuzz or overload
run sends thousands of requests in minutes, and the tests exercise real loading, tokenizing,
streaming and cancellation. Its completions are random text; nothing here measures quality.
"""

from __future__ import annotations

from pathlib import Path


def build_tiny_model(out: Path) -> Path:
    """Save a randomly initialised 2-layer Qwen2 (seeded, so always the same) and the tokenizer to `out`."""
    import torch
    from transformers import AutoTokenizer, Qwen2Config, Qwen2ForCausalLM

    from engine.bundled import bundled_model_dir

    if (out / "config.json").exists():
        return out
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
    out.mkdir(parents=True, exist_ok=True)
    Qwen2ForCausalLM(config).save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out
