"""ORPO preference tuning (TRL's `ORPOTrainer`) of a LoRA adapter on pairs from `codegemma feedback pairs`.

ORPO needs no reference model: the loss is the usual language-model loss on
the chosen text plus `beta` times a log-odds-ratio term that pushes the
chosen completion's odds above the rejected one's. Each row's prompt is the
FIM prompt the server would send this model (its own format, fitted to
`max_prompt_tokens` the way the server fits the window), the completions
end with the format's end token, as generations do.

The LoRA settings, learning rate, steps, batch, seed, dtype and device come
from `training.config.TrainConfig` (the same flags as the LoRA run); beta and
the prompt budget are ORPO's own. Checkpoints go to `OUT/checkpoints` every
`save_every` steps (TRL/transformers' own format) and `--resume` continues
from the last one; the final adapter (peft layout) goes to OUT, where
`--adapter OUT` serves it.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from training.config import TrainConfig
from training.errors import TrainingError

log = logging.getLogger(__name__)

#: The reference recipe (gemma-2-2b, ORPO with TRL) used beta 0.2 and lr 3.6e-5 on a 2B model; a LoRA adapter
#: on a 0.5-2B model moves slower than full weights, so the default here is a few times that.
DEFAULT_BETA = 0.2
DEFAULT_LEARNING_RATE = 1e-4
DEFAULT_MAX_PROMPT_TOKENS = 512
#: Tokens a chosen or rejected completion may keep (a suggestion is a line or a short block).
MAX_COMPLETION_TOKENS = 128


@dataclass(frozen=True)
class OrpoResult:
    steps: int
    loss: float | None
    out: Path


def prompt_rows(dataset: Any, tokenizer: Any, fmt: Any, max_prompt_tokens: int) -> Any:
    """`dataset` (prefix, suffix, path, language, chosen, rejected) with `prompt` rendered in `fmt`."""
    from engine.backend import CompletionRequest
    from engine.prompting import fitted_prompt

    end = fmt.family.stops[0] if fmt.family.stops else ""

    def count(text: str) -> int:
        return len(tokenizer.encode(text, add_special_tokens=False))

    def render(row: dict[str, Any]) -> dict[str, Any]:
        request = CompletionRequest(prefix=row["prefix"], suffix=row["suffix"], path=row.get("path") or None,
                                    language=row.get("language") or None)  # fmt: skip
        prompt, _ = fitted_prompt(fmt, request, max_prompt_tokens, count)
        return {"prompt": prompt, "chosen": row["chosen"] + end, "rejected": row["rejected"] + end}

    keep = ("prompt", "chosen", "rejected")
    return dataset.map(render, remove_columns=[c for c in dataset.column_names if c not in keep])


def train_orpo(config: TrainConfig, data: Path, model_spec: str | None, out: Path, *, beta: float = DEFAULT_BETA,
               max_prompt_tokens: int = DEFAULT_MAX_PROMPT_TOKENS, resume: bool = False,
               progress: bool = True) -> OrpoResult:  # fmt: skip
    """Train, save the adapter to `out` and return the steps run and the last loss."""
    os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")
    import torch
    from peft import LoraConfig

    try:
        from trl.experimental.orpo import ORPOConfig, ORPOTrainer
    except ImportError:
        raise TrainingError("--method orpo needs TRL: pip install 'codegemma-fim[orpo]' (trl==1.16.0)") from None

    from training.feedback_data import load_pairs
    from training.model_io import load_for_training, load_tokenizer, training_dtype

    if beta <= 0:
        raise TrainingError(f"--beta must be positive, not {beta}")
    if max_prompt_tokens < 16:
        raise TrainingError(f"--max-prompt-tokens must be at least 16, not {max_prompt_tokens}")
    checkpoints = out / "checkpoints"
    if resume and not any(checkpoints.glob("checkpoint-*")):
        raise TrainingError(f"--resume: no checkpoint in {checkpoints}; start without --resume")
    if not resume and (out / "adapter_config.json").exists():
        raise TrainingError(f"{out} already holds an adapter; choose another --out or pass --resume")
    if config.threads:
        torch.set_num_threads(config.threads)
    pairs = load_pairs(data)
    tokenizer, fmt, _ = load_tokenizer(model_spec)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    use_cpu = config.device == "cpu" or not torch.cuda.is_available()
    dtype = training_dtype(config.dtype, "cpu" if use_cpu else "cuda")
    model, _ = load_for_training(model_spec, dtype, "cpu" if use_cpu else "cuda")
    rows = prompt_rows(pairs, tokenizer, fmt, max_prompt_tokens)
    targets = list(config.target_modules)
    lora = LoraConfig(r=config.lora_rank, lora_alpha=config.lora_alpha, lora_dropout=config.lora_dropout,
                      target_modules="all-linear" if targets == ["all-linear"] else targets,
                      layers_to_transform=_last_layers(model, config.lora_layers), task_type="CAUSAL_LM")  # fmt: skip
    args = ORPOConfig(
        output_dir=str(checkpoints), beta=beta, learning_rate=config.learning_rate, warmup_steps=config.warmup_steps,
        lr_scheduler_type="cosine" if config.schedule == "cosine" else "constant_with_warmup",
        weight_decay=config.weight_decay, max_grad_norm=config.max_grad_norm or 1e9,
        per_device_train_batch_size=config.micro_batch_size, gradient_accumulation_steps=config.grad_accum,
        num_train_epochs=config.epochs, max_steps=config.max_steps or -1, seed=config.seed, data_seed=config.seed,
        max_length=max_prompt_tokens + MAX_COMPLETION_TOKENS, max_completion_length=MAX_COMPLETION_TOKENS,
        save_strategy="steps", save_steps=config.save_every, save_total_limit=config.keep_checkpoints,
        logging_steps=1, report_to=[], use_cpu=use_cpu, bf16=dtype == torch.bfloat16,
        fp16=dtype == torch.float16, gradient_checkpointing=config.gradient_checkpointing,
        disable_tqdm=not progress, dataloader_num_workers=0, remove_unused_columns=False,
    )  # fmt: skip
    trainer = ORPOTrainer(model=model, args=args, train_dataset=rows, processing_class=tokenizer, peft_config=lora)
    result = trainer.train(resume_from_checkpoint=True if resume else None)
    trainer.model.save_pretrained(str(out))
    losses = [h["loss"] for h in trainer.state.log_history if "loss" in h]
    (out / "orpo_log.jsonl").write_text("".join(_json_line(h) for h in trainer.state.log_history))
    log.info("ORPO: %d steps, train loss %.4f", result.global_step, result.training_loss)
    return OrpoResult(steps=result.global_step, loss=losses[-1] if losses else None, out=out)


def _last_layers(model: Any, count: int | None) -> list[int] | None:
    if count is None:
        return None
    total = model.config.num_hidden_layers
    return list(range(max(0, total - count), total))


def _json_line(record: dict[str, Any]) -> str:
    import json

    return json.dumps(record) + "\n"
