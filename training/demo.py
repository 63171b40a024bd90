"""Does LoRA on a repository's own code improve completion on its files the model never trained on?

  python -m training.demo --repo /path/to/site-packages/click --work /tmp/demo-click
  python -m training.demo --repo ~/src/myproject --work runs/myproject --tasks 60 --max-steps 100

Phases, each skipped when its output already exists (so an interrupted
demo picks up where it stopped, a half-done evaluation included):

1. `pack` the repository; the validation split (whole files, --val-fraction)
   is the held-out set: never trained on.
2. Tasks: --tasks lines of code drawn (seeded) from the held-out files —
   not blank, not inside a string or comment (tree-sitter, via
   `fim.syntax`). Each line is masked after its indentation; the model
   sees the path line, the code above (prefix) and below (suffix).
3. Evaluate the base model through the same engine the server uses
   (`engine.local.LocalBackend`, greedy, one line).
4. `train` a LoRA adapter on the training split (training/recipes/cpu-small.yaml
   unless --config; --max-steps / --max-minutes bound it).
5. Evaluate base + adapter on the same tasks.

Reported: exact match (the line, whitespace-trimmed) and edit similarity
(1 - Levenshtein distance / longer length) before and after, the
validation loss at step 0 and at the end, and the time of each phase, in
`results.json` and `results.md` under --work.
"""

from __future__ import annotations

import argparse
import json
import logging
import random
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from evals.metrics import edit_similarity, levenshtein  # noqa: F401 - re-exported for callers
from fim import syntax

log = logging.getLogger(__name__)

RECIPE = Path(__file__).parent / "recipes" / "cpu-small.yaml"


@dataclass(frozen=True)
class Task:
    path: str
    line: int
    prefix: str
    suffix: str
    target: str


def masked_lines(text: str, language: str | None) -> list[int]:
    """Indices of lines worth masking: code (not blank, not only inside a string or comment), 4-120 chars."""
    lines = text.split("\n")
    literal = set()
    tree = syntax.parse(text, language)
    if tree is not None:
        source = syntax.Source(text)
        found = syntax.captures(language, tree.root_node)
        for node in [*found.get("inside.string", []), *found.get("inside.comment", [])]:
            start, end = source.span(node)
            first, last = text.count("\n", 0, start), text.count("\n", 0, end)
            literal.update(range(first + 1, last))  # lines wholly inside the literal
            if not text[text.rfind("\n", 0, start) + 1 : start].strip():
                literal.add(first)  # a line that starts with the literal: a docstring or a comment
            line_end = text.find("\n", end)
            if last > first and not text[end : line_end if line_end != -1 else len(text)].strip():
                literal.add(last)  # the line that closes a multi-line string
    return [i for i, line in enumerate(lines) if 4 <= len(line.strip()) <= 120 and i not in literal]


def build_tasks(repo: Path, manifest: list[dict], count: int, seed: int) -> list[Task]:
    """`count` masked lines from the validation files of `manifest`, spread over them, in file order."""
    candidates: list[tuple[str, int]] = []
    texts = {}
    for entry in manifest:
        if entry["split"] != "validation":
            continue
        text = (repo / entry["path"]).read_text(encoding="utf-8").replace("\r\n", "\n")
        texts[entry["path"]] = text
        candidates += [(entry["path"], i) for i in masked_lines(text, entry["language"])]
    chosen = sorted(random.Random(seed).sample(candidates, min(count, len(candidates))))
    tasks = []
    for path, index in chosen:
        lines = texts[path].split("\n")
        line = lines[index]
        indent = line[: len(line) - len(line.lstrip())]
        prefix = "\n".join(lines[:index]) + ("\n" if index else "") + indent
        tasks.append(Task(path, index + 1, prefix, "\n" + "\n".join(lines[index + 1 :]), line.strip()))
    return tasks


def evaluate(tasks: list[Task], results_file: Path, adapter: str | None, args: argparse.Namespace) -> list[dict]:
    """Complete every task (resuming a partial `results_file`), one JSON line per task."""
    done = [json.loads(line) for line in results_file.read_text().splitlines()] if results_file.exists() else []
    if len(done) >= len(tasks):
        return done[: len(tasks)]
    from engine.backend import CompletionRequest
    from engine.loading import load_model, set_threads
    from engine.local import LocalBackend

    set_threads(args.threads)
    backend = LocalBackend(load_model(args.model, adapter=adapter), context_tokens=args.context_tokens)
    try:
        with open(results_file, "a") as out:
            for task in tasks[len(done) :]:
                request = CompletionRequest(prefix=task.prefix, suffix=task.suffix, path=task.path,
                                            max_tokens=args.max_tokens, stop=("\n",))  # fmt: skip
                completion = backend.complete(request)
                prediction = completion.text.split("\n", 1)[0].strip()
                row = {"path": task.path, "line": task.line, "target": task.target, "prediction": prediction,
                       "exact": prediction == task.target, "edit_similarity": edit_similarity(prediction, task.target),
                       "finish_reason": completion.finish_reason}  # fmt: skip
                out.write(json.dumps(row) + "\n")
                out.flush()
                done.append(row)
                log.info("%s:%d exact=%s es=%.2f", task.path, task.line, row["exact"], row["edit_similarity"])
    finally:
        backend.close()
    return done


def summarise(rows: list[dict]) -> dict[str, Any]:
    n = len(rows)
    return {"tasks": n, "exact_match": sum(r["exact"] for r in rows) / n if n else float("nan"),
            "edit_similarity": sum(r["edit_similarity"] for r in rows) / n if n else float("nan")}  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repo", required=True, type=Path, help="repository to pack (not ours)")
    parser.add_argument("--work", required=True, type=Path, help="directory for the dataset, adapter and results")
    parser.add_argument("--model", default=None, help="base model (default: the bundled model)")
    parser.add_argument("--tasks", type=int, default=40, help="masked lines to evaluate (default: 40)")
    parser.add_argument("--val-fraction", type=float, default=0.15, help="share of files held out (default: 0.15)")
    parser.add_argument("--seq-len", type=int, default=512, help="training window length (default: 512)")
    parser.add_argument("--config", type=Path, default=RECIPE, help="training recipe (default: cpu-small.yaml)")
    parser.add_argument("--max-steps", type=int, default=None, help="override the recipe's max_steps")
    parser.add_argument("--max-minutes", type=float, default=None, help="training time budget in minutes")
    parser.add_argument("--lora-layers", type=int, default=None, help="adapt only the last N layers (faster on CPU)")
    parser.add_argument("--grad-accum", type=int, default=None, help="override the recipe's grad_accum")
    parser.add_argument("--eval-windows", type=int, default=None, help="override the recipe's eval_windows")
    parser.add_argument("--context-tokens", type=int, default=384, help="prompt budget per task (default: 384)")
    parser.add_argument("--max-tokens", type=int, default=32, help="tokens generated per task (default: 32)")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (default: 1; a shared machine)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    args.work.mkdir(parents=True, exist_ok=True)
    timings: dict[str, float] = {}
    data = args.work / "data"
    adapter = args.work / "adapter"

    started = time.perf_counter()
    if not (data / "stats.json").is_file():
        from training.model_io import load_tokenizer
        from training.pack import PackConfig, pack

        tokenizer, fmt, _ = load_tokenizer(args.model)
        pack(PackConfig(repos=(args.repo,), out=data, seq_len=args.seq_len, seed=args.seed,
                        val_fraction=args.val_fraction), tokenizer, fmt, model=args.model or "bundled")  # fmt: skip
    timings["pack_s"] = time.perf_counter() - started
    manifest = [json.loads(line) for line in (data / "manifest.jsonl").read_text().splitlines()]
    tasks = build_tasks(args.repo, manifest, args.tasks, args.seed)
    (args.work / "tasks.jsonl").write_text("".join(json.dumps(asdict(t)) + "\n" for t in tasks))

    started = time.perf_counter()
    before = evaluate(tasks, args.work / "before.jsonl", None, args)
    timings["eval_before_s"] = time.perf_counter() - started

    started = time.perf_counter()
    if not (adapter / "adapter_model.safetensors").is_file():
        from training.config import TrainConfig
        from training.data import PackedData
        from training.trainer import Trainer

        config = TrainConfig.from_yaml(args.config, max_steps=args.max_steps, max_minutes=args.max_minutes,
                                       lora_layers=args.lora_layers, grad_accum=args.grad_accum,
                                       eval_windows=args.eval_windows, eval_every=args.max_steps,
                                       threads=args.threads, seed=args.seed)  # fmt: skip
        resume = (adapter / "checkpoints" / "latest").is_file()
        Trainer(config, PackedData(data), args.model, adapter, resume=resume).run()
    timings["train_s"] = time.perf_counter() - started
    train_log = [json.loads(line) for line in (adapter / "log.jsonl").read_text().splitlines()]
    vals = [r for r in train_log if "val_loss" in r]

    started = time.perf_counter()
    after = evaluate(tasks, args.work / "after.jsonl", str(adapter), args)
    timings["eval_after_s"] = time.perf_counter() - started

    stats = json.loads((data / "stats.json").read_text())
    steps = [r for r in train_log if "loss" in r]
    results = {
        "repo": str(args.repo), "held_out_files": stats["files_by_split"].get("validation", 0),
        "train_files": stats["files_by_split"].get("train", 0), "train_tokens": stats["tokens"]["train"],
        "steps": len(steps), "tokens_seen": sum(r["tokens"] for r in steps),
        "val_loss": {"before": vals[0]["val_loss"] if vals else None, "after": vals[-1]["val_loss"] if vals else None},
        "before": summarise(before), "after": summarise(after),
        "changed": sum(a["prediction"] != b["prediction"] for a, b in zip(after, before)),
        "timings_s": {k: round(v, 1) for k, v in timings.items()},
    }  # fmt: skip
    (args.work / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    table = render_table(results)
    (args.work / "results.md").write_text(table)
    print(table)
    return 0


def render_table(r: dict[str, Any]) -> str:
    b, a = r["before"], r["after"]
    return (
        f"Held-out files: {r['held_out_files']} (trained on {r['train_files']} files, {r['train_tokens']} tokens; "
        f"{r['steps']} steps, {r['tokens_seen']} tokens seen)\n\n"
        "| model | exact match | edit similarity | validation loss |\n|---|---|---|---|\n"
        f"| base | {b['exact_match']:.1%} ({round(b['exact_match'] * b['tasks'])}/{b['tasks']}) | "
        f"{b['edit_similarity']:.3f} | {r['val_loss']['before']} |\n"
        f"| base + LoRA | {a['exact_match']:.1%} ({round(a['exact_match'] * a['tasks'])}/{a['tasks']}) | "
        f"{a['edit_similarity']:.3f} | {r['val_loss']['after']} |\n\n"
        f"Predictions that changed: {r['changed']} of {a['tasks']}. Times: {r['timings_s']}\n"
    )


if __name__ == "__main__":
    raise SystemExit(main())
