"""Print the completion at a cursor in a file.

  codegemma complete app.py --line 12 --column 9
  codegemma complete app.py --line 12 --server http://127.0.0.1:8080   # ask a running server
  codegemma complete src/app.py --line 12 --workspace .                  # with definitions from other files

Lines and columns count from 1; the column counts characters, and defaults
to the end of the line. The completion goes to standard output as it is
generated; timings go to the log (standard error).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from engine.backend import CompletionRequest
from engine.defaults import MAX_TOKENS
from engine.errors import EngineError

HELP = "print the completion at FILE:LINE:COLUMN"


def configure(parser: argparse.ArgumentParser) -> None:
    from cli.options import add_model_arguments

    parser.add_argument("file", type=Path, help="source file to complete in")
    parser.add_argument("--line", type=int, required=True, help="cursor line, from 1")
    parser.add_argument(
        "--column", type=int, default=None, help="cursor column in characters, from 1 (default: end of line)"
    )
    parser.add_argument("--max-tokens", type=int, default=MAX_TOKENS,
                        help=f"most tokens to generate (default: {MAX_TOKENS})")  # fmt: skip
    parser.add_argument("--temperature", type=float, default=0.0, help="0 is greedy (default)")
    parser.add_argument("--raw", action="store_true", help="switch post-processing off (show what the model wrote)")
    parser.add_argument("--server", help="URL of a running `codegemma serve` to ask instead of loading a model")
    parser.add_argument("--api-key", help="bearer token for --server (env: CODEGEMMA_API_KEY)")
    parser.add_argument("--workspace", type=Path, metavar="DIR",
                        help="index this directory and show the model the definitions, outlines and similar code "
                        "of other files that the cursor needs (repository context)")  # fmt: skip
    add_model_arguments(parser)


def split_at_cursor(text: str, line: int, column: int | None) -> tuple[str, str]:
    """(prefix, suffix) of `text` at a 1-based line and column."""
    lines = text.splitlines(keepends=True) or [""]
    if text.endswith("\n"):
        lines.append("")
    if not 1 <= line <= len(lines):
        raise EngineError(f"--line {line} is outside the file (it has {len(lines)} lines)")
    body = lines[line - 1].rstrip("\r\n")
    if column is None:
        column = len(body) + 1
    if not 1 <= column <= len(body) + 1:
        raise EngineError(f"--column {column} is outside line {line} (it has {len(body)} characters)")
    start = sum(len(x) for x in lines[: line - 1]) + column - 1
    return text[:start], text[start:]


def run(args: argparse.Namespace) -> int:
    if not args.file.is_file():
        raise EngineError(f"no such file: {args.file}")
    try:
        text = args.file.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise EngineError(f"{args.file} is not UTF-8 text") from None
    prefix, suffix = split_at_cursor(text, args.line, args.column)
    if args.max_tokens <= 0:
        raise EngineError(f"--max-tokens must be positive, not {args.max_tokens}")
    context = ()
    if args.workspace is not None:
        from repo_context.service import RepoContext

        if not args.workspace.is_dir():
            raise EngineError(f"--workspace {args.workspace} is not a directory")
        budget = args.context_tokens  # an int, or `auto`'s budget object (its starting tokens)
        repo = RepoContext(args.workspace, getattr(budget, "tokens", budget), background=False)
        context = repo.context_for(str(args.file.resolve()), prefix, suffix)
    request = CompletionRequest(
        prefix=prefix,
        suffix=suffix,
        path=args.file.name,
        context=context,
        max_tokens=args.max_tokens,
        temperature=args.temperature,
        raw=args.raw,
    )
    if args.server:
        import os

        from engine.remote import OurServerBackend

        backend = OurServerBackend(args.server, api_key=args.api_key or os.environ.get("CODEGEMMA_API_KEY"))
    else:
        from cli.options import load_backend

        backend = load_backend(args)
    try:
        completion = backend.complete(request, on_text=lambda piece: print(piece, end="", flush=True))
    finally:
        backend.close()
    if not completion.text.endswith("\n"):
        print()
    print(
        f"[{completion.finish_reason}; {completion.timings.prompt_tokens} prompt tokens in "
        f"{completion.timings.prompt_ms:.0f} ms, {completion.timings.generated_tokens} generated in "
        f"{completion.timings.generate_ms:.0f} ms]",
        file=sys.stderr,
    )
    return 0
