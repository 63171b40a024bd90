"""`codegemma <verb>`: one command line, each verb a plain function in its package.

Verbs are looked up lazily (module path strings), so `codegemma --help` and
the light verbs never import torch. Run it as `codegemma`, `python -m cli` or
`accelerate launch -m cli train ...`. The flags verbs share live in `cli.options`.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
from typing import Callable


#: verb -> module that defines `HELP`, `configure(parser)` and `run(args) -> int`.
COMMANDS: dict[str, str] = {
    "serve": "server.cli",
    "complete": "engine.complete",
    "lsp": "lsp.cli",
    "eval": "evals.cli",
    "bench": "evals.bench_cli",
    "pack": "training.pack_cli",
    "train": "training.train_cli",
    "merge": "training.merge_cli",
    "feedback": "training.feedback_cli",
}

#: Errors whose message is meant for the user: printed as one line, no traceback.
USER_ERRORS = ("engine.errors:EngineError", "fim.errors:FimError", "server.errors:ServerError",
               "evals.errors:EvalError", "training.errors:TrainingError", "lsp.errors:LspError")  # fmt: skip


def _user_error_types() -> tuple[type[BaseException], ...]:
    found = []
    for ref in USER_ERRORS:
        module, _, name = ref.partition(":")
        try:
            found.append(getattr(importlib.import_module(module), name))
        except (ImportError, AttributeError):
            continue
    return tuple(found)


def build_parser() -> tuple[argparse.ArgumentParser, dict[str, Callable[[argparse.Namespace], int]]]:
    parser = argparse.ArgumentParser(
        prog="codegemma",
        description="Fill-in-the-middle code completion with CodeGemma (or the bundled model): "
        "HTTP server, language server, evaluation, training.",
    )
    parser.add_argument("--log-level", default=os.environ.get("CODEGEMMA_LOG_LEVEL", "INFO"),
                        help="DEBUG, INFO, WARNING or ERROR (default: INFO)")  # fmt: skip
    sub = parser.add_subparsers(dest="verb", metavar="VERB")
    runners: dict[str, Callable[[argparse.Namespace], int]] = {}
    for verb, module_name in COMMANDS.items():
        module = importlib.import_module(module_name)
        child = sub.add_parser(verb, help=module.HELP, description=module.__doc__,
                               formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
        module.configure(child)
        runners[verb] = module.run
    return parser, runners


def main(argv: list[str] | None = None) -> int:
    parser, runners = build_parser()
    args = parser.parse_args(argv)
    if not args.verb:
        parser.print_help()
        return 2
    logging.basicConfig(
        level=args.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    if args.log_level.upper() != "DEBUG":  # pygls logs every JSON-RPC message at INFO (the replay's, the server's)
        logging.getLogger("pygls").setLevel(logging.WARNING)
    user_errors = _user_error_types()
    try:
        return runners[args.verb](args) or 0
    except KeyboardInterrupt:
        print("codegemma: interrupted", file=sys.stderr)
        return 130
    except user_errors as exc:
        print(f"codegemma {args.verb}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
