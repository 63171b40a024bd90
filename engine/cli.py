"""`codegemma <verb>`: one command line, each verb a plain function in its package.

Verbs are looked up lazily (module path strings), so `codegemma --help` and
the light verbs never import torch.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
from typing import Callable

from engine.loading import DTYPES
from engine.prompt_cache import DEFAULT_CACHE_REUSE, DEFAULT_PROMPT_CACHE_MB

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
}

#: Errors whose message is meant for the user: printed as one line, no traceback.
USER_ERRORS = ("engine.errors:EngineError", "fim.errors:FimError", "server.errors:ServerError",
               "evals.errors:EvalError", "training.errors:TrainingError", "lsp.errors:LspError")  # fmt: skip


def add_model_arguments(parser: argparse.ArgumentParser) -> None:
    """The flags every verb that runs a model shares."""
    group = parser.add_argument_group("model")
    group.add_argument(
        "--model",
        default=os.environ.get("CODEGEMMA_MODEL"),
        help="Hugging Face id (e.g. google/codegemma-2b), model directory, or .gguf file. "
        "Default: the bundled Qwen2.5-Coder-0.5B-Instruct (no download). Env: CODEGEMMA_MODEL",
    )
    group.add_argument("--adapter", help="directory of a peft LoRA adapter to apply (e.g. from `codegemma train`)")
    group.add_argument(
        "--fim-format",
        help="force a FIM prompt format instead of detecting it from the tokenizer "
        "(codegemma, codegemma-spm, codegemma-spm-v2, qwen2.5-coder, starcoder2, deepseek-coder, codellama, ...)",
    )
    group.add_argument("--dtype", default="auto", choices=DTYPES,
                       help="weight type: auto (int8 decode weights on CPUs with native bf16, else float32), "
                       "float32, bfloat16, float16, or int8 (a bf16 model with int8 weights for decode steps) "
                       "(default: auto)")  # fmt: skip
    group.add_argument("--context-tokens", type=int, default=1024,
                       help="token budget for prefix + suffix + other files; text farthest from the cursor "
                       "is dropped in whole lines (default: 1024)")  # fmt: skip
    group.add_argument("--threads", type=int, default=None, help="CPU threads for torch (default: all cores)")
    group.add_argument("--prompt-cache-mb", type=float, default=DEFAULT_PROMPT_CACHE_MB,
                       help="memory for the KV caches of recent prompts, one per client or document, least recently "
                       f"used dropped first; 0 turns the cache off (default: {DEFAULT_PROMPT_CACHE_MB})")  # fmt: skip
    group.add_argument("--cache-reuse", type=int, default=DEFAULT_CACHE_REUSE, metavar="N",
                       help="after an edit, take runs of at least N tokens that the cached prompt had at another "
                       "position (the suffix after a keystroke) from the cache, keys turned to their new positions, "
                       "instead of reading them again; approximate (they attended to the old text), "
                       f"0 = off (default: {DEFAULT_CACHE_REUSE})")  # fmt: skip
    group.add_argument("--no-speculate", action="store_true",
                       help="switch off speculative decoding (drafts from the previous completion and the prompt, "
                       "checked by the model; greedy requests only)")  # fmt: skip
    group.add_argument("--no-reuse", action="store_true",
                       help="ask the model every time, even when the user has typed the start of the previous "
                       "completion (by default the rest of it is the answer, at once)")  # fmt: skip


def load_backend(args: argparse.Namespace):
    """An in-process backend built from `add_model_arguments` flags."""
    from engine.errors import EngineError
    from engine.remote import backend_from_spec

    if args.context_tokens <= 0:
        raise EngineError(f"--context-tokens must be positive, not {args.context_tokens}")
    if args.prompt_cache_mb < 0:
        raise EngineError(f"--prompt-cache-mb cannot be negative, not {args.prompt_cache_mb}")
    if args.cache_reuse < 0:
        raise EngineError(f"--cache-reuse cannot be negative, not {args.cache_reuse}")
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    return backend_from_spec("local", model=args.model, adapter=args.adapter, fim_format=args.fim_format,
                             dtype=args.dtype, context_tokens=args.context_tokens,
                             prompt_cache_mb=args.prompt_cache_mb, speculate=not args.no_speculate,
                             reuse=not args.no_reuse, cache_reuse=args.cache_reuse)  # fmt: skip


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
