"""What `--cache-reuse` costs in quality: completions after typing, with and without shifted reuse.

Each case is a statement from the standard library typed one character at a
time (`evals.sources.typing_sequences`: the line is gone from the suffix, so
every keystroke is an edit just before the suffix). The engine with reuse
reads the first keystroke's prompt, then follows the keystrokes (each one
takes the suffix from the cache, turned to its new position); its greedy
completion after 1 and after `--keys` keystrokes is compared with a cold
read of the same prompt (exact). Reported: the share of identical first
lines and of identical completions, and the prompt tokens read.

  python -m evals.cache_reuse --cases 50 --keys 8 --min-run 32
"""

from __future__ import annotations

import argparse
import json
import sys
import time

from engine.backend import CompletionRequest
from engine.defaults import CONTEXT_TOKENS
from evals.sources import typing_sequences

#: Tokens generated for the compared completions.
MAX_TOKENS = 32


def first_line(text: str) -> str:
    return text.split("\n", 1)[0]


def measure(cases: int, keys: int, min_run: int, seed: int, context_tokens: int) -> dict:
    from engine.loading import load_model
    from engine.local import LocalBackend

    lm = load_model(None, dtype="auto")
    # Typing through the previous completion would answer without the model: off, so every keystroke reads.
    reusing = LocalBackend(lm, context_tokens=context_tokens, cache_reuse=min_run, reuse=False)
    cold = LocalBackend(lm, context_tokens=context_tokens, prompt_cache_mb=0, reuse=False)
    sequences = typing_sequences(cases, keys + 1, seed, prefix_chars=3 * context_tokens, suffix_chars=context_tokens)
    counts = {1: [0, 0, 0], keys: [0, 0, 0]}  # keystrokes -> [same first line, same text, cases]
    read = {"reusing": 0, "cold": 0}
    started = time.perf_counter()
    for n, sequence in enumerate(sequences):
        for step, bench in enumerate(sequence):
            compared = step in counts
            request = CompletionRequest(prefix=bench.prefix, suffix=bench.suffix, path=bench.path, raw=False,
                                        max_tokens=MAX_TOKENS if compared else 1, cache_key=f"case{n}")  # fmt: skip
            out = reusing.complete(request)
            if not compared:
                continue
            ref = cold.complete(request)
            tally = counts[step]
            tally[0] += first_line(out.text) == first_line(ref.text)
            tally[1] += out.text == ref.text
            tally[2] += 1
            read["reusing"] += out.timings.prompt_tokens - out.timings.cached_tokens
            read["cold"] += ref.timings.prompt_tokens
    reusing.close()
    cold.close()
    return {
        "cases": cases, "keys": keys, "min_run": min_run, "seed": seed, "context_tokens": context_tokens,
        "same_first_line": {k: round(v[0] / v[2], 3) for k, v in counts.items()},
        "same_text": {k: round(v[1] / v[2], 3) for k, v in counts.items()},
        "prompt_tokens_read": read, "seconds": round(time.perf_counter() - started),
    }  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", type=int, default=50, help="typed statements (default: 50)")
    parser.add_argument("--keys", type=int, default=8, help="keystrokes before the last comparison (default: 8)")
    parser.add_argument("--min-run", type=int, default=32, help="--cache-reuse of the engine with reuse (default: 32)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--context-tokens", type=int, default=CONTEXT_TOKENS,
                        help=f"prompt budget (default: {CONTEXT_TOKENS})")  # fmt: skip
    args = parser.parse_args(argv)
    if args.cases < 1 or args.keys < 2 or args.min_run < 1:
        parser.error("--cases must be at least 1, --keys at least 2 and --min-run at least 1")
    json.dump(measure(args.cases, args.keys, args.min_run, args.seed, args.context_tokens), sys.stdout, indent=1)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
