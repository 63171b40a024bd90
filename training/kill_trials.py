"""Does `kill -9` at any moment of `codegemma pack` or `train` cost anything but time?

  python -m training.kill_trials --verb pack --trials 10
  python -m training.kill_trials --verb train --trials 10 --work /tmp/kill-trials

Runs the real command line (`python -m cli`) on a real repository
(click from site-packages unless --repo) with a tiny random-weight model
(the bundled model's tokenizer, two layers: fast, and as good as any model
for testing mechanics). First one uninterrupted run is timed, noting when
its first output appears. Then each trial starts the same command and
kills it with SIGKILL at a seeded random moment: every other trial during
start-up, the rest after a random amount of progress (pack: its temporary
dataset exists; train: step N of the log) plus up to one step's time,
checks what the kill left, and runs the command again (`train` with
`--resume` when the killed run had created its --out; `pack` has nothing to
resume and starts over). A trial passes when

- nothing the killed run left reads as complete unless it is complete:
  `--out` of pack exists only as the finished dataset; the checkpoint
  `latest` names loads, and its losses are the reference run's; an adapter
  directory with `adapter_config.json` has the reference run's weights;
- the rerun's output is the reference's: the same bytes for every dataset
  file (stats.json compared without its timings), and for train the same
  `log.jsonl` (every step's loss, learning rate, tokens and validation
  loss) and the same adapter weights.
"""

from __future__ import annotations

import argparse
import glob
import hashlib
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

#: stats.json fields that measure the run's speed, not the data.
TIMINGS = ("seconds", "files_per_second", "tokens_per_second")
#: Small enough that a train run is seconds of steps, with checkpoints, validations and dropout's random draws.
TRAIN_FLAGS = ["--max-steps", "12", "--save-every", "3", "--eval-every", "4", "--eval-windows", "1",
               "--micro-batch-size", "1", "--grad-accum", "2", "--lora-rank", "4", "--lora-alpha", "8",
               "--lora-dropout", "0.1", "--threads", "1", "--no-progress"]  # fmt: skip
SEQ_LEN = "128"


@dataclass
class Trial:
    index: int
    #: Seconds after the start at which SIGKILL was sent, and whether it aimed after the first output.
    kill_at: float
    in_writing: bool
    #: What the kill left: "nothing", "temporary files only", "checkpoint at step N", "complete", ...
    left: str
    problems: list[str]
    rerun_seconds: float

    @property
    def passed(self) -> bool:
        return not self.problems


class Trials:
    """The work directory, the commands, the reference run and the checks for one verb."""

    def __init__(self, verb: str, work: Path, repo: Path, model: Path | None) -> None:
        self.verb = verb
        self.work = Path(work)
        self.work.mkdir(parents=True, exist_ok=True)
        self.repo = self.work / "repo"
        if not self.repo.is_dir():
            shutil.copytree(repo, self.repo, ignore=shutil.ignore_patterns("__pycache__"))
        self.model = model or tiny_model(self.work / "model")
        self.data = self.work / "data"  # train's input, packed once
        if verb == "train" and not self.data.is_dir():
            subprocess.run(self.pack_command(self.data), check=True, capture_output=True, env=child_env())

    # ---- commands ---------------------------------------------------------------------------------------

    def pack_command(self, out: Path) -> list[str]:
        return [sys.executable, "-m", "cli", "pack", str(self.repo), "--out", str(out), "--model",
                str(self.model), "--seq-len", SEQ_LEN, "--no-progress"]  # fmt: skip

    def command(self, out: Path, resume: bool = False) -> list[str]:
        if self.verb == "pack":
            return self.pack_command(out)
        return [sys.executable, "-m", "cli", "train", "--data", str(self.data), "--out", str(out),
                "--model", str(self.model), *TRAIN_FLAGS, *(["--resume"] if resume else [])]  # fmt: skip

    def progress(self, out: Path) -> int:
        """How far a run writing `out` has got: pack 1 once its temporary dataset exists; train the lines of
        its log (the base model's validation, then one per step)."""
        if self.verb == "pack":
            return int(bool(list(out.parent.glob(f"{glob.escape(out.name)}.partial-*"))) or out.exists())
        try:
            return (out / "log.jsonl").read_text().count("\n")
        except FileNotFoundError:
            return 0

    def reference(self) -> dict[str, Any]:
        """Run once uninterrupted: seconds to its first output ("write_start") and to the exit, progress units."""
        out = self.work / "reference"
        shutil.rmtree(out, ignore_errors=True)
        started = time.monotonic()
        proc = subprocess.Popen(self.command(out), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=child_env())
        marks: dict[str, Any] = {}
        while proc.poll() is None:
            if "write_start" not in marks and self.progress(out):
                marks["write_start"] = time.monotonic() - started
            time.sleep(0.002)
        marks["exit"] = time.monotonic() - started
        if proc.returncode != 0:
            raise SystemExit(f"the reference {self.verb} failed:\n{proc.stderr.read().decode()[-2000:]}")
        marks.setdefault("write_start", marks["exit"])
        marks["units"] = max(1, self.progress(out))
        self.expected = self.fingerprint(out)
        return marks

    def fingerprint(self, out: Path) -> dict[str, str]:
        """sha256 of what a run must reproduce: every dataset file, or train's log and adapter weights."""
        if self.verb == "pack":
            return {str(p.relative_to(out)): _digest(p) for p in sorted(out.rglob("*")) if p.is_file()}
        return {name: _digest(out / name) for name in ("log.jsonl", "adapter_model.safetensors")}

    # ---- one trial ----------------------------------------------------------------------------------------

    def trial(self, index: int, marks: dict[str, Any], rng: random.Random, in_writing: bool) -> Trial:
        out = self.work / f"trial-{index:02d}"
        for path in self.work.glob(f"{out.name}*"):
            shutil.rmtree(path, ignore_errors=True)
        # Start-up kills land anywhere before the first output. Writing kills wait for a random amount of
        # progress (pack: its temporary dataset; train: a step), then up to one unit's time more: the load
        # on the machine changes how long each run takes, progress does not.
        per_unit = (marks["exit"] - marks["write_start"]) / marks["units"]
        target = rng.randint(1, marks["units"]) if in_writing else 0
        delay = rng.uniform(0.0, per_unit) if in_writing else rng.uniform(0.0, marks["write_start"])
        started = time.monotonic()
        proc = subprocess.Popen(self.command(out), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                env=child_env())  # fmt: skip
        while proc.poll() is None and self.progress(out) < target:
            time.sleep(0.002)
        anchor = time.monotonic()
        while proc.poll() is None and time.monotonic() - anchor < delay:
            time.sleep(0.001)
        kill_at = time.monotonic() - started
        finished = proc.poll() is not None
        if not finished:
            proc.send_signal(signal.SIGKILL)
        proc.wait()
        left, problems = self.inspect(out)
        if finished:
            left = f"finished before the kill ({left})"
        rerun = time.monotonic()
        resume = self.verb == "train" and out.is_dir()
        if not (self.verb == "pack" and out.exists()):  # a finished dataset needs no second run
            done = subprocess.run(self.command(out, resume=resume), capture_output=True, env=child_env())
            if done.returncode != 0:
                problems.append(f"the rerun failed: {done.stderr.decode().strip().splitlines()[-1:]}")
        leftovers = self.temporaries(out)
        if leftovers:
            problems.append(f"the rerun left temporary files of the killed run: {', '.join(leftovers)}")
        got = self.fingerprint(out) if out.is_dir() else {}
        if got != self.expected:
            changed = sorted(k for k in set(got) | set(self.expected) if got.get(k) != self.expected.get(k))
            problems.append(f"rerun output differs from the uninterrupted run's: {', '.join(changed)}")
        return Trial(index, round(kill_at, 3), in_writing, left, problems, round(time.monotonic() - rerun, 1))

    def temporaries(self, out: Path) -> list[str]:
        """The temporary files and directories runs for `out` write before renaming them into place."""
        if self.verb == "pack":
            name = glob.escape(out.name)
            patterns = [(out.parent, f"{name}.partial-*"), (out.parent, f".{name}.old-*")]
        else:
            patterns = [(out, ".final.tmp-*"), (out / "checkpoints", ".*.tmp-*")]
        return sorted(str(p) for where, pattern in patterns for p in where.glob(pattern))

    def inspect(self, out: Path) -> tuple[str, list[str]]:
        """What a killed run left, and anything in it that reads as complete but is not."""
        if self.verb == "pack":
            if not out.exists():
                return ("temporary files only" if self.temporaries(out) else "nothing"), []
            if self.fingerprint(out) != self.expected:
                return "a dataset directory", [f"{out} exists but is not the complete dataset"]
            return "complete", []
        return self._inspect_training(out)

    def _inspect_training(self, out: Path) -> tuple[str, list[str]]:
        from safetensors.torch import load_file

        from training.checkpoint import latest_checkpoint

        if not out.exists():
            return "nothing", []
        reference = [json.loads(line) for line in (self.work / "reference" / "log.jsonl").read_text().splitlines()]
        losses = {r["step"]: r["loss"] for r in reference if "loss" in r}
        problems, left = [], "a log, no checkpoint"
        latest = latest_checkpoint(out)
        if latest is not None:
            try:
                meta = json.loads((latest / "state.json").read_text())
                load_file(str(latest / "adapter.safetensors"))
                import torch

                torch.load(latest / "optimizer.pt", weights_only=False)
            except Exception as exc:  # noqa: BLE001 - any failure to read it is the finding
                return f"checkpoint {latest.name}", [f"{latest} is named by `latest` but unreadable: {exc}"]
            history = meta["state"]["history"]
            left = f"checkpoint at step {meta['state']['step']}"
            if [r["loss"] for r in history] != [losses[r["step"]] for r in history]:
                problems.append(f"{latest} holds losses the uninterrupted run did not have")
        if (out / "adapter_config.json").is_file():
            left = "complete"
            if _digest(out / "adapter_model.safetensors") != self.expected["adapter_model.safetensors"]:
                problems.append(f"{out} has adapter_config.json but not the finished weights")
        return left, problems


def _digest(path: Path) -> str:
    if not path.is_file():
        return "missing"
    data = path.read_bytes()
    if path.name == "stats.json":
        stats = json.loads(data)
        for key in TIMINGS:
            stats.pop(key, None)
        data = json.dumps(stats, sort_keys=True).encode()
    return hashlib.sha256(data).hexdigest()


def child_env() -> dict[str, str]:
    return {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false", "OMP_NUM_THREADS": "1"}


def tiny_model(out: Path) -> Path:
    """A 2-layer Qwen2 with random weights and the bundled model's tokenizer (as tests/conftest.py builds)."""
    if (out / "config.json").is_file():
        return out
    import torch
    from transformers import AutoTokenizer, Qwen2Config, Qwen2ForCausalLM

    from engine.bundled import bundled_model_dir

    torch.manual_seed(0)
    tokenizer = AutoTokenizer.from_pretrained(bundled_model_dir())
    config = Qwen2Config(vocab_size=len(tokenizer), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=4096,
                         tie_word_embeddings=False,
                         eos_token_id=tokenizer.convert_tokens_to_ids("<|im_end|>"))  # fmt: skip
    Qwen2ForCausalLM(config).save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out


def run_trials(verb: str, trials: int, work: Path, repo: Path, model: Path | None = None, seed: int = 0,
               in_writing: bool | None = None) -> dict:  # fmt: skip
    """Reference run, then `trials` kills; `in_writing` None alternates anywhere / while writing."""
    runner = Trials(verb, work, repo, model)
    started = time.monotonic()
    marks = runner.reference()
    rng = random.Random(seed)
    results = [runner.trial(i, marks, rng, i % 2 == 1 if in_writing is None else in_writing) for i in range(trials)]
    return {
        "verb": verb,
        "trials": trials,
        "passed": sum(t.passed for t in results),
        "reference": {k: round(v, 3) for k, v in marks.items()},
        "seconds": round(time.monotonic() - started, 1),
        "results": [{**asdict(t), "passed": t.passed} for t in results],
    }


def default_repo() -> Path:
    import click

    return Path(click.__file__).parent


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m training.kill_trials", description=__doc__.split("\n")[0])
    parser.add_argument("--verb", choices=("pack", "train"), required=True)
    parser.add_argument("--trials", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0, help="seed for the kill moments (default: 0)")
    parser.add_argument("--repo", type=Path, help="repository to pack (default: click from site-packages)")
    parser.add_argument("--model", type=Path, help="model directory (default: a tiny random Qwen2, built once)")
    parser.add_argument("--work", type=Path, default=Path("/tmp/codegemma-kill-trials"))
    args = parser.parse_args(argv)
    if args.trials < 1:
        parser.error("--trials must be at least 1")
    report = run_trials(args.verb, args.trials, args.work / args.verb, args.repo or default_repo(), args.model,
                        args.seed)  # fmt: skip
    (args.work / f"{args.verb}.json").write_text(json.dumps(report, indent=2) + "\n")
    for t in report["results"]:
        where = "writing" if t["in_writing"] else "start-up"
        status = "ok" if t["passed"] else "FAIL: " + "; ".join(t["problems"])
        print(f"trial {t['index']:2d}: killed at {t['kill_at']:6.2f} s ({where}), left {t['left']}: {status}")
    ref = report["reference"]
    print(f"{args.verb}: {report['passed']}/{report['trials']} trials passed; uninterrupted run {ref['exit']:.1f} s "
          f"(first output at {ref['write_start']:.1f} s); all trials {report['seconds']:.0f} s; "
          f"{args.work / (args.verb + '.json')}")  # fmt: skip
    return 0 if report["passed"] == report["trials"] else 1


if __name__ == "__main__":
    sys.exit(main())
