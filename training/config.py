"""What `codegemma train` does, as one documented dataclass that a YAML file can fill in.

Every field has a default that works on a laptop CPU; a recipe file
(`training/recipes/*.yaml`) sets the ones that differ for a given model and
machine, and command-line flags override both. The resolved configuration
is written next to the adapter, so a run can always be repeated.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import yaml

from training.errors import TrainingError

#: All attention and MLP projections of Gemma, Qwen2, Llama and Mistral decoder layers.
DEFAULT_TARGETS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")


@dataclass
class TrainConfig:
    """LoRA fine-tuning settings."""

    lora_rank: int = 16
    """Rank r of the LoRA update matrices; more capacity and memory as it grows (8-64 is usual)."""
    lora_alpha: float = 32.0
    """LoRA scale numerator: the update is multiplied by alpha / rank (2 x rank is a common choice)."""
    lora_dropout: float = 0.05
    """Dropout on the LoRA input during training (0 disables it)."""
    target_modules: tuple[str, ...] = DEFAULT_TARGETS
    """Names of the linear layers that get adapters; ["all-linear"] means every linear layer but the output head."""
    lora_layers: int | None = None
    """Adapt only the last N decoder layers (default: all). The backward pass then stops N layers from the
    top, so on a CPU a step costs roughly (1 + 2N/L) forward passes instead of 3 for an L-layer model."""

    learning_rate: float = 2e-4
    """Peak learning rate of AdamW (LoRA tolerates 1e-4..3e-4; full fine-tuning would want ~1e-5)."""
    weight_decay: float = 0.0
    """AdamW weight decay on the adapter weights."""
    warmup_steps: int = 10
    """Optimizer steps of linear warm-up from 0 to the peak learning rate."""
    schedule: str = "cosine"
    """After warm-up: "cosine" (decay to 10% of the peak at the last step) or "constant"."""
    max_grad_norm: float = 1.0
    """Gradients are clipped to this global norm (0 disables clipping)."""

    micro_batch_size: int = 1
    """Windows per forward pass; raise it until memory runs out, then raise grad_accum instead."""
    grad_accum: int = 8
    """Micro-batches per optimizer step; the effective batch is micro_batch_size x grad_accum (x GPUs) windows."""
    epochs: float = 1.0
    """Passes over the training split (fractions allowed); ignored when max_steps is set."""
    max_steps: int | None = None
    """Stop after this many optimizer steps (overrides epochs)."""
    max_minutes: float | None = None
    """Also stop, and write the adapter as for a finished run, once training has taken this long (a CPU budget);
    the learning-rate schedule still assumes the full number of steps."""

    gradient_checkpointing: bool = False
    """Recompute activations in the backward pass: much less memory for ~30% more time (use on GPUs)."""
    dtype: str = "auto"
    """Base weights: "auto" (bfloat16 on a GPU that has it, else float32), "float32", "bfloat16" or "float16"."""
    device: str = "auto"
    """"auto" (the GPU `accelerate`/`torchrun` assigns, else CPU) or "cpu"."""
    threads: int | None = None
    """CPU threads for torch (default: torch's choice, all cores)."""

    eval_every: int = 50
    """Compute the validation loss every this many optimizer steps (and at the end)."""
    eval_windows: int | None = None
    """Validate on at most this many validation windows (default: all)."""
    save_every: int = 50
    """Write a resumable checkpoint every this many optimizer steps (and on Ctrl-C and at the end)."""
    keep_checkpoints: int = 2
    """How many checkpoints to keep; older ones are deleted once a newer one is safely written."""
    seed: int = 0
    """Seeds the data order, the LoRA initialisation and dropout: same seed, same run."""

    def __post_init__(self) -> None:
        self.target_modules = tuple(self.target_modules)
        positive = ("lora_rank", "micro_batch_size", "grad_accum", "eval_every", "save_every", "keep_checkpoints")
        for name in positive:
            if getattr(self, name) <= 0:
                raise TrainingError(f"{name} must be positive, not {getattr(self, name)}")
        if self.max_minutes is not None and self.max_minutes <= 0:
            raise TrainingError(f"max_minutes must be positive, not {self.max_minutes}")
        if self.lora_layers is not None and self.lora_layers <= 0:
            raise TrainingError(f"lora_layers must be positive, not {self.lora_layers}")
        if self.max_steps is not None and self.max_steps <= 0:
            raise TrainingError(f"max_steps must be positive, not {self.max_steps}")
        if self.epochs <= 0:
            raise TrainingError(f"epochs must be positive, not {self.epochs}")
        if not 0 <= self.lora_dropout < 1:
            raise TrainingError(f"lora_dropout must be in [0, 1), not {self.lora_dropout}")
        if self.learning_rate <= 0:
            raise TrainingError(f"learning_rate must be positive, not {self.learning_rate}")
        if self.schedule not in ("cosine", "constant"):
            raise TrainingError(f"schedule must be cosine or constant, not {self.schedule!r}")
        if self.device not in ("auto", "cpu"):
            raise TrainingError(
                f"device must be auto or cpu, not {self.device!r} (pick GPUs with CUDA_VISIBLE_DEVICES)"
            )
        if not self.target_modules:
            raise TrainingError("target_modules is empty: name at least one layer (or all-linear)")

    @classmethod
    def from_yaml(cls, path: Path, **overrides: Any) -> TrainConfig:
        """Read a recipe file; keyword arguments that are not None win over it."""
        try:
            data = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
        except OSError as exc:
            raise TrainingError(f"cannot read config {path}: {exc.strerror}") from None
        except yaml.YAMLError as exc:
            raise TrainingError(f"config {path} is not valid YAML: {exc}") from None
        if not isinstance(data, dict):
            raise TrainingError(f"config {path} must be a mapping of setting: value")
        return cls.build(data, **overrides)

    @classmethod
    def build(cls, data: dict[str, Any], **overrides: Any) -> TrainConfig:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise TrainingError(f"unknown training setting(s): {', '.join(unknown)}; known: {', '.join(sorted(known))}")
        merged = {**data, **{k: v for k, v in overrides.items() if v is not None}}
        return cls(**merged)

    def to_dict(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out["target_modules"] = list(self.target_modules)
        return out

    def to_yaml(self) -> str:
        """The configuration as a commented YAML file (each field's docstring above it)."""
        docs = field_docs()
        lines = ["# codegemma train configuration (see training/config.py)"]
        for name, value in self.to_dict().items():
            lines.append(f"# {docs.get(name, '')}")
            lines.append(yaml.safe_dump({name: value}, default_flow_style=True, width=1000).strip().strip("{}"))
        return "\n".join(lines) + "\n"


def field_docs() -> dict[str, str]:
    """Field name -> the docstring written under it in `TrainConfig`'s source."""
    import ast
    import inspect

    tree = ast.parse(inspect.getsource(TrainConfig))
    body = tree.body[0].body  # type: ignore[attr-defined]
    docs = {}
    for node, nxt in zip(body, body[1:]):
        if isinstance(node, ast.AnnAssign) and isinstance(nxt, ast.Expr) and isinstance(nxt.value, ast.Constant):
            docs[node.target.id] = " ".join(str(nxt.value.value).split())  # type: ignore[union-attr]
    return docs
