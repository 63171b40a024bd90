"""How long post-processing takes per completion on a large file.

Usage:

    python -m evals.postprocess_cost              # 2,000-line Python and JavaScript files
    python -m evals.postprocess_cost --lines 5000 --repeat 50

For each of several cursor situations (whole-line statement, empty block,
end of a line, inside a call) a realistic 64-token model output is fed to
the completion filter a token (about four characters) at a time, as the
engine does, then `finish` runs. The figure is the wall time of all of that
for one completion. The baseline, measured in the same run, is a single
parse of the whole file: what every line of output would cost if the file
were re-parsed instead of the window around the cursor.
"""

from __future__ import annotations

import argparse
import statistics
import time
from dataclasses import dataclass

from fim import syntax
from fim.postprocess import completion_filter

STOPS = ("<|fim_prefix|>", "<|fim_suffix|>", "<|fim_middle|>", "<|endoftext|>")
CURSOR = "<|>"

PY_UNIT = '''def compute_{i}(items, factor={i}):
    """Sum the weighted prices of the items ({i})."""
    total = 0
    for item in items:
        if item.price > factor:
            total += item.price * item.count
        else:
            total -= 1
    return total


'''

JS_UNIT = """function compute{i}(items, factor = {i}) {{
  // Sum the weighted prices of the items.
  let total = 0;
  for (const item of items) {{
    if (item.price > factor) {{
      total += item.price * item.count;
    }}
  }}
  return total;
}}

"""

#: (language, the cursor's function with CURSOR, a model output that runs on past the unit)
SCENARIOS = [
    (
        "python",
        "def target(items):\n    total = 0\n<|>    return total\n\n\n",
        "    for item in items:\n        total += item.price\n    return total\n\n\ndef other():\n    pass\n",
    ),
    (
        "python",
        'def target(items):\n    """Target."""\n<|>\n\n',
        "    total = 0\n    for item in items:\n        total += item.price * item.count\n    return total\n\n\ndef other():\n",
    ),
    (
        "python",
        "def target(items):\n    total = <|>\n    return total\n\n\n",
        "sum(item.price for item in items)\n    return total\n\n\ndef other():\n    pass\n",
    ),
    (
        "python",
        "def target(items):\n    total = sum(<|>)\n    return total\n\n\n",
        "item.price for item in items)\n    return total\n\n\ndef other():\n",
    ),
    (
        "javascript",
        "function target(items) {\n  let total = 0;\n  <|>\n  return total;\n}\n\n",
        "for (const item of items) {\n    total += item.price;\n  }\n  return total;\n}\n\nfunction other() {}\n",
    ),
    (
        "javascript",
        "function target(items) {\n  <|>\n}\n\n",
        "let total = 0;\n  for (const item of items) {\n    total += item.price;\n  }\n  return total;\n}\n\nfunction other() {}\n",
    ),
]


@dataclass(frozen=True)
class Result:
    #: Wall time per completion (includes waiting for a CPU on a busy machine).
    median_ms: float
    #: CPU time of this thread per completion: the cost itself.
    median_cpu_ms: float
    p90_cpu_ms: float
    #: CPU time of one parse of the whole file (the baseline).
    full_parse_ms: float
    completions: int

    @property
    def ratio(self) -> float:
        """Post-processing of one completion / one full parse of the file (CPU time)."""
        return self.median_cpu_ms / self.full_parse_ms if self.full_parse_ms else float("inf")


def document(language: str, lines: int, target: str) -> tuple[str, str]:
    """A file of about `lines` lines with `target` (holding the cursor) in the middle."""
    unit = PY_UNIT if language == "python" else JS_UNIT
    per = unit.count("\n")
    half = [unit.format(i=i) for i in range(max(lines // per // 2, 1))]
    rest = [unit.format(i=i + len(half)) for i in range(len(half))]
    prefix, suffix = target.split(CURSOR)
    return "".join(half) + prefix, suffix + "".join(rest)


def run_one(prefix: str, suffix: str, output: str, language: str, token_chars: int = 4) -> float:
    """Milliseconds to post-process one completion, fed `token_chars` characters at a time."""
    started = time.perf_counter()
    f = completion_filter(stop_words=STOPS, prefix=prefix, suffix=suffix, language=language)
    text = output
    for end in range(token_chars, len(output) + token_chars, token_chars):
        text = output[:end]
        if f.check(text).cut is not None:
            break
    f.finish(text)
    return (time.perf_counter() - started) * 1000


def measure(lines: int = 2000, repeat: int = 20) -> Result:
    walls: list[float] = []
    cpus: list[float] = []
    parses: list[float] = []
    for language, target, output in SCENARIOS:
        prefix, suffix = document(language, lines, target)
        run_one(prefix, suffix, output, language)  # warm-up: grammar loading and query compilation
        for _ in range(repeat):
            cpu = time.thread_time()
            walls.append(run_one(prefix, suffix, output, language))
            cpus.append((time.thread_time() - cpu) * 1000)
            cpu = time.thread_time()
            syntax.parse(prefix + suffix, language)
            parses.append((time.thread_time() - cpu) * 1000)
    cpus.sort()
    return Result(
        median_ms=statistics.median(walls),
        median_cpu_ms=statistics.median(cpus),
        p90_cpu_ms=cpus[max(int(len(cpus) * 0.9) - 1, 0)],
        full_parse_ms=statistics.median(parses),
        completions=len(cpus),
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lines", type=int, default=2000, help="lines in the benchmark file (default 2000)")
    parser.add_argument("--repeat", type=int, default=20, help="runs per cursor situation (default 20)")
    args = parser.parse_args(argv)
    result = measure(args.lines, args.repeat)
    print(
        f"{result.completions} completions on {args.lines}-line files: post-processing median "
        f"{result.median_cpu_ms:.2f} ms CPU (p90 {result.p90_cpu_ms:.2f} ms, wall median {result.median_ms:.2f} ms); "
        f"one full parse of the file {result.full_parse_ms:.2f} ms CPU; ratio {result.ratio:.3f}"
    )


if __name__ == "__main__":
    main()
