"""LoRA-tune a model on a dataset written by `codegemma pack`.

  codegemma train --data data/myproject --out adapters/myproject
  codegemma train --data data/myproject --out adapters/myproject --resume      # after Ctrl-C or a crash
  codegemma train --data data/work --model google/codegemma-2b --config training/recipes/codegemma-2b-24gb.yaml --out adapters/work
  codegemma train --data data/lib --out adapters/lib --max-steps 40 --lora-rank 8 --grad-accum 4
  codegemma train --method orpo --data data/prefs --out adapters/prefs         # pairs from `codegemma feedback pairs`
  codegemma train --method orpo --data data/prefs --out adapters/prefs --resume --beta 0.2

Settings come from the dataclass in training/config.py (every field is
documented there and in the `training_config.yaml` written next to the
adapter); --config reads a YAML file of them, and flags override the file.
The output directory gets the adapter (peft layout), README.md (a model
card with the data, settings and losses), training_config.yaml, log.jsonl
(loss per step, validation loss every --eval-every steps) and
checkpoints/. Ctrl-C finishes the current step, saves a checkpoint and
exits; --resume continues at that step with the same data order.

Several GPUs: run the same command under `accelerate launch` or `torchrun`:

  accelerate launch --num_processes 2 -m cli train --data D --out A --config R.yaml
  torchrun --nproc_per_node 2 -m cli train --data D --out A --config R.yaml

Each process takes its share of every optimizer step (the effective batch
is micro_batch_size x grad_accum x processes windows); rank 0 writes.
Use the adapter with `codegemma serve --adapter OUT` or merge it with
`codegemma merge`.

--method orpo trains the same kind of LoRA adapter by preference (ORPO, TRL's
ORPOTrainer; see training/orpo.py) on the chosen/rejected pairs `codegemma
feedback pairs` writes: beta (--beta, default 0.2) weighs the odds-ratio
term, prompts are rendered in the model's FIM format and fitted to
--max-prompt-tokens; checkpoints go to OUT/checkpoints and --resume continues
from the last. Its learning rate defaults to 1e-4 (the reference recipe used
3.6e-5 on gemma-2-2b); the LoRA, step, batch and device flags apply as for LoRA.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

HELP = "LoRA-tune a model on a packed dataset (resumable; Ctrl-C saves)"

#: Flags that map one-to-one onto TrainConfig fields.
_FIELD_FLAGS = {
    "lora_rank": int, "lora_alpha": float, "lora_layers": int, "lora_dropout": float, "learning_rate": float,
    "warmup_steps": int, "micro_batch_size": int, "grad_accum": int, "epochs": float, "max_steps": int,
    "max_minutes": float, "eval_every": int,
    "eval_windows": int, "save_every": int, "seed": int, "threads": int, "dtype": str, "device": str,
}  # fmt: skip


def configure(parser: argparse.ArgumentParser) -> None:
    from training.config import field_docs

    parser.add_argument("--data", required=True, type=Path,
                        help="dataset directory written by `codegemma pack` (--method orpo: by `codegemma feedback "
                        "pairs`)")  # fmt: skip
    parser.add_argument("--out", required=True, type=Path, help="directory for the adapter, card, log and checkpoints")
    parser.add_argument("--model", default=os.environ.get("CODEGEMMA_MODEL"),
                        help="base model: Hugging Face id, directory or .gguf (default: the bundled model); "
                        "must have the tokenizer the data was packed with")  # fmt: skip
    parser.add_argument("--config", type=Path, help="YAML file of training settings (see training/recipes/)")
    parser.add_argument("--resume", action="store_true", help="continue the run in --out from its last checkpoint")
    parser.add_argument("--method", choices=("lora", "orpo"), default="lora",
                        help="lora: language-model loss on a packed dataset; orpo: preference tuning on pairs from "
                        "`codegemma feedback pairs` (default: lora)")  # fmt: skip
    parser.add_argument("--beta", type=float, default=None, help="orpo: weight of the odds-ratio term (default: 0.2)")
    parser.add_argument("--max-prompt-tokens", type=int, default=None,
                        help="orpo: token budget of each prompt, fitted as the server fits it (default: 512)")  # fmt: skip
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    docs = field_docs()
    group = parser.add_argument_group("settings (override --config; defaults in training/config.py)")
    for name, kind in _FIELD_FLAGS.items():
        flag = f"--{name.replace('_', '-')}"
        group.add_argument(flag, type=kind, default=None, help=docs.get(name, "").replace("%", "%%"))
    group.add_argument("--targets", default=None,
                       help="comma-separated target_modules (default: all attention and MLP projections)")  # fmt: skip
    group.add_argument("--gradient-checkpointing", action=argparse.BooleanOptionalAction, default=None,
                       help=docs.get("gradient_checkpointing", "").replace("%", "%%"))  # fmt: skip


def run(args: argparse.Namespace) -> int:
    from training.config import TrainConfig
    from training.data import PackedData
    from training.trainer import Trainer

    overrides = {name: getattr(args, name) for name in _FIELD_FLAGS}
    overrides["gradient_checkpointing"] = args.gradient_checkpointing
    if args.targets:
        overrides["target_modules"] = tuple(t.strip() for t in args.targets.split(",") if t.strip())
    if args.method == "orpo":
        return _run_orpo(args, overrides)
    config = TrainConfig.from_yaml(args.config, **overrides) if args.config else TrainConfig.build({}, **overrides)
    data = PackedData(args.data)
    result = Trainer(config, data, args.model, args.out, resume=args.resume, progress=not args.no_progress).run()
    state = result.state
    last = state.history[-1]["loss"] if state.history else float("nan")
    val = state.validations[-1]["val_loss"] if state.validations else None
    if result.interrupted:
        print(f"stopped at step {state.step}; checkpoint saved. Continue with: codegemma train --data {args.data} "
              f"--out {args.out} --resume" + (f" --config {args.config}" if args.config else ""))  # fmt: skip
        return 130
    print(f"trained {state.step} steps ({state.tokens_seen} tokens, {state.seconds / 60:.1f} min): loss {last:.4f}"
          + (f", validation loss {val:.4f}" if val is not None else "") + f"; adapter in {args.out}")  # fmt: skip
    return 0


def _run_orpo(args: argparse.Namespace, overrides: dict) -> int:
    from training.config import TrainConfig
    from training.orpo import DEFAULT_BETA, DEFAULT_LEARNING_RATE, DEFAULT_MAX_PROMPT_TOKENS, train_orpo

    overrides["learning_rate"] = overrides["learning_rate"] or (None if args.config else DEFAULT_LEARNING_RATE)
    config = TrainConfig.from_yaml(args.config, **overrides) if args.config else TrainConfig.build({}, **overrides)
    result = train_orpo(config, args.data, args.model, args.out, beta=args.beta or DEFAULT_BETA,
                        max_prompt_tokens=args.max_prompt_tokens or DEFAULT_MAX_PROMPT_TOKENS, resume=args.resume,
                        progress=not args.no_progress)  # fmt: skip
    loss = f", last loss {result.loss:.4f}" if result.loss is not None else ""
    print(f"ORPO: trained {result.steps} steps{loss}; adapter in {args.out}")
    return 0
