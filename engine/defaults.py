"""Defaults more than one layer shares, each defined once.

The server, the language server, `codegemma complete` and the benchmarks read
these, so a request that says nothing gets the same answer everywhere.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

#: Tokens one completion generates when the request does not say.
MAX_TOKENS = 64
#: The most tokens one request may ask for (a typo such as 1e9 must not tie the model up).
MAX_TOKENS_LIMIT = 4096
#: Token budget for prefix + suffix + other files; text farthest from the cursor is dropped first.
CONTEXT_TOKENS = 1024
#: Weight type of in-process models (`engine.loading.DTYPES`): auto picks per CPU.
DTYPE = "auto"

try:
    #: The installed package's version (pyproject.toml), as the server and the language server report it.
    VERSION = version("codegemma-fim")
except PackageNotFoundError:  # run from a checkout that was never installed
    VERSION = "0+unknown"
