"""Each shared default has one definition (engine.defaults) that every layer and flag reports."""

from __future__ import annotations

import importlib.metadata
import inspect

from cli.main import build_parser
from engine import defaults
from engine.backend import CompletionRequest
from lsp.backends import Backends
from lsp.protocol import MAX_TOKENS_LIMIT as LSP_LIMIT
from lsp.protocol import Settings
from lsp.server import CodegemmaServer
from server.protocol import MAX_TOKENS_LIMIT as SERVER_LIMIT
from server.service import ServiceLimits


def flag_default(verb: str, dest: str):
    parser, _ = build_parser()
    return parser.parse_args([verb, *(["x.py", "--line", "1"] if verb == "complete" else [])]).__dict__[dest]


def test_max_tokens():
    assert defaults.MAX_TOKENS == 64
    assert Settings().max_tokens == CompletionRequest(prefix="", suffix="").max_tokens == defaults.MAX_TOKENS
    assert ServiceLimits().default_max_tokens == defaults.MAX_TOKENS
    for verb in ("serve", "complete", "lsp"):
        assert flag_default(verb, "max_tokens") == defaults.MAX_TOKENS, verb


def test_context_tokens():
    assert Settings().context_tokens == defaults.CONTEXT_TOKENS == 1024
    for verb in ("serve", "complete", "lsp"):
        assert flag_default(verb, "context_tokens") == defaults.CONTEXT_TOKENS, verb


def test_the_token_cap_is_one_value():
    assert SERVER_LIMIT is LSP_LIMIT is defaults.MAX_TOKENS_LIMIT


def test_dtype_is_auto_in_every_layer():
    assert defaults.DTYPE == "auto"
    for verb in ("serve", "complete", "lsp"):
        assert flag_default(verb, "dtype") == defaults.DTYPE, verb
    assert Backends().dtype == defaults.DTYPE
    assert inspect.signature(CodegemmaServer.__init__).parameters["dtype"].default == defaults.DTYPE


def test_version_comes_from_the_package_metadata():
    from lsp import server
    from server.app import create_app
    from server.service import CompletionService

    assert defaults.VERSION == importlib.metadata.version("codegemma-fim")
    assert server.VERSION == defaults.VERSION
    assert create_app(CompletionService(lambda: None)).version == defaults.VERSION
