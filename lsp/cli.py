"""Run the language server: inline completions and hints for any LSP editor.

  codegemma lsp                                         # stdio; bundled model, loaded on first use
  codegemma lsp --model google/codegemma-2b             # your CodeGemma weights
  codegemma lsp --backend http --url http://127.0.0.1:8012   # ask a running `codegemma serve`
  codegemma lsp --backend ollama --model codegemma:2b-code
  codegemma lsp --mode hint                             # guiding questions as comments, never code
  codegemma lsp --mode hint --hint-model google/codegemma-7b-it
  codegemma lsp --tcp --port 2087                       # for clients that connect over TCP
  codegemma lsp --feedback-log                          # keep a local log of suggestions' fates (codegemma feedback)

Editors start it over stdio (editors/vscode, editors/neovim). Every flag is
also a setting a client may send as `initializationOptions` or under
"codegemma" in `workspace/didChangeConfiguration` (same names, snake_case:
`max_tokens`, `hint_model`, ...); the client's value wins. Logs go to
standard error.
"""

from __future__ import annotations

import argparse
import logging
import os

from cli.options import add_backend_arguments, add_model_arguments
from lsp.errors import LspError
from lsp.protocol import BACKENDS, MODES, Settings

log = logging.getLogger(__name__)

#: Seconds exit waits for model calls to notice they were cancelled (one token or prefill chunk each).
EXIT_WAIT_S = 15.0

HELP = "run the language server (LSP over stdio or TCP): inline completions, hint mode"


def configure(parser: argparse.ArgumentParser) -> None:
    defaults = Settings()
    parser.add_argument("--tcp", action="store_true", help="listen on TCP instead of speaking over stdio")
    parser.add_argument("--host", default="127.0.0.1", help="address for --tcp (default: 127.0.0.1)")
    parser.add_argument("--port", type=int, default=2087, help="port for --tcp (default: 2087)")
    group = parser.add_argument_group("settings (clients may override each one)")
    add_backend_arguments(parser, kinds=BACKENDS, group=group, timeout=False)
    add_model_arguments(parser, settings=group, engine=False)
    group.add_argument("--max-tokens", type=int, default=defaults.max_tokens,
                       help=f"most tokens one completion may generate (default: {defaults.max_tokens})")  # fmt: skip
    group.add_argument("--mode", default=defaults.mode, choices=MODES,
                       help="complete: write code; hint: write a guiding question as a comment, never code "
                       "(default: complete)")  # fmt: skip
    group.add_argument("--hint-model",
                       help="instruct model for hints: HF id, directory or .gguf (default: the bundled model)")  # fmt: skip
    group.add_argument("--debounce-ms", type=int, default=defaults.debounce_ms,
                       help="wait this long before starting a request; a newer one in the meantime wins (default: 0, "
                       "the editor debounces)")  # fmt: skip
    group.add_argument("--no-prefetch", dest="prefetch", action="store_false",
                       help="do not read the prompt at the cursor into the backend's cache before the editor asks "
                       "(on open, typing pauses and cursor moves; default: on)")  # fmt: skip
    group.add_argument("--alternatives", type=int, default=defaults.alternatives,
                       help="on a manual trigger, up to this many distinct suggestions to cycle through (the first "
                       f"greedy, the others sampled with seeds 1, 2, ...; 1: only the greedy one; default: "
                       f"{defaults.alternatives})")  # fmt: skip
    group.add_argument("--feedback-log", action="store_true", default=defaults.feedback_log,
                       help="keep a local log of each suggestion shown and its fate (secrets removed, under the cache "
                       "directory, never sent anywhere); read it with `codegemma feedback stats|pairs` (default: off)")  # fmt: skip


def settings_from_args(args: argparse.Namespace) -> Settings:
    return Settings().updated({name: getattr(args, name, None) for name in Settings.names()})


def run(args: argparse.Namespace) -> int:
    from lsp.server import create_server
    from lsp.work import join_workers

    settings = settings_from_args(args)
    if args.tcp and not 0 < args.port < 65536:
        raise LspError(f"--port must be between 1 and 65535, not {args.port}")
    if args.threads is not None and args.threads <= 0:
        raise LspError(f"--threads must be positive, not {args.threads}")
    if logging.getLogger().getEffectiveLevel() > logging.DEBUG:
        # pygls logs every message body at INFO: whole documents, on every keystroke.
        logging.getLogger("pygls").setLevel(logging.WARNING)
    server = create_server(settings, dtype=args.dtype, threads=args.threads)
    try:
        if args.tcp:
            server.start_tcp(args.host, args.port)
        else:
            server.start_io()
    finally:
        server.inflight.cancel_all()
        if not join_workers(EXIT_WAIT_S):
            # Only a model load can still run; exiting under it would abort inside torch.
            log.warning("a model is still loading; exiting without waiting for it")
            logging.shutdown()
            os._exit(0)
    return 0
