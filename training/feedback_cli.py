"""Figures and preference pairs from the language server's feedback log.

  codegemma lsp --feedback-log                          # (or the editor setting feedback_log: true) to record
  codegemma feedback stats                              # shown, acceptance rate, characters, latency, by language
  codegemma feedback stats --json
  codegemma feedback pairs --out data/prefs             # a `datasets` dataset of chosen/rejected rows
  codegemma train --method orpo --data data/prefs --out adapters/prefs
  codegemma feedback stats --log /path/to/feedback.jsonl

The log is `feedback/feedback.jsonl` under the cache directory (see
`lsp.feedback`; `$CODEGEMMA_FEEDBACK_LOG` overrides it); its rotated
predecessor `feedback.jsonl.1` is read too. Pairs: chosen is what the user
typed over a suggestion (or the part of it they kept), rejected is the
suggestion.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

HELP = "acceptance figures (stats) and preference pairs (pairs) from the language server's feedback log"


def configure(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="feedback_action", metavar="ACTION", required=True)
    stats = sub.add_parser("stats", help="shown, acceptance rate, characters accepted and retained, latency, "
                           "by language")  # fmt: skip
    stats.add_argument("--json", action="store_true", help="print JSON instead of a table")
    pairs = sub.add_parser("pairs", help="write a datasets dataset of prompt, chosen and rejected")
    pairs.add_argument("--out", required=True, type=Path, help="directory for the dataset (must not exist)")
    for child in (stats, pairs):
        child.add_argument("--log", type=Path, default=None,
                           help="feedback log file or its directory (default: the cache's feedback/feedback.jsonl)")  # fmt: skip


def run(args: argparse.Namespace) -> int:
    from lsp.feedback import default_path
    from training.errors import TrainingError
    from training.feedback_data import feedback_stats, preference_pairs, read_log, write_pairs

    records = read_log(args.log or default_path())
    if args.feedback_action == "stats":
        figures = feedback_stats(records)
        print(json.dumps(figures, indent=2) if args.json else stats_table(figures))
        return 0
    if args.out.exists() and any(args.out.iterdir()):
        raise TrainingError(f"--out {args.out} exists and is not empty; choose a new directory")
    rows = preference_pairs(records)
    write_pairs(rows, args.out)
    kinds = {k: sum(r["fate"] == k for r in rows) for k in sorted({r["fate"] for r in rows})}
    print(f"{len(rows)} pairs from {len(records)} records ({', '.join(f'{v} {k}' for k, v in kinds.items())}) "
          f"in {args.out}")  # fmt: skip
    return 0


def stats_table(figures: dict) -> str:
    from evals.table import format_table

    headers = ["language", "shown", "accepted", "rate", "chars accepted", "chars retained", "chars/shown",
               "median ms", "p90 ms"]  # fmt: skip
    rows = []
    for name, g in [("all", figures["all"]), *figures["by_language"].items()]:
        rows.append([name, g["shown"], g["accepted"], f"{100 * g['acceptance_rate']:.1f}%", g["chars_accepted"],
                     f"{g['chars_retained']} ({g['retention_checked']} checked)", g["accepted_chars_per_shown"],
                     g["median_latency_ms"], g["p90_latency_ms"]])  # fmt: skip
    fates = ", ".join(f"{v} {k}" for k, v in figures["all"]["fates"].items())
    return format_table(headers, rows) + f"\n\nfates: {fates}"
