"""`codegemma bench replay`: the editor replay benchmark (see `evals.replay`) from the command line.

  codegemma bench replay                                          # our language server, bundled model in its process
  codegemma bench replay --sessions 2 --lines 1                   # a quick look
  codegemma bench replay --driver lsp=http://127.0.0.1:8012       # the language server asking `codegemma serve`
  codegemma bench replay --driver lsp=http://127.0.0.1:8012 \\
      --driver llama.vim=http://127.0.0.1:8080                    # ours vs llama-server driven as llama.vim does
  codegemma bench replay --driver lsp --driver "lsp --no-prefetch"   # with and without cache warming

Sessions (--sessions, --lines per session, --seed) replay real files from
installed packages (click, httpx, requests, pydantic, ...) in real time:
open, pause, move to a line, clear it and type it again at 150-250 ms per
key with ~1 s pauses. Each --driver SPEC is `lsp[=URL] [ARGS...]` (our
`codegemma lsp`, in-process model or `--backend http --url URL`, ARGS passed
to it) or `llama.vim=URL` (an `/infill` server driven as llama.vim drives
it; start llama-server with `--cache-reuse 256` as llama.vim suggests).
Drivers take turns session by session. Reported per driver: median and p90
time from a pause to a suggestion (a pause without one counts as never) and
characters per minute typed that a suggestion on screen already showed. The
summary goes to OUTPUT (JSON, with the CPU model, its flags and cores) and
to the terminal.
"""

from __future__ import annotations

import argparse
import asyncio
import shlex
import sys
import time
from pathlib import Path
from typing import Any

from evals.errors import EvalError

OUTPUT_DIR = Path("bench-results")


def configure(sub: Any) -> None:
    p = sub.add_parser("replay", help="editor replay: pause-to-suggestion time and characters shown ahead",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    p.add_argument("--driver", action="append", default=[], metavar="SPEC",
                   help="lsp[=URL] [ARGS...] or llama.vim=URL (repeatable; default: lsp)")  # fmt: skip
    p.add_argument("--sessions", type=int, default=6, help="sessions per driver (default: 6)")
    p.add_argument("--lines", type=int, default=3, help="lines retyped per session (default: 3)")
    p.add_argument("--seed", type=int, default=0, help="which files and lines, and the timing jitter (default: 0)")
    p.add_argument("--output", type=Path, help=f"summary JSON (default: {OUTPUT_DIR}/replay-TIMESTAMP.json)")


def make_driver(spec: str, scale: float = 1.0, seed: int = 0) -> Any:
    """A driver from `lsp[=URL] [ARGS...]` or `llama.vim=URL`."""
    from evals.llama_vim import LlamaVimDriver
    from evals.replay_lsp import LspDriver

    words = shlex.split(spec)
    if not words:
        raise EvalError("--driver needs a value: lsp[=URL] [ARGS...] or llama.vim=URL")
    kind, _, url = words[0].partition("=")
    if kind == "llama.vim":
        if not url.startswith(("http://", "https://")) or len(words) > 1:
            raise EvalError(
                f"--driver {spec!r}: llama.vim needs the server's URL, e.g. llama.vim=http://127.0.0.1:8080"
            )
        return LlamaVimDriver(spec, url, scale=scale, seed=seed)
    if kind == "lsp":
        if url and not url.startswith(("http://", "https://")):
            raise EvalError(f"--driver {spec!r}: the URL must start with http:// or https://")
        args = (["--backend", "http", "--url", url] if url else []) + words[1:]
        return LspDriver(spec, args, scale=scale)
    raise EvalError(f"--driver {spec!r}: the kind must be lsp or llama.vim, not {kind!r}")


def run(args: argparse.Namespace) -> int:
    from evals.replay import build_sessions, replay
    from evals.results import machine, machine_line, write_json_atomic

    for flag in ("sessions", "lines"):
        if getattr(args, flag) <= 0:
            raise EvalError(f"--{flag} must be positive, not {getattr(args, flag)}")
    drivers = [make_driver(spec, seed=args.seed) for spec in args.driver or ["lsp"]]
    if len({d.name for d in drivers}) < len(drivers):
        raise EvalError("two --driver values are the same; give each driver once")
    sessions = build_sessions(args.sessions, args.seed, args.lines)
    minutes = sum(s.duration for s in sessions) * len(drivers) / 60
    output = args.output or OUTPUT_DIR / time.strftime("replay-%Y%m%d-%H%M%S.json")
    print(f"{len(sessions)} sessions x {len(drivers)} driver(s), about {minutes:.1f} minutes in real time",
          file=sys.stderr)  # fmt: skip

    def progress(name: str, session: Any, result: Any) -> None:
        s = result.summary()
        print(f"{name}: {session.name}: {s['pauses_with_suggestion']}/{s['pauses']} pauses answered so far, "
              f"{s['chars_shown_ahead']} characters shown ahead", file=sys.stderr)  # fmt: skip

    results = asyncio.run(replay(drivers, sessions, progress=progress))
    summaries = {name: r.summary() for name, r in results.items()}
    config = {"sessions": args.sessions, "lines": args.lines, "seed": args.seed, "files": [s.name for s in sessions]}
    write_json_atomic(output, {"config": config, "machine": machine(), "drivers": summaries})
    print(machine_line())
    print(replay_table(summaries))
    print(f"summary: {output}", file=sys.stderr)
    for name, s in summaries.items():
        if s["errors"]:
            print(f"{name}: {s['errors']} errors, first: {s['first_error']}", file=sys.stderr)
    return 0


def replay_table(summaries: dict[str, dict[str, Any]]) -> str:
    from evals.table import format_table

    first = next(iter(summaries.values()))["pause_to_suggestion_median_s"]
    headers = ["driver", "pauses", "answered in the pause", "pause to suggestion: median s", "p90 s",
               "chars/min shown ahead", "shown ahead / typed", "requests", "errors", "median vs 1st row"]  # fmt: skip
    rows = []
    for name, s in summaries.items():
        median = s["pause_to_suggestion_median_s"]
        ratio = f"{median / first:.2f}x" if median is not None and first else "-"
        rows.append([name, s["pauses"], f"{s['pauses_with_suggestion']}", seconds(median),
                     seconds(s["pause_to_suggestion_p90_s"]),
                     s["chars_per_minute_shown_ahead"], f"{s['chars_shown_ahead']}/{s['chars_typed']}",
                     s["requests"], s["errors"], ratio])  # fmt: skip
    return format_table(headers, rows)


def seconds(value: float | None) -> str:
    """Two decimals; a percentile that falls on a pause without a suggestion reads "never"."""
    return "never" if value is None else f"{value:.2f}"
