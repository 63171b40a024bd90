"""The LoRA training loop: setup, fit, validate, checkpoint.

The loop is deliberately plain (no `transformers.Trainer`) so that its
promises are easy to check: the data order is a pure function of the seed
and the step (`batch_indices`), so a resumed run sees exactly the windows
the interrupted one would have; every random generator is saved with the
weights; the loss is the model's own next-token loss on every token of a
window (prefix, suffix, middle and the end token alike, as Bavarian et al.
train). `accelerate` handles devices, so `accelerate launch` and
`torchrun` run the same loop on several GPUs, each rank taking its share
of every optimizer step.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import signal
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from tqdm import tqdm

from engine.loading import set_threads
from training.checkpoint import (
    TrainState,
    latest_checkpoint,
    load_checkpoint,
    save_checkpoint,
    set_rng_state,
    write_atomic,
)
from training.config import TrainConfig
from training.data import PackedData
from training.errors import TrainingError

log = logging.getLogger(__name__)

#: Settings that may change between an interrupted run and its resumption (they do not change the result).
RESUMABLE_CHANGES = ("eval_every", "eval_windows", "save_every", "keep_checkpoints", "threads", "device", "max_minutes")


@dataclass
class TrainResult:
    out: Path
    state: TrainState
    #: True when the run stopped early (Ctrl-C) with a checkpoint to resume from.
    interrupted: bool = False


class Trainer:
    """One training run writing to `out`; `run()` does everything."""

    def __init__(self, config: TrainConfig, data: PackedData, model: str | None, out: Path, *, resume: bool = False,
                 progress: bool = True, on_step: Callable[[TrainState], None] | None = None) -> None:  # fmt: skip
        self.config = config
        self.data = data
        self.model_spec = model
        self.out = Path(out)
        self.resume = resume
        self.progress = progress
        self.on_step = on_step
        self._stop = threading.Event()
        self._perms: dict[int, np.ndarray] = {}

    # ---- setup -------------------------------------------------------------------------------------------

    def setup(self) -> None:
        from accelerate import Accelerator
        from peft import LoraConfig, get_peft_model

        from training.model_io import load_for_training, training_dtype

        cfg = self.config
        set_threads(cfg.threads)
        existing = latest_checkpoint(self.out)
        if existing is not None and not self.resume:
            raise TrainingError(
                f"{self.out} already holds a training run; pass --resume to continue it, or another --out"
            )
        if self.resume and existing is None:
            if not (self.out / "log.jsonl").is_file():
                raise TrainingError(f"--resume: no checkpoint in {self.out}/checkpoints to resume from")
            log.warning("%s: the run stopped before its first checkpoint; starting it again at step 0", self.out)
        self.accelerator = Accelerator(cpu=cfg.device == "cpu")
        self.world = self.accelerator.num_processes
        self.rank = self.accelerator.process_index
        dtype = training_dtype(cfg.dtype, str(self.accelerator.device))
        model, self.model_dir = load_for_training(self.model_spec, dtype, self.accelerator.device)
        self.data.check_model(self.model_dir)
        torch.manual_seed(cfg.seed)
        targets: Any = "all-linear" if cfg.target_modules == ("all-linear",) else list(cfg.target_modules)
        layers = None
        if cfg.lora_layers is not None:
            count = model.config.num_hidden_layers
            layers = list(range(max(0, count - cfg.lora_layers), count))
        lora = LoraConfig(r=cfg.lora_rank, lora_alpha=cfg.lora_alpha, lora_dropout=cfg.lora_dropout,
                          target_modules=targets, layers_to_transform=layers, task_type="CAUSAL_LM")  # fmt: skip
        try:
            model = get_peft_model(model, lora)
        except ValueError as exc:
            raise TrainingError(f"cannot put LoRA on target_modules {list(cfg.target_modules)}: {exc}") from None
        model.config.use_cache = False
        if cfg.gradient_checkpointing:
            model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
            model.enable_input_require_grads()
        params = [p for p in model.parameters() if p.requires_grad]
        optimizer = torch.optim.AdamW(params, lr=cfg.learning_rate, weight_decay=cfg.weight_decay)
        self.total_steps = self._total_steps()
        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, self._lr_factor)
        self.state = TrainState()
        self.fingerprint = self._fingerprint()
        if existing is not None:
            self.state, tensors, states = load_checkpoint(existing, self.fingerprint)
            from peft import set_peft_model_state_dict

            set_peft_model_state_dict(model, tensors)
            optimizer.load_state_dict(states["optimizer"])
            scheduler.load_state_dict(states["scheduler"])
            set_rng_state(states["rng"])
            log.info("resuming %s at step %d of %d", self.out, self.state.step, self.total_steps)
        self.model, self.optimizer = self.accelerator.prepare(model, optimizer)
        self.scheduler = scheduler
        trainable = sum(p.numel() for p in params)
        total = sum(p.numel() for p in model.parameters())
        per_step = cfg.micro_batch_size * cfg.grad_accum * self.world
        log.info("LoRA: %d trainable parameters (%.2f%% of %d); %d steps of %d windows", trainable,
                 100 * trainable / total, total, self.total_steps, per_step)  # fmt: skip

    def _total_steps(self) -> int:
        cfg = self.config
        if cfg.max_steps:
            return cfg.max_steps
        per_step = cfg.micro_batch_size * cfg.grad_accum * self.world
        return max(1, math.ceil(cfg.epochs * len(self.data.train) / per_step))

    def _lr_factor(self, step: int) -> float:
        cfg = self.config
        if step < cfg.warmup_steps:
            return (step + 1) / (cfg.warmup_steps + 1)
        if cfg.schedule == "constant":
            return 1.0
        progress = (step - cfg.warmup_steps) / max(1, self.total_steps - cfg.warmup_steps)
        return 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))

    def _fingerprint(self) -> dict[str, Any]:
        settings = {k: v for k, v in self.config.to_dict().items() if k not in RESUMABLE_CHANGES}
        return {"config": settings, "data": self.data.fingerprint, "model": str(self.model_dir),
                "total_steps": self.total_steps, "world": self.world}  # fmt: skip

    # ---- data --------------------------------------------------------------------------------------------

    def batch_indices(self, step: int, micro: int) -> list[int]:
        """Training windows of micro-batch `micro` of optimizer step `step` on this rank.

        Each epoch is a fresh permutation seeded by (seed, epoch); positions run
        on across epochs, so the order depends on nothing but the step.
        """
        n = len(self.data.train)
        mbs = self.config.micro_batch_size
        number = (step * self.config.grad_accum + micro) * self.world + self.rank
        out = []
        for k in range(mbs):
            epoch, i = divmod(number * mbs + k, n)
            if epoch not in self._perms:
                self._perms = {epoch: np.random.default_rng([self.config.seed, epoch]).permutation(n)}
            out.append(int(self._perms[epoch][i]))
        return out

    # ---- loop --------------------------------------------------------------------------------------------

    def request_stop(self) -> None:
        """Finish the current optimizer step, save a checkpoint, and return (what Ctrl-C does)."""
        self._stop.set()

    def run(self) -> TrainResult:
        self.setup()
        with self._sigint_saves():
            return self.fit()

    @contextlib.contextmanager
    def _sigint_saves(self):
        if threading.current_thread() is not threading.main_thread():
            yield
            return

        def handler(signum, frame):
            if self._stop.is_set():
                raise KeyboardInterrupt
            log.warning("interrupted: finishing step %d and saving a checkpoint (Ctrl-C again to quit now)",
                        self.state.step + 1)  # fmt: skip
            self._stop.set()

        previous = signal.signal(signal.SIGINT, handler)
        try:
            yield
        finally:
            signal.signal(signal.SIGINT, previous)

    def fit(self) -> TrainResult:
        cfg, state = self.config, self.state
        main = self.accelerator.is_main_process
        self._rewrite_log()
        bar = tqdm(total=self.total_steps, initial=state.step, desc="train", unit="step",
                   disable=not (self.progress and main))  # fmt: skip
        started = time.perf_counter() - state.seconds
        if state.step == 0 and not state.validations:
            val = self.validate()  # the base model's loss: what training is measured against
            if val is not None:
                state.validations.append({"step": 0, "val_loss": round(val, 5)})
                self._log({"step": 0, "val_loss": round(val, 5)})
        budget = cfg.max_minutes * 60 if cfg.max_minutes else math.inf
        while state.step < self.total_steps and not self._agree(self._stop.is_set()):
            if self._agree(state.seconds >= budget):
                log.warning("max_minutes reached after %d steps: finishing here", state.step)
                break
            loss, tokens = self._step(state.step)
            state.step += 1
            state.tokens_seen += tokens
            state.seconds = time.perf_counter() - started
            lr = self.scheduler.get_last_lr()[0]
            record = {"step": state.step, "loss": round(loss, 5), "lr": lr, "tokens": tokens}
            state.history.append(record)
            last = state.step == self.total_steps or self._agree(state.seconds >= budget)  # steps or time budget
            if state.step % cfg.eval_every == 0 or last:
                val = self.validate()
                if val is not None:
                    state.validations.append({"step": state.step, "val_loss": round(val, 5)})
                    record["val_loss"] = round(val, 5)
            self._log(record)
            bar.update()
            bar.set_postfix({k: record[k] for k in ("loss", "val_loss") if k in record})
            if self.on_step is not None:
                self.on_step(state)
            if state.step % cfg.save_every == 0 or last or self._agree(self._stop.is_set()):
                self.save_checkpoint()
        bar.close()
        interrupted = state.step < self.total_steps and state.seconds < budget
        if interrupted:
            log.warning("stopped at step %d of %d; continue with --resume", state.step, self.total_steps)
        elif main:
            self.save_final()
        self.accelerator.wait_for_everyone()
        return TrainResult(self.out, state, interrupted)

    def _agree(self, flag: bool) -> bool:
        """True on every rank when it is true on any (stopping must be a collective decision)."""
        if self.world == 1:
            return flag
        votes = self.accelerator.reduce(torch.tensor([float(flag)], device=self.accelerator.device), reduction="sum")
        return bool(votes.item() > 0)

    def _step(self, step: int) -> tuple[float, int]:
        cfg = self.config
        self.model.train()
        total_loss, tokens = 0.0, 0
        for micro in range(cfg.grad_accum):
            batch = self.data.collate(self.data.train, self.batch_indices(step, micro), self.accelerator.device)
            last = micro == cfg.grad_accum - 1
            with contextlib.nullcontext() if last else self.accelerator.no_sync(self.model):
                out = self.model(**batch)
                self.accelerator.backward(out.loss / cfg.grad_accum)
            total_loss += out.loss.item()
            tokens += int(batch["attention_mask"].sum())
        if cfg.max_grad_norm > 0:
            self.accelerator.clip_grad_norm_(self.model.parameters(), cfg.max_grad_norm)
        self.optimizer.step()
        self.scheduler.step()
        self.optimizer.zero_grad(set_to_none=True)
        return total_loss / cfg.grad_accum, tokens

    @torch.no_grad()
    def validate(self) -> float | None:
        """Mean next-token loss over the validation windows (token-weighted), or None without any."""
        rows = self.data.validation
        limit = len(rows) if self.config.eval_windows is None else min(len(rows), self.config.eval_windows)
        if limit == 0:
            return None
        self.model.eval()
        mine = list(range(self.rank, limit, self.world))
        loss_sum = torch.zeros(2, device=self.accelerator.device, dtype=torch.float64)
        mbs = self.config.micro_batch_size
        for start in range(0, len(mine), mbs):
            batch = self.data.collate(rows, mine[start : start + mbs], self.accelerator.device)
            out = self.model(**batch)
            targets = int((batch["labels"][:, 1:] != -100).sum())
            loss_sum += torch.tensor([out.loss.item() * targets, targets], dtype=torch.float64, device=loss_sum.device)
        total = self.accelerator.reduce(loss_sum, reduction="sum")
        self.model.train()
        return float(total[0] / total[1]) if total[1] > 0 else None

    # ---- output ------------------------------------------------------------------------------------------

    def _adapter_state(self) -> dict[str, torch.Tensor]:
        from peft import get_peft_model_state_dict

        return get_peft_model_state_dict(self.accelerator.unwrap_model(self.model))

    def save_checkpoint(self) -> None:
        if self.accelerator.is_main_process:
            save_checkpoint(self.out, self.state, self._adapter_state(), self.optimizer, self.scheduler,
                            self.config.keep_checkpoints, self.fingerprint)  # fmt: skip
        self.accelerator.wait_for_everyone()

    def save_final(self) -> None:
        """The adapter (peft layout, loadable by `--adapter`), the config and a model card, each moved in atomically.

        `adapter_config.json` goes last: it is what `--adapter` and peft look
        for, so a run killed while moving never leaves an adapter that loads
        without its weights; `--resume` writes the final adapter again.
        """
        import os
        import shutil

        from training.model_card import write_model_card

        for stale in self.out.glob(".final.tmp-*"):
            shutil.rmtree(stale, ignore_errors=True)
        tmp = self.out / f".final.tmp-{os.getpid()}"
        self.accelerator.unwrap_model(self.model).save_pretrained(str(tmp))
        (tmp / "training_config.yaml").write_text(self.config.to_yaml())
        write_model_card(tmp / "README.md", self)
        for item in sorted(tmp.iterdir(), key=lambda p: p.name == "adapter_config.json"):
            os.replace(item, self.out / item.name)
        tmp.rmdir()

    def _rewrite_log(self) -> None:
        """`log.jsonl` = the history up to the current step (a resumed run drops what came after its checkpoint)."""
        if not self.accelerator.is_main_process:
            return
        self.out.mkdir(parents=True, exist_ok=True)
        by_step = {v["step"]: v["val_loss"] for v in self.state.validations}
        rows = [{"step": 0, "val_loss": by_step[0]}] if 0 in by_step else []
        for record in self.state.history:
            rows.append({**record, "val_loss": by_step[record["step"]]} if record["step"] in by_step else record)
        write_atomic(self.out / "log.jsonl", "".join(json.dumps(row) + "\n" for row in rows).encode())

    def _log(self, record: dict[str, Any]) -> None:
        if self.accelerator.is_main_process:
            with open(self.out / "log.jsonl", "a") as f:
                f.write(json.dumps(record) + "\n")
