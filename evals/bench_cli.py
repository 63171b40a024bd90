"""Measure completion latency on requests cut from real code (the Python standard library).

  codegemma bench latency                                          # bundled model in this process
  codegemma bench latency --requests 10 --typing 1                 # a quick look
  codegemma bench latency --backend http --compare llama.cpp=http://127.0.0.1:8080   # ours vs llama.cpp
  codegemma bench latency --backend http --concurrency 4           # 4 clients at once
  codegemma bench latency --backend llama.cpp --url http://127.0.0.1:8080 --front http://127.0.0.1:8012 --concurrency 4
                                 # `codegemma serve --engine llama.cpp=...` at :8012 vs the same llama-server direct
  codegemma bench latency --backend generate --compare http        # plain transformers generate vs our server
  codegemma bench latency --compare local,speculate=false          # the engine with and without speculation
  codegemma bench latency --compare "ollama=http://127.0.0.1:11434,model=codegemma:2b-code"

The request set is deterministic for --seed on one Python version: --requests
cursors inside function bodies of standard-library files (~1500 characters
before the cursor, ~400 after), plus --typing sequences in which the prefix
grows one character per request (--typing-chars requests each), as when a
user types. Reported per backend: median and p90 end-to-end latency, time to
the first streamed text, prompt and generated tokens per second (from the
backend's timings), and for typing sequences the latency of the first request
and of the ones after it (with the share typed through the previous
completion, and the median of the rest). Each --compare SPEC (KIND[=URL][,key=value...])
adds a backend; backends take turns request by request. One warm-up request
per backend is not counted. Every sample goes to OUTPUT.samples.jsonl as it
is measured; the summary goes to OUTPUT (JSON) and to the terminal.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path
from typing import Any

from engine.defaults import MAX_TOKENS
from evals import replay_cli
from evals.errors import EvalError

HELP = "measure completion latency against one or more backends, or replay editing sessions"
OUTPUT_DIR = Path("bench-results")


def configure(parser: argparse.ArgumentParser) -> None:
    from cli.options import add_backend_arguments, add_model_arguments

    sub = parser.add_subparsers(dest="bench", metavar="BENCH", required=True)
    p = sub.add_parser("latency", help="end-to-end completion latency", description=__doc__,
                       formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    p.add_argument("--requests", type=int, default=20, help="file requests (default: 20)")
    p.add_argument("--typing", type=int, default=3, help="typing sequences (default: 3)")
    p.add_argument("--typing-chars", type=int, default=8, help="requests per typing sequence (default: 8)")
    p.add_argument("--max-tokens", type=int, default=MAX_TOKENS, help=f"tokens per completion (default: {MAX_TOKENS})")
    p.add_argument("--prefix-chars", type=int, default=1500, help="characters before the cursor (default: 1500)")
    p.add_argument("--suffix-chars", type=int, default=400, help="characters after the cursor (default: 400)")
    p.add_argument("--seed", type=int, default=0, help="which files and cursors (default: 0)")
    p.add_argument("--concurrency", type=int, default=1,
                   help="replay from N clients at once, one backend after another (default: 1)")  # fmt: skip
    p.add_argument("--compare", action="append", default=[], metavar="SPEC",
                   help="another backend, KIND[=URL][,key=value...], e.g. llama.cpp=http://127.0.0.1:8080 "
                   "or local,model=./other-model (repeatable)")  # fmt: skip
    p.add_argument("--front", metavar="URL",
                   help="a `codegemma serve --engine llama.cpp=UPSTREAM` to compare with --backend llama.cpp --url "
                   "UPSTREAM, at 1 and --concurrency clients: added latency per request and the upstream's tokens "
                   "(llama-server with --metrics; see evals/front_bench.py)")  # fmt: skip
    p.add_argument("--raw", action="store_true", help="switch our post-processing off")
    p.add_argument("--no-warmup", action="store_true", help="count the first request of each backend too")
    p.add_argument("--output", type=Path, help=f"summary JSON (default: {OUTPUT_DIR}/latency-TIMESTAMP.json)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar (for logs)")
    add_backend_arguments(p)
    add_model_arguments(p)
    replay_cli.configure(sub)


def _check(args: argparse.Namespace) -> None:
    for flag in ("requests", "typing"):
        if getattr(args, flag) < 0:
            raise EvalError(f"--{flag} cannot be negative")
    for flag in ("typing_chars", "max_tokens", "prefix_chars", "suffix_chars", "concurrency"):
        if getattr(args, flag) <= 0:
            raise EvalError(f"--{flag.replace('_', '-')} must be positive, not {getattr(args, flag)}")
    if args.requests + args.typing == 0:
        raise EvalError("nothing to measure: --requests and --typing are both 0")


def open_backends(args: argparse.Namespace) -> dict[str, Any]:
    """Label -> backend: the --backend one first (the baseline), then each --compare."""
    from cli.options import backend_from_args
    from engine.specs import backend_from_spec, parse_backend_spec

    specs = [parse_backend_spec(spec) for spec in args.compare]  # fail on a typo before loading anything
    backends: dict[str, Any] = {}

    def add(backend: Any) -> None:
        label, n = backend.name, 2
        while label in backends:
            label, n = f"{backend.name}#{n}", n + 1
        backends[label] = backend

    try:
        add(backend_from_args(args))
        for kind, url, options in specs:
            add(backend_from_spec(kind, url, **options))
    except BaseException:
        for backend in backends.values():
            backend.close()
        raise
    return backends


def run(args: argparse.Namespace) -> int:
    if args.bench == "replay":
        return replay_cli.run(args)
    from tqdm import tqdm

    from engine.backend import CompletionRequest
    from evals.latency import replay_concurrent, replay_serial, summarize
    from evals.results import machine, machine_line, write_json_atomic
    from evals.sources import file_requests, typing_sequences

    _check(args)
    if args.front:
        from evals.front_bench import check_front

        check_front(args)
        args.compare = [f"http={args.front}"]
    sizes = dict(prefix_chars=args.prefix_chars, suffix_chars=args.suffix_chars)
    jobs = [[r] for r in file_requests(args.requests, args.seed, **sizes)]
    jobs += typing_sequences(args.typing, args.typing_chars, args.seed, **sizes)
    total = sum(len(j) for j in jobs)
    output = args.output or OUTPUT_DIR / time.strftime("latency-%Y%m%d-%H%M%S.json")
    samples_path = output.with_suffix(".samples.jsonl")
    backends = open_backends(args)
    samples_path.parent.mkdir(parents=True, exist_ok=True)
    samples: list[Any] = []
    walls: dict[str, float] = {}
    try:
        if not args.no_warmup:
            for backend in backends.values():
                backend.complete(CompletionRequest(prefix="def add(a, b):\n    return ", suffix="\n", max_tokens=2))
        print(f"{total} requests ({args.requests} file, {args.typing}x{args.typing_chars} typing) on "
              f"{len(backends)} backend(s), concurrency {args.concurrency}; samples in {samples_path}",
              file=sys.stderr)  # fmt: skip
        with (
            samples_path.open("w", encoding="utf-8") as out,
            tqdm(total=total * len(backends), unit="req", disable=args.no_progress, dynamic_ncols=True) as bar,
        ):

            def record(sample: Any) -> None:
                samples.append(sample)
                out.write(json.dumps(sample.to_json()) + "\n")
                out.flush()
                bar.update(1)
                bar.set_postfix_str(f"{sample.latency_ms / 1000:.1f} s")

            options = dict(max_tokens=args.max_tokens, raw=args.raw)
            if args.front:
                from evals.front_bench import replay_front

                fronted = replay_front(backends, jobs, record, samples, concurrency=args.concurrency, **options)
            elif args.concurrency == 1:
                replay_serial(backends, jobs, record, **options)
            else:
                for label, backend in backends.items():
                    walls[label] = replay_concurrent(label, backend, jobs, record, concurrency=args.concurrency,
                                                     **options)  # fmt: skip
    finally:
        for backend in backends.values():
            backend.close()
    summaries = {label: summarize([s for s in samples if s.backend == label], walls.get(label)) for label in backends}
    if args.front:
        summaries = fronted.summaries
    config = {k: getattr(args, k) for k in ("requests", "typing", "typing_chars", "max_tokens", "prefix_chars",
                                            "suffix_chars", "seed", "concurrency", "raw")}  # fmt: skip
    config["python"] = platform.python_version()
    if args.front:
        config["fresh_passes"] = fronted.fresh_passes  # the upstream's cache erased before each pass
    write_json_atomic(output, {"config": config, "machine": machine(), "backends": summaries})
    print(machine_line())
    print(latency_table(summaries, args.concurrency))
    if args.front:
        from evals.front_bench import front_table

        print(front_table(fronted))
    print(f"summary: {output}", file=sys.stderr)
    for label, summary in summaries.items():
        if summary["errors"]:
            print(f"{label}: {summary['errors']} errors, first: {summary['first_error']}", file=sys.stderr)
    return 0


def latency_table(summaries: dict[str, dict[str, Any]], concurrency: int) -> str:
    from evals.table import format_table

    baseline = next(iter(summaries.values()))["median_ms"]
    headers = ["backend", "clients", "requests", "errors", "median s", "p90 s", "first text s", "prompt tok/s",
               "gen tok/s", "typing 1st s", "typing later s", "typing later p90 s", "typed through %",
               "typing later, model s", "median vs 1st row"]  # fmt: skip
    rows = []
    for label, s in summaries.items():
        rows.append([
            label, s.get("clients", concurrency), s["requests"], s["errors"], s["median_ms"] / 1000, s["p90_ms"] / 1000,
            s["first_text_median_ms"] / 1000, s["prompt_tokens_per_s"], s["generated_tokens_per_s"],
            s["typing_first_median_ms"] / 1000, s["typing_after_first_median_ms"] / 1000,
            s["typing_after_first_p90_ms"] / 1000, 100 * s["typing_after_first_reused_share"],
            s["typing_after_first_model_median_ms"] / 1000,
            f"{s['median_ms'] / baseline:.2f}x" if baseline == baseline else "-",
        ])  # fmt: skip
    return format_table(headers, rows)
