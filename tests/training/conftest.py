"""Fixtures for the training tests: a tiny tokenizer and model built here, and repositories written on the fly.

The tokenizer is a byte-level BPE trained in milliseconds on a little code,
with CodeGemma's FIM sentinels added, so format detection picks the
`codegemma` format exactly as it would for the real model; the model is a
2-layer Gemma with random weights. Nothing is downloaded and no test here
needs the bundled model.
"""

from __future__ import annotations

from pathlib import Path

import pytest

SENTINELS = ["<|fim_prefix|>", "<|fim_middle|>", "<|fim_suffix|>", "<|file_separator|>"]

CORPUS = [
    "import os\nfrom pkg.util import helper\n\ndef main(argv):\n    return helper(argv[1:])\n",
    "class Foo:\n    def __init__(self, x):\n        self.x = x\n\n    def bar(self):\n        return self.x + 1\n",
    'package main\n\nimport "fmt"\n\nfunc main() {\n\tfmt.Println("hello")\n}\n',
    "use crate::config::Settings;\nfn main() { let s = Settings::new(); }\n",
    "import java.util.List;\npublic class Foo { public int bar() { return 1; } }\n",
    '#include "util.h"\nint main(void) { return helper(0); }\n',
    "import { helper } from './util';\nexport function main() { return helper(); }\n",
]


def write_tree(root: Path, files: dict[str, str | bytes]) -> Path:
    """Create `files` (relative path -> text or bytes) under `root`."""
    for rel, content in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content)
    return root


@pytest.fixture(scope="session")
def tiny_tokenizer_dir(tmp_path_factory) -> Path:
    from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=600, special_tokens=["<pad>", "<eos>", "<bos>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)  # fmt: skip
    tok.train_from_iterator(CORPUS * 20, trainer)
    tok.add_tokens([AddedToken(s, special=False, normalized=False) for s in SENTINELS])
    tok.post_processor = processors.TemplateProcessing(single="<bos> $A", special_tokens=[("<bos>", 2)])
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<bos>", eos_token="<eos>", pad_token="<pad>")
    out = tmp_path_factory.mktemp("tiny-tokenizer")
    fast.save_pretrained(str(out))
    return out


@pytest.fixture(scope="session")
def tiny_model_dir(tiny_tokenizer_dir, tmp_path_factory) -> Path:
    """A 2-layer Gemma (hidden size 64) with random weights and the tiny tokenizer."""
    import torch
    from transformers import AutoTokenizer, GemmaConfig, GemmaForCausalLM

    tokenizer = AutoTokenizer.from_pretrained(str(tiny_tokenizer_dir))
    config = GemmaConfig(
        vocab_size=len(tokenizer), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=1, head_dim=16, max_position_embeddings=1024,
        pad_token_id=0, eos_token_id=1, bos_token_id=2,
    )  # fmt: skip
    torch.manual_seed(0)
    model = GemmaForCausalLM(config)
    out = tmp_path_factory.mktemp("tiny-model")
    model.save_pretrained(str(out))
    tokenizer.save_pretrained(str(out))
    return out


@pytest.fixture(scope="session")
def tiny_tokenizer(tiny_model_dir):
    from training.model_io import load_tokenizer

    return load_tokenizer(str(tiny_model_dir))
