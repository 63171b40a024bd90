"""Backends by kind: `KIND[=URL][,key=value...]` specs and the options each kind takes.

`backend_from_spec` builds any of them: the in-process engine (`local`), the
plain-`generate` baseline (`generate`) or a peer over HTTP (`engine.remote`).
The `--backend` flags (`cli.options`), the language server's `backend`
setting and `codegemma bench --compare` all come here.
"""

from __future__ import annotations

from typing import Any

from engine.backend import Backend
from engine.errors import EngineError
from engine.remote import LlamaCppBackend, OllamaBackend, OpenAIBackend, OurServerBackend
from engine.transport import READ_TIMEOUT_S

#: `--backend` kinds.
KINDS = ("local", "generate", "http", "llama.cpp", "openai", "ollama")
DEFAULT_URLS = {
    "http": "http://127.0.0.1:8012",
    "llama.cpp": "http://127.0.0.1:8080",
    "openai": "http://127.0.0.1:8000",
    "ollama": "http://127.0.0.1:11434",
}


def backend_from_spec(kind: str, url: str | None = None, **options: Any) -> Backend:
    """Build a backend by kind; `options` are the kind's keyword arguments.

    local: model, adapter, fim_format, dtype, context_tokens, prompt_cache_mb, speculate, reuse, cache_reuse;
    generate (the plain-`generate` baseline): model, adapter, fim_format, dtype, context_tokens; http/llama.cpp:
    api_key, timeout; openai: model, api_key, timeout; ollama: model, timeout.
    Options that are None are ignored, so argparse namespaces pass straight through.
    """
    options = {k: v for k, v in options.items() if v is not None}
    if kind in ("local", "generate"):
        if url:
            raise EngineError(f"the {kind} backend runs the model in this process; it takes no URL")
        from engine.defaults import CONTEXT_TOKENS, DTYPE
        from engine.local import DEFAULT_CACHE_REUSE, DEFAULT_PROMPT_CACHE_MB, LocalBackend
        from engine.loading import load_model

        context_tokens = int(options.pop("context_tokens", CONTEXT_TOKENS))
        if context_tokens <= 0:
            raise EngineError(f"context tokens must be positive, not {context_tokens}")
        known = {k: options[k] for k in ("adapter", "fim_format", "dtype") if k in options}
        known.setdefault("dtype", DTYPE)
        if kind == "generate":
            from engine.baseline import PlainGenerateBackend

            # The baseline is float32 unless a type is named, whatever the engine's `auto` picks.
            if known["dtype"] == "auto":
                known["dtype"] = "float32"
            return PlainGenerateBackend(load_model(options.get("model"), **known), context_tokens=context_tokens)
        lm = load_model(options.get("model"), **known)
        return LocalBackend(lm, context_tokens=context_tokens,
                            prompt_cache_mb=float(options.get("prompt_cache_mb", DEFAULT_PROMPT_CACHE_MB)),
                            speculate=_flag(options.get("speculate", True)),
                            reuse=_flag(options.get("reuse", True)),
                            cache_reuse=_cache_reuse(options.get("cache_reuse", DEFAULT_CACHE_REUSE)))  # fmt: skip
    if kind not in DEFAULT_URLS:
        raise EngineError(f"unknown backend {kind!r}; choose one of {', '.join(KINDS)}")
    url = url or DEFAULT_URLS[kind]
    timeout = float(options.get("timeout", READ_TIMEOUT_S))
    if kind == "http":
        return OurServerBackend(url, api_key=options.get("api_key"), timeout=timeout)
    if kind == "llama.cpp":
        return LlamaCppBackend(url, api_key=options.get("api_key"), timeout=timeout)
    if kind == "openai":
        return OpenAIBackend(url, model=options.get("model"), api_key=options.get("api_key"), timeout=timeout)
    return OllamaBackend(url, model=options.get("model", ""), timeout=timeout)


def _cache_reuse(value: Any) -> int:
    """A `cache_reuse` option: the shortest run reused at a shifted position, 0 for off."""
    try:
        n = int(value)
    except (TypeError, ValueError):
        raise EngineError(f"cache_reuse must be a whole number of tokens, not {value!r}") from None
    if n < 0:
        raise EngineError(f"cache_reuse cannot be negative, not {n}")
    return n


def _flag(value: Any) -> bool:
    """A boolean option that may come as text from a `--compare` spec."""
    if isinstance(value, str):
        if value.lower() not in ("1", "0", "true", "false", "yes", "no", "on", "off"):
            raise EngineError(f"expected true or false, not {value!r}")
        return value.lower() in ("1", "true", "yes", "on")
    return bool(value)


def parse_backend_spec(spec: str) -> tuple[str, str | None, dict[str, str]]:
    """`KIND[=URL][,key=value...]` (as in `--compare ollama=http://h:11434,model=codegemma:2b`)."""
    head, *pairs = spec.split(",")
    kind, _, url = head.partition("=")
    kind = kind.strip()
    if kind not in KINDS:
        raise EngineError(f"unknown backend {kind!r} in {head!r}; choose one of {', '.join(KINDS)}")
    options: dict[str, str] = {}
    for n, pair in enumerate(pairs, start=1):
        key, eq, value = pair.partition("=")
        if not eq or not key.strip():  # the part is not quoted: it may be a key (a secret) without its name
            raise EngineError(f"{head!r}: expected key=value after the URL, got part {n} without a name and '='")
        options[key.strip().replace("-", "_")] = value.strip()
    return kind, url.strip() or None, options
