"""The README.md written next to an adapter: what it was trained from, on what, how, and how well.

An adapter directory outlives the run that made it; the card is how a
user (or the Hugging Face hub, which reads the front matter) tells later
what the adapter is for and whether it is any good.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml


def write_model_card(path: Path, trainer: Any) -> None:
    """Write the card for a finished `Trainer` run."""
    state, data, cfg = trainer.state, trainer.data, trainer.config
    stats = data.stats
    history = state.history or []
    last = history[-10:]
    final_loss = sum(r["loss"] for r in last) / len(last) if last else None
    vals = state.validations or []
    first_val = vals[0]["val_loss"] if vals else None
    best = min(vals, key=lambda v: v["val_loss"]) if vals else None
    front = {
        "library_name": "peft",
        "base_model": trainer.model_spec or "bundled (Qwen2.5-Coder-0.5B-Instruct)",
        "tags": ["lora", "fill-in-the-middle", "code", "codegemma-fim"],
    }
    repos = ", ".join(r["name"] for r in stats.get("repos", [])) or "?"
    lines = [
        "---",
        yaml.safe_dump(front, sort_keys=False).strip(),
        "---",
        "",
        f"# LoRA adapter for {front['base_model']}",
        "",
        "Trained with `codegemma train` to complete code of the repositories below in fill-in-the-middle mode.",
        "",
        "Use it:",
        "",
        "```sh",
        f"codegemma serve --model {trainer.model_spec or 'bundled'} --adapter {trainer.out}",
        f"codegemma merge --model {trainer.model_spec or 'bundled'} --adapter {trainer.out} --out merged-model",
        "```",
        "",
        "## Data",
        "",
        f"- packed dataset: `{data.path}` (repositories: {repos})",
        f"- files: {stats.get('files')} ({_fmt(stats.get('files_by_split'))}); "
        f"languages: {_fmt(stats.get('languages'))}",
        f"- tokens: {_fmt(stats.get('tokens'))} in windows of {stats.get('seq_len')} tokens",
        f"- FIM format `{stats.get('fim_format')}`, {_fmt(stats.get('fim'))}",
        f"- skipped: {_fmt(stats.get('skipped')) or 'nothing'}; "
        f"credentials dropped: {_fmt(stats.get('secrets')) or 'none'}",
        "",
        "## Training",
        "",
        f"- base model directory: `{trainer.model_dir}`",
        f"- optimizer steps: {state.step}, tokens seen: {state.tokens_seen}, time: {state.seconds / 60:.1f} min",
        f"- final training loss (mean of the last {len(last)} steps): {_num(final_loss)}",
        f"- validation loss: {_num(first_val)} at step {vals[0]['step'] if vals else '-'} -> "
        f"{_num(vals[-1]['val_loss'] if vals else None)} at step {vals[-1]['step'] if vals else '-'}"
        + (f" (best {_num(best['val_loss'])} at step {best['step']})" if best else ""),
        "",
        "Configuration (`training_config.yaml`):",
        "",
        "```yaml",
        yaml.safe_dump(cfg.to_dict(), sort_keys=False).strip(),
        "```",
        "",
    ]
    path.write_text("\n".join(lines))


def _fmt(value: Any) -> str:
    if isinstance(value, dict):
        return ", ".join(f"{k} {v}" for k, v in value.items())
    return "" if value is None else str(value)


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"
