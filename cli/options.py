"""The flags every verb that runs a model shares, and the backends they describe.

`add_model_arguments` (which model, how to run it in this process) and
`add_backend_arguments` (or where else completions come from) declare them;
`load_backend` and `backend_from_args` build what they describe
(`engine.loading.set_threads` is the one place that sets torch's threads).
"""

from __future__ import annotations

import argparse
import os

from engine.auto_budget import AutoBudget, context_tokens_arg
from engine.backend import Backend
from engine.defaults import CONTEXT_TOKENS, DTYPE
from engine.errors import EngineError
from engine.loading import DTYPES, set_threads
from engine.prompt_cache import DEFAULT_CACHE_REUSE, DEFAULT_PROMPT_CACHE_MB
from engine.specs import DEFAULT_URLS, KINDS, backend_from_spec
from engine.transport import READ_TIMEOUT_S


#: What each `--backend` kind is, for the flag's help.
KIND_HELP = {
    "local": "this process, the model flags",
    "generate": "plain transformers generate in this process, the speed baseline",
    "http": "a `codegemma serve`",
    "llama.cpp": "/infill",
    "openai": "/v1/completions with suffix",
    "ollama": "/api/generate",
}


def add_model_arguments(parser: argparse.ArgumentParser, *, settings: argparse._ArgumentGroup | None = None,
                        engine: bool = True) -> None:  # fmt: skip
    """The flags every verb that runs a model shares.

    `settings`: the group that the choice of model goes into (the language server's client-overridable
    settings), else a "model" group with the rest. `engine`: also the in-process engine's cache,
    speculation and reuse flags (`load_backend` reads them).
    """
    group = parser.add_argument_group("model")
    chosen = settings or group
    chosen.add_argument(
        "--model",
        default=os.environ.get("CODEGEMMA_MODEL"),
        help="Hugging Face id (e.g. google/codegemma-2b), model directory, or .gguf file; for the openai and ollama "
        "backends, the served model's name. Default: the bundled Qwen2.5-Coder-0.5B-Instruct (no download). "
        "Env: CODEGEMMA_MODEL",
    )
    chosen.add_argument("--adapter", help="directory of a peft LoRA adapter to apply (e.g. from `codegemma train`)")
    chosen.add_argument(
        "--fim-format",
        help="force a FIM prompt format instead of detecting it from the tokenizer "
        "(codegemma, codegemma-spm, codegemma-spm-v2, qwen2.5-coder, starcoder2, deepseek-coder, codellama, ...)",
    )
    group.add_argument("--dtype", default=DTYPE, choices=DTYPES,
                       help="weight type: auto (int8 decode weights on CPUs with native bf16, else float32), "
                       "float32, bfloat16, float16, or int8 (a bf16 model with int8 weights for decode steps) "
                       f"(default: {DTYPE})")  # fmt: skip
    chosen.add_argument("--context-tokens", type=context_tokens_arg, default=CONTEXT_TOKENS, metavar="N|auto",
                        help="token budget for prefix + suffix + other files; text farthest from the cursor "
                        "is dropped in whole lines; auto (in-process models): the budget this machine's measured "
                        "prompt speed reads in 1000 ms, auto:MS for another target "
                        f"(default: {CONTEXT_TOKENS})")  # fmt: skip
    group.add_argument("--threads", type=int, default=None, help="CPU threads for torch (default: all cores)")
    if not engine:
        return
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
    if args.prompt_cache_mb < 0:
        raise EngineError(f"--prompt-cache-mb cannot be negative, not {args.prompt_cache_mb}")
    if args.cache_reuse < 0:
        raise EngineError(f"--cache-reuse cannot be negative, not {args.cache_reuse}")
    set_threads(args.threads)
    budget = args.context_tokens
    backend = backend_from_spec("local", model=args.model, adapter=args.adapter, fim_format=args.fim_format,
                                dtype=args.dtype, context_tokens=_start_tokens(budget),
                                prompt_cache_mb=args.prompt_cache_mb, speculate=not args.no_speculate,
                                reuse=not args.no_reuse, cache_reuse=args.cache_reuse)  # fmt: skip
    return _with_budget(backend, budget)


def _start_tokens(budget: int | AutoBudget) -> int:
    return budget.tokens if isinstance(budget, AutoBudget) else budget


def _with_budget(backend: Backend, budget: int | AutoBudget) -> Backend:
    """`backend`, its prompt budget following `budget` when that is `auto` (in-process backends only)."""
    if isinstance(budget, AutoBudget):
        if not hasattr(backend, "use_auto_budget"):
            backend.close()
            raise EngineError(f"--context-tokens auto needs an in-process model; {backend.name} has a fixed budget")
        backend.use_auto_budget(budget)
    return backend


def add_backend_arguments(parser: argparse.ArgumentParser, *, kinds: tuple[str, ...] = KINDS,
                          group: argparse._ArgumentGroup | None = None, timeout: bool = True) -> None:  # fmt: skip
    """`--backend` (one of `kinds`), `--url`, `--api-key` and (`timeout`) `--timeout`; use with
    `add_model_arguments`, whose `--model` names the served model for openai and ollama.
    """
    group = group or parser.add_argument_group("backend")
    group.add_argument("--backend", default="local", choices=kinds,
                       help="where completions come from: " + ", ".join(f"{k} ({KIND_HELP[k]})" for k in kinds)
                       + " (default: local)")  # fmt: skip
    group.add_argument("--url", help="server URL for remote backends (defaults: "
                       + ", ".join(f"{k} {v}" for k, v in DEFAULT_URLS.items() if k in kinds) + ")")  # fmt: skip
    group.add_argument("--api-key", default=os.environ.get("CODEGEMMA_API_KEY"),
                       help="bearer token for http, llama.cpp and openai servers (env: CODEGEMMA_API_KEY)")  # fmt: skip
    if timeout:
        group.add_argument("--timeout", type=float, default=READ_TIMEOUT_S,
                           help=f"seconds to wait for a server's next byte (default: {READ_TIMEOUT_S:.0f})")  # fmt: skip


def backend_from_args(args: argparse.Namespace) -> Backend:
    """The backend `add_backend_arguments` + `add_model_arguments` flags describe."""
    if args.backend in ("local", "generate"):
        set_threads(getattr(args, "threads", None))
        backend = backend_from_spec(args.backend, args.url, model=args.model, adapter=args.adapter,
                                    fim_format=args.fim_format, dtype=args.dtype,
                                    context_tokens=_start_tokens(args.context_tokens),
                                    prompt_cache_mb=getattr(args, "prompt_cache_mb", None),
                                    speculate=not getattr(args, "no_speculate", False),
                                    reuse=not getattr(args, "no_reuse", False),
                                    cache_reuse=getattr(args, "cache_reuse", None))  # fmt: skip
        return _with_budget(backend, args.context_tokens)
    for flag in ("adapter", "fim_format"):
        if getattr(args, flag, None):
            raise EngineError(f"--{flag.replace('_', '-')} only applies to --backend local")
    return backend_from_spec(args.backend, args.url, model=args.model, api_key=args.api_key, timeout=args.timeout)
