"""What does the language server add to a completion's latency? Measured against the bare backend call.

The same completions are asked two ways, alternating request by request
(who goes first rotates, so machine noise lands on both alike):

- through `codegemma lsp` (a subprocess over stdio, as an editor runs it):
  didOpen once, then `textDocument/inlineCompletion` at a cursor, timed at
  the client from sending the request to reading the answer;
- by calling `LocalBackend.complete` in this process on exactly the prompt
  the server built (fetched with `codegemma/prompt`), in a worker thread as
  the server does, timed around the call.

Both hold the same model (greedy, same `max_tokens`) and reuse their prompt
cache the same way. Overhead = LSP round trip - bare call, per request; the
medians and the ratio are reported, plus the server's own view (its request
latency minus its backend call, from `codegemma/stats`).

  python -m evals.lsp_latency --file fim/budget.py --requests 10 --max-tokens 8 --context-tokens 256
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from pathlib import Path

from lsprotocol import types

from engine.defaults import CONTEXT_TOKENS


def cursor_points(text: str, count: int) -> list[types.Position]:
    """Ends of `count` non-blank lines spread over the file (skipping the first few)."""
    lines = text.split("\n")
    candidates = [i for i, line in enumerate(lines) if line.strip() and i >= 5]
    step = max(1, len(candidates) // count)
    return [types.Position(i, len(lines[i])) for i in candidates[::step][:count]]


async def measure(path: Path, requests: int, max_tokens: int, context_tokens: int) -> dict:
    from pygls.lsp.client import LanguageClient

    from engine.backend import CompletionRequest
    from engine.local import LocalBackend
    from engine.loading import load_model
    from fim.prompt import ContextFile
    from lsp.protocol import PROMPT_METHOD, STATS_METHOD, plain_json
    from lsp.work import in_thread

    text = path.read_text(encoding="utf-8")
    uri = path.resolve().as_uri()
    client = LanguageClient("lsp-latency", "1")
    await client.start_io(sys.executable, "-m", "cli", "--log-level", "WARNING", "lsp",
                          "--max-tokens", str(max_tokens), "--context-tokens", str(context_tokens))  # fmt: skip
    await client.initialize_async(types.InitializeParams(capabilities=types.ClientCapabilities()))
    client.initialized(types.InitializedParams())
    client.text_document_did_open(types.DidOpenTextDocumentParams(types.TextDocumentItem(uri, "python", 1, text)))
    bare = LocalBackend(load_model(None, dtype="auto"), context_tokens=context_tokens)  # as `codegemma lsp` loads it

    async def via_lsp(position: types.Position) -> tuple[float, str]:
        params = types.InlineCompletionParams(
            context=types.InlineCompletionContext(types.InlineCompletionTriggerKind.Invoked),
            text_document=types.TextDocumentIdentifier(uri), position=position)  # fmt: skip
        started = time.perf_counter()
        result = await client.text_document_inline_completion_async(params)
        elapsed = (time.perf_counter() - started) * 1000
        return elapsed, (result.items[0].insert_text if result and result.items else "")

    async def via_backend(position: types.Position) -> tuple[float, str]:
        where = {"textDocument": {"uri": uri}, "position": {"line": position.line, "character": position.character}}
        view = plain_json(await client.protocol.send_request_async(PROMPT_METHOD, where))
        request = CompletionRequest(prefix=view["prefix"], suffix=view["suffix"], path=view["path"],
                                    context=tuple(ContextFile(c["path"], c["content"]) for c in view["context"]),
                                    language=view["language"], max_tokens=max_tokens, cache_key=uri)  # fmt: skip
        started = time.perf_counter()
        # In a fresh worker thread, as the server runs it: on this machine a torch call on the main
        # thread ran about 3x slower than the same call in a new thread (see the README).
        completion = await in_thread(bare.complete, request)
        return (time.perf_counter() - started) * 1000, completion.text

    points = cursor_points(text, requests + 1)
    # Warm-up (not counted): the server loads its model on the first request.
    await via_lsp(points[0])
    await via_backend(points[0])
    rows = []
    for i, position in enumerate(points[1:]):
        if i % 2 == 0:
            lsp_ms, lsp_text = await via_lsp(position)
            bare_ms, bare_text = await via_backend(position)
        else:
            bare_ms, bare_text = await via_backend(position)
            lsp_ms, lsp_text = await via_lsp(position)
        rows.append({"line": position.line + 1, "lsp_ms": round(lsp_ms, 1), "bare_ms": round(bare_ms, 1),
                     "overhead_ms": round(lsp_ms - bare_ms, 1), "same_text": lsp_text == bare_text})  # fmt: skip
        print(json.dumps(rows[-1]), file=sys.stderr)
    server_stats = plain_json(await client.protocol.send_request_async(STATS_METHOD, None))
    await client.shutdown_async(None)
    client.exit(None)
    await client.stop()
    lsp_median = statistics.median(r["lsp_ms"] for r in rows)
    bare_median = statistics.median(r["bare_ms"] for r in rows)
    return {
        "file": str(path),
        "requests": len(rows),
        "max_tokens": max_tokens,
        "context_tokens": context_tokens,
        "median_lsp_ms": round(lsp_median, 1),
        "median_bare_backend_ms": round(bare_median, 1),
        "median_overhead_ms": round(statistics.median(r["overhead_ms"] for r in rows), 1),
        "ratio_lsp_over_bare": round(lsp_median / bare_median, 3),
        "same_text": sum(r["same_text"] for r in rows),
        "server_view": {k: server_stats[k] for k in ("median_latency_ms", "median_backend_ms")},
        "rows": rows,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m evals.lsp_latency", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    parser.add_argument("--file", type=Path, default=Path("fim/budget.py"),
                        help="file to complete in (default: fim/budget.py)")  # fmt: skip
    parser.add_argument("--requests", type=int, default=10, help="measured requests (default: 10)")
    parser.add_argument("--max-tokens", type=int, default=16, help="tokens per completion (default: 16)")
    parser.add_argument("--context-tokens", type=int, default=CONTEXT_TOKENS,
                        help=f"prompt budget, both ways (default: {CONTEXT_TOKENS})")  # fmt: skip
    parser.add_argument("--out", type=Path, help="also write the result as JSON here")
    args = parser.parse_args(argv)
    if not args.file.is_file():
        parser.error(f"no such file: {args.file}")
    result = asyncio.run(measure(args.file, args.requests, args.max_tokens, args.context_tokens))
    if args.out:
        tmp = args.out.with_suffix(".tmp")
        tmp.write_text(json.dumps(result, indent=2) + "\n")
        tmp.replace(args.out)
    json.dump({k: v for k, v in result.items() if k != "rows"}, sys.stdout, indent=2)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
