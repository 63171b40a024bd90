"""Resumable training checkpoints, written so that a crash never leaves a broken one.

A checkpoint is a directory `checkpoints/step-NNNNNN/` holding the adapter
weights, the optimizer and scheduler state, every random generator's state
and the loss history. It is written under a temporary name and renamed
into place (a rename is atomic), and only then does `checkpoints/latest`
(also replaced atomically) point at it; older checkpoints are deleted last.
Whatever moment a run dies at, `latest` names a complete checkpoint.
"""

from __future__ import annotations

import json
import os
import random
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from training.errors import TrainingError

LATEST = "latest"


@dataclass
class TrainState:
    """Where a run is: optimizer steps done and what they measured."""

    step: int = 0
    #: [{"step", "loss", "lr", "tokens"}] per optimizer step.
    history: list[dict[str, Any]] | None = None
    #: [{"step", "val_loss"}] per validation.
    validations: list[dict[str, Any]] | None = None
    tokens_seen: int = 0
    seconds: float = 0.0

    def __post_init__(self) -> None:
        self.history = self.history or []
        self.validations = self.validations or []


def write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    with open(tmp, "wb") as out:
        out.write(data)
        out.flush()
        os.fsync(out.fileno())
    os.replace(tmp, path)


def rng_state() -> dict[str, Any]:
    state = {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_checkpoint(root: Path, state: TrainState, trainable: dict[str, torch.Tensor], optimizer: Any,
                    scheduler: Any, keep: int, fingerprint: dict[str, Any]) -> Path:  # fmt: skip
    """Write a checkpoint for `state.step` under `root/checkpoints`; returns its directory."""
    base = root / "checkpoints"
    base.mkdir(parents=True, exist_ok=True)
    name = f"step-{state.step:06d}"
    final = base / name
    for stale in base.glob(".step-*.tmp-*"):  # ours from a failed save, or a killed run's
        shutil.rmtree(stale, ignore_errors=True)
    tmp = base / f".{name}.tmp-{os.getpid()}"
    tmp.mkdir()
    from safetensors.torch import save_file

    save_file({k: v.detach().cpu().contiguous() for k, v in trainable.items()}, str(tmp / "adapter.safetensors"))
    torch.save({"optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(), "rng": rng_state()},
               tmp / "optimizer.pt")  # fmt: skip
    meta = {"state": state.__dict__, "fingerprint": fingerprint}
    (tmp / "state.json").write_text(json.dumps(meta, indent=1))
    for f in tmp.iterdir():
        with open(f, "rb") as handle:
            os.fsync(handle.fileno())
    if final.exists():
        shutil.rmtree(final)
    os.replace(tmp, final)
    write_atomic(base / LATEST, name.encode())
    steps = sorted(p for p in base.glob("step-*") if p.is_dir())
    for old in steps[: max(0, len(steps) - keep)]:
        shutil.rmtree(old, ignore_errors=True)
    return final


def latest_checkpoint(root: Path) -> Path | None:
    pointer = root / "checkpoints" / LATEST
    if not pointer.is_file():
        return None
    path = root / "checkpoints" / pointer.read_text().strip()
    return path if (path / "state.json").is_file() else None


def load_checkpoint(path: Path, fingerprint: dict[str, Any]) -> tuple[TrainState, dict[str, torch.Tensor], dict]:
    """(state, adapter tensors, optimizer/scheduler/rng states) of the checkpoint at `path`.

    Refuses a checkpoint of another run: resuming with other data or another
    adapter shape would silently train something else.
    """
    from safetensors.torch import load_file

    meta = json.loads((path / "state.json").read_text())
    theirs = meta.get("fingerprint", {})
    changed = sorted(k for k in set(theirs) | set(fingerprint) if theirs.get(k) != fingerprint.get(k))
    if changed:
        details = "; ".join(f"{k}: {theirs.get(k)!r} then, {fingerprint.get(k)!r} now" for k in changed)
        raise TrainingError(f"cannot resume from {path}: the run changed ({details}); use a new --out to start over")
    tensors = load_file(str(path / "adapter.safetensors"))
    states = torch.load(path / "optimizer.pt", weights_only=False)
    return TrainState(**meta["state"]), tensors, states
