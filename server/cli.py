"""Start the HTTP completion server.

  codegemma serve                                   # bundled model on 127.0.0.1:8012
  codegemma serve --model google/codegemma-2b       # CodeGemma (your Hugging Face token)
  codegemma serve --model ./codegemma-2b.gguf --port 8080
  codegemma serve --host 0.0.0.0 --api-key "$KEY"   # reachable from other machines
  codegemma serve --engine llama.cpp=http://gpu:8080              # our FIM layer in front of llama-server
  codegemma serve --engine openai=http://gpu:8000,model=Qwen/Qwen2.5-Coder-7B   # ... or vLLM, SGLang

Port 8012 is llama.vim's default, so it works against this server unchanged.
The server answers at once; /health says "loading" until the model is ready.
"""

from __future__ import annotations

import argparse
import ipaddress
import logging
import os
import socket

from engine.defaults import MAX_TOKENS
from server.errors import ServerError

HELP = "run the HTTP completion server (OpenAI /v1/completions, llama.cpp /infill)"
DEFAULT_PORT = 8012

log = logging.getLogger(__name__)


def configure(parser: argparse.ArgumentParser) -> None:
    from cli.options import add_model_arguments

    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default: 127.0.0.1, this machine only)")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port (default: {DEFAULT_PORT})")
    parser.add_argument("--api-key", default=os.environ.get("CODEGEMMA_API_KEY"),
                        help="require 'Authorization: Bearer KEY' on completion routes (env: CODEGEMMA_API_KEY)")  # fmt: skip
    parser.add_argument("--insecure-no-key", action="store_true",
                        help="allow binding a non-loopback address without --api-key")  # fmt: skip
    parser.add_argument("--max-pending", type=int, default=8,
                        help="requests running or waiting at once; more get 503 (default: 8)")  # fmt: skip
    parser.add_argument("--max-input-chars", type=int, default=512 * 1024,
                        help="largest prefix + suffix + extra context accepted, in characters (default: 524288)")  # fmt: skip
    parser.add_argument("--max-tokens", type=int, default=MAX_TOKENS,
                        help=f"tokens to generate when a request does not say (default: {MAX_TOKENS})")  # fmt: skip
    parser.add_argument("--read-timeout", type=float, default=30.0,
                        help="seconds a client has to send a whole request; a stalled upload is cut off "
                        "(default: 30)")  # fmt: skip
    parser.add_argument("--cors-origin", action="append", default=[], metavar="ORIGIN",
                        help="let browser pages from ORIGIN (e.g. http://localhost:3000, or *) call the server; "
                        "repeatable (default: none, CORS off)")  # fmt: skip
    parser.add_argument("--engine", default="local", metavar="KIND[=URL][,key=value...]",
                        help="where the model runs: local (this process, the model flags below) or an upstream "
                        "server that takes raw prompts: llama.cpp=URL (its /completion) or openai=URL (/v1/completions: "
                        "vLLM, SGLang, llama.cpp, LM Studio); options fim_format, tokenizer (bundled, a directory or "
                        "tokenizer.json), model, api_key (the upstream's key; env CODEGEMMA_ENGINE_KEY), timeout, "
                        "context_tokens, reuse (default: local)")  # fmt: skip
    add_model_arguments(parser)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        try:
            return all(ipaddress.ip_address(info[4][0]).is_loopback for info in socket.getaddrinfo(host, None))
        except OSError:
            return False


def run(args: argparse.Namespace) -> int:
    import uvicorn

    from cli.options import load_backend
    from server.app import create_app
    from server.connection import uvicorn_config
    from server.service import CompletionService, ServiceLimits

    if not is_loopback(args.host) and not args.api_key and not args.insecure_no_key:
        raise ServerError(
            0,
            f"refusing to serve on {args.host} without an API key: anyone who can reach this machine could use it. "
            "Pass --api-key (or set CODEGEMMA_API_KEY), or --insecure-no-key if you really mean it",
        )
    for flag, value in (("--max-pending", args.max_pending), ("--max-input-chars", args.max_input_chars),
                        ("--max-tokens", args.max_tokens), ("--port", args.port),
                        ("--read-timeout", args.read_timeout)):  # fmt: skip
        if value <= 0:
            raise ServerError(0, f"{flag} must be positive, not {value}")
    limits = ServiceLimits(
        max_pending=args.max_pending, max_input_chars=args.max_input_chars, default_max_tokens=args.max_tokens
    )
    if args.engine == "local":
        service = CompletionService(lambda: load_backend(args), limits)
    else:
        from engine.auto_budget import AutoBudget
        from engine.errors import EngineError
        from engine.upstream import upstream_from_spec

        if isinstance(args.context_tokens, AutoBudget):
            raise EngineError("--context-tokens auto needs the in-process engine (--engine local); give a number")
        engine = upstream_from_spec(args.engine, fim_format=args.fim_format, context_tokens=args.context_tokens)
        service = CompletionService(lambda: engine, limits)
    app = create_app(service, api_key=args.api_key, cors_origins=args.cors_origin)
    service.start_loading()
    log.info("listening on http://%s:%d (health: /health)", args.host, args.port)
    config = uvicorn_config(app, args.host, args.port, read_timeout=args.read_timeout,
                            log_level=args.log_level.lower(), access_log=False)  # fmt: skip
    try:
        uvicorn.Server(config).run()
    finally:
        service.close()
    return 0
