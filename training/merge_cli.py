"""Merge a LoRA adapter into its base model and save a plain model directory.

  codegemma merge --adapter adapters/myproject --out models/myproject
  codegemma merge --model google/codegemma-2b --adapter adapters/work --out models/codegemma-2b-work --dtype bfloat16

The result loads anywhere a Hugging Face model directory does
(`codegemma serve --model models/myproject`, transformers, conversion to
GGUF for llama.cpp) with no peft and no adapter overhead. It is written
to a temporary directory and renamed into place when complete.
"""

from __future__ import annotations

import argparse
import os
import shutil
from pathlib import Path

HELP = "merge a LoRA adapter into its base model (a standalone model directory)"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--adapter", required=True, help="adapter directory written by `codegemma train`")
    parser.add_argument("--out", required=True, type=Path, help="directory for the merged model")
    parser.add_argument("--model", default=os.environ.get("CODEGEMMA_MODEL"),
                        help="base model the adapter was trained on (default: the bundled model)")  # fmt: skip
    parser.add_argument("--dtype", default="float32", choices=("float32", "bfloat16", "float16"),
                        help="weight type of the merged model (default: float32)")  # fmt: skip
    parser.add_argument("--overwrite", action="store_true", help="replace --out if it exists")


def merge(model: str | None, adapter: str, out: Path, dtype: str = "float32", overwrite: bool = False) -> Path:
    """Load `model` with `adapter` applied and merged (`engine.loading`), save model and tokenizer to `out`."""
    from engine.errors import EngineError
    from engine.loading import load_model
    from training.errors import TrainingError

    if out.exists() and not overwrite:
        raise TrainingError(f"{out} already exists; pass --overwrite or choose another --out")
    try:
        lm = load_model(model, adapter=adapter, dtype=dtype)
    except EngineError as exc:
        raise TrainingError(str(exc)) from None
    tmp = out.with_name(f".{out.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        lm.model.save_pretrained(str(tmp))
        lm.tokenizer.save_pretrained(str(tmp))
        if out.exists():
            shutil.rmtree(out)
        os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out


def run(args: argparse.Namespace) -> int:
    out = merge(args.model, args.adapter, args.out, args.dtype, args.overwrite)
    print(f"merged {args.adapter} into {args.model or 'the bundled model'}: {out}")
    return 0
