"""`codegemma eval cross-file`: exact match and edit similarity on cross-file holes, by context mode.

  codegemma eval cross-file --holes 60                                  # quick look, bundled model
  codegemma eval cross-file --holes 300 --packages click,httpx,requests,rich,jinja2,werkzeug
  codegemma eval cross-file --holes 300 --context none,full,defs,outlines,bm25,defs+outlines
  codegemma eval cross-file --backend http --url http://127.0.0.1:8012 --holes 120

Every mode completes the same holes (see `evals.cross_file` for how they are built) at the same
--context-tokens: `none` (in-file only), `imports` (the imported files from the top), `full` (the
repository context of --sources), or any `+`-joined list of sources (`defs`, `outlines`, `bm25`, `ring`),
for the per-source ablation. The ring of recently viewed chunks is empty here (no editing history), so it
adds nothing in this eval. A completion is the model's first line (greedy, stop at a newline); exact match
compares it with the line, both stripped. Results go one JSON line per hole and mode to --output, the
summary (also printed) next to it; the same --seed gives the same holes.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from evals.errors import EvalError

#: `full` means these sources unless --sources says otherwise (the ring is empty in an eval).
FULL_SOURCES = "defs,outlines,bm25"


def configure_parser(sub: Any) -> None:
    """Add the `cross-file` benchmark to `codegemma eval`'s subcommands."""
    from cli.options import add_backend_arguments, add_model_arguments
    from evals.cross_file import DEFAULT_PACKAGES

    run = sub.add_parser("cross-file", help="cross-file holes in installed packages: exact match by context",
                         description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    run.add_argument("--holes", type=int, default=300, help="holes in all, spread evenly over packages (default: 300)")
    run.add_argument("--packages", default=",".join(DEFAULT_PACKAGES[:6]),
                     help="installed packages to draw holes from (default: %(default)s)")  # fmt: skip
    run.add_argument(
        "--context",
        default="none,imports,full",
        help="modes to compare: none, imports, full, or sources joined by + (default: %(default)s)",
    )
    run.add_argument("--sources", default=FULL_SOURCES, help="what `full` uses (default: %(default)s)")
    run.add_argument("--seed", type=int, default=0, help="seed of the hole sample (default: 0)")
    run.add_argument("--max-tokens", type=int, default=48, help="tokens per completion (default: 48)")
    run.add_argument(
        "--output",
        type=Path,
        default=Path("eval-results/cross-file.jsonl"),
        help="results JSONL; the summary goes next to it as .summary.json (default: %(default)s)",
    )
    add_backend_arguments(run)
    add_model_arguments(run)


def parse_modes(context: str, sources: str) -> dict[str, tuple[str, ...] | None]:
    """Mode name -> sources (None: no repository context; () : the imported files)."""
    from repo_context.assemble import check_sources

    modes: dict[str, tuple[str, ...] | None] = {}
    for mode in (m.strip() for m in context.split(",") if m.strip()):
        try:
            if mode == "none":
                modes[mode] = None
            elif mode == "imports":
                modes[mode] = ()
            elif mode == "full":
                modes[mode] = check_sources(sources.split(","))
            else:
                modes[mode] = check_sources(mode.split("+"))
        except ValueError as error:
            raise EvalError(f"--context/--sources: {error}") from None
    if not modes:
        raise EvalError("--context names no mode; use for example none,imports,full")
    return modes


def run_cross_file(args: argparse.Namespace) -> int:
    from cli.options import backend_from_args
    from evals.cross_file import build_holes
    from evals.results import write_json_atomic

    modes = parse_modes(args.context, args.sources)
    if not isinstance(args.context_tokens, int):
        raise EvalError("--context-tokens auto would give each mode a different budget; pass a number of tokens")
    packages = [p.strip() for p in args.packages.split(",") if p.strip()]
    if not packages:
        raise EvalError("--packages names no package")
    started = time.perf_counter()
    holes, workspaces = build_holes(packages, args.holes, args.seed)
    print(f"{len(holes)} holes from {len(packages)} packages in {time.perf_counter() - started:.0f} s; "
          f"modes {', '.join(modes)}; results in {args.output}", file=sys.stderr)  # fmt: skip
    backend = backend_from_args(args)
    rows: list[dict[str, Any]] = []
    try:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        with open(args.output, "w") as out:
            for i, hole in enumerate(holes):
                for mode, sources in modes.items():
                    row = complete_hole(backend, hole, workspaces[hole.package].snapshot, mode, sources, args)
                    out.write(json.dumps(row) + "\n")
                    out.flush()
                    rows.append(row)
                if (i + 1) % 10 == 0:
                    print(f"{i + 1}/{len(holes)} holes", file=sys.stderr)
    finally:
        backend.close()
    summary = summarize(rows, list(modes))
    config = {"holes": len(holes), "packages": packages, "seed": args.seed, "backend": backend.name,
              "context_tokens": args.context_tokens, "sources": args.sources, "max_tokens": args.max_tokens}  # fmt: skip
    write_json_atomic(args.output.with_suffix(".summary.json"), {"config": config, "summary": summary})
    print(summary_table(summary))
    return 0


def complete_hole(backend: Any, hole: Any, snapshot: Any, mode: str, sources: tuple[str, ...] | None,
                  args: argparse.Namespace) -> dict[str, Any]:  # fmt: skip
    """One completion of `hole` with `mode`'s context, scored and timed."""
    from engine.backend import CompletionRequest
    from evals.metrics import edit_similarity
    from fim.budget import CONTEXT_SHARE
    from fim.prompt import ContextFile
    from repo_context.assemble import gather

    count = getattr(getattr(backend, "lm", None), "count_tokens", None) or (lambda text: len(text) // 3 + 1)
    display = f"{hole.package}/{hole.path}"
    began = time.perf_counter()
    context: tuple[ContextFile, ...] = ()
    if sources == ():
        imported = snapshot.imported(hole.path, hole.prefix + hole.suffix)
        context = tuple(ContextFile(f"{hole.package}/{p}", snapshot.files[p].text[: 64 * 1024])
                        for p in reversed(imported))  # fmt: skip
    elif sources:
        budget = int((args.context_tokens - count(display) - 2) * CONTEXT_SHARE)
        context = gather(snapshot, hole.path, hole.prefix, hole.suffix, budget, count, language="python",
                         sources=sources, display=lambda p: f"{hole.package}/{p}")  # fmt: skip
    context_ms = 1000 * (time.perf_counter() - began)
    request = CompletionRequest(prefix=hole.prefix, suffix=hole.suffix, path=display, context=context,
                                max_tokens=args.max_tokens, stop=("\n",), cache_key=f"{mode}:{display}")  # fmt: skip
    began = time.perf_counter()
    completion = backend.complete(request)
    latency_ms = 1000 * (time.perf_counter() - began)
    prediction = completion.text.split("\n", 1)[0].strip()
    return {"mode": mode, "package": hole.package, "path": hole.path, "line": hole.line, "names": hole.names,
            "target": hole.target, "prediction": prediction, "exact": prediction == hole.target,
            "edit_similarity": edit_similarity(prediction, hole.target), "latency_ms": latency_ms,
            "context_ms": context_ms, "context_files": len(context),
            "context_chars": sum(len(c.content) for c in context)}  # fmt: skip


def summarize(rows: list[dict[str, Any]], modes: list[str]) -> dict[str, dict[str, Any]]:
    """Per mode: holes, exact match %, mean edit similarity, median latencies, mean context size."""
    from evals.metrics import percentile

    out: dict[str, dict[str, Any]] = {}
    for mode in modes:
        mine = [r for r in rows if r["mode"] == mode]
        if not mine:
            continue
        out[mode] = {
            "holes": len(mine),
            "exact_match": 100 * sum(r["exact"] for r in mine) / len(mine),
            "edit_similarity": 100 * statistics.fmean(r["edit_similarity"] for r in mine),
            "median_latency_ms": percentile([r["latency_ms"] for r in mine], 50),
            "p90_latency_ms": percentile([r["latency_ms"] for r in mine], 90),
            "median_context_ms": percentile([r["context_ms"] for r in mine], 50),
            "mean_context_chars": statistics.fmean(r["context_chars"] for r in mine),
            "packages": len({r["package"] for r in mine}),
        }  # fmt: skip
    return out


def summary_table(summary: dict[str, dict[str, Any]]) -> str:
    from evals.table import format_table

    headers = ["context", "holes", "packages", "exact match %", "edit sim %", "median ms", "p90 ms",
               "context ms (median)", "context chars (mean)"]  # fmt: skip
    body = [[mode, s["holes"], s["packages"], s["exact_match"], s["edit_similarity"], s["median_latency_ms"],
             s["p90_latency_ms"], s["median_context_ms"], s["mean_context_chars"]] for mode, s in summary.items()]  # fmt: skip
    if not body:
        raise EvalError("no results to report")
    return format_table(headers, body)
