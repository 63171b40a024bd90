"""Fuzz `codegemma lsp` over raw stdio: broken frames, wrong types, hostile text; it must answer and keep serving.

One server runs against a scripted backend (`evals.scripted_backend`, so a
completion costs milliseconds and a slow one can be made on purpose). Each
case sends a seeded random burst of one class:

  header     a header block without a usable Content-Length, junk lines
  length     a valid request whose Content-Length is too small or too large
  body       a frame whose body is not JSON, or is JSON but not a message
  types      a known method with a field of the wrong type, negative positions, params that are not an object
  unknown    requests and notifications of methods nobody defined
  position   positions far past the end of a document
  surrogate  documents, edits and URIs with lone UTF-16 surrogates
  unopened   edits, closes and completions of documents never opened
  cancel     `$/cancelRequest` of unknown ids, and of a running completion
  valid      ordinary opens, edits and completions (the server must stay correct under the rest)

plus, once per run, a 10 MB document (opened, completed in, closed) and, at
the end, requests after `shutdown`. After every case a probe request must be
answered within `--probe-timeout`; then every request of the case that had a
readable id must have exactly one answer. Every `--loop-check` cases a slow
generation (seconds) is started and `codegemma/stats` requests are timed
while it runs: the event loop must answer each in under 100 ms.

Counted: cases, crashes (the process died), hangs (no probe answer; the
server is restarted), lost answers, duplicate answers, internal errors
(-32603 answers, the analogue of HTTP 5xx), "Error in server" popups, and
the slowest answer during a generation.

  python -m evals.fuzz_lsp --cases 5000 --seed 1
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import string
import sys
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Callable

from evals.lsp_wire import WireClient, frame
from evals.scripted_backend import ScriptedBackend

ROOT = "file:///work/space"
#: Marker in a document that makes the scripted backend generate slowly.
SLOW = "# slow generation\n"
LOOP_BOUND_MS = 100.0
JUNK = [None, True, -1, -3, 1.5, 2**31, 2**40, "", "x", "\ud800", [], [1, 2], {}, {"uri": 5}]
METHODS = ["textDocument/inlineCompletion", "textDocument/completion", "codegemma/prompt", "codegemma/stats"]
TEXTS = ["def f(x):\n    return x\n", "import util\n\nvalue = util.", "héllo = '😀 wörld'\r\nprint(héllo)\n",
         "", "\n\n\n", "x = '\ud800'\n", "class A:\n    def m(self):\n        pass\n"]  # fmt: skip


@dataclass
class Report:
    cases: int = 0
    seconds: float = 0.0
    by_class: dict[str, int] = field(default_factory=dict)
    crashes: int = 0
    hangs: int = 0
    lost: int = 0
    duplicates: int = 0
    internal_errors: int = 0
    error_popups: int = 0
    loop_checks: int = 0
    #: Answers slower than LOOP_BOUND_MS while a generation ran, and the slowest and median of them all.
    loop_slow: int = 0
    loop_max_ms: float = 0.0
    loop_median_ms: float = 0.0
    after_shutdown_ok: bool = False
    failures: list[str] = field(default_factory=list)

    def ok(self) -> bool:
        return not (self.crashes or self.hangs or self.lost or self.duplicates or self.internal_errors
                    or self.error_popups or self.loop_slow or not self.after_shutdown_ok)  # fmt: skip


class Fuzzer:
    def __init__(self, seed: int, probe_timeout: float = 10.0, answer_timeout: float = 20.0) -> None:
        self.rng = random.Random(seed)
        self.probe_timeout = probe_timeout
        self.answer_timeout = answer_timeout
        self.report = Report()
        self.backend = ScriptedBackend("value\n", chunks=30, chunk_delay=0.1, slow_marker=SLOW).start()
        self.client: WireClient | None = None
        self.opened: dict[str, str] = {}
        self._loop_ms: list[float] = []
        self._start()

    # --- the server ------------------------------------------------------------------

    def _start(self) -> None:
        self.client = WireClient("--backend", "http", "--url", self.backend.url)
        self.client.initialize()
        self.opened = {}
        for i, text in enumerate(TEXTS[:3]):
            self._open(f"{ROOT}/seed{i}.py", text)

    def _restart(self, why: str) -> None:
        self.report.failures.append(why)
        assert self.client is not None
        self.client.process.kill()
        self.client.close(timeout=5)
        self._start()

    def _open(self, uri: str, text: str, language: str = "python") -> None:
        self.client.open(uri, text, language)
        self.opened[uri] = text

    # --- one case ----------------------------------------------------------------------

    def run_case(self, kind: str) -> None:
        """Send one burst of `kind`; count what went wrong."""
        client = self.client
        assert client is not None
        popups_before = len(client.popups())
        expected: list[Any] = []
        CASES[kind](self, expected)
        self.report.cases += 1
        self.report.by_class[kind] = self.report.by_class.get(kind, 0) + 1
        probe = client.request("codegemma/stats", {})
        if client.wait(probe, self.probe_timeout) is None:
            if not client.alive:
                self.report.crashes += 1
                self._restart(f"case {self.report.cases} ({kind}): the server died (exit {client.process.returncode})")
            else:
                self.report.hangs += 1
                self._restart(f"case {self.report.cases} ({kind}): no answer to a probe in {self.probe_timeout} s")
            return
        deadline = time.monotonic() + self.answer_timeout
        for msg_id in expected:
            answer = client.wait(msg_id, max(0.0, deadline - time.monotonic()))
            answers = client.responses.get(msg_id, [])
            if answer is None:
                self.report.lost += 1
                self.report.failures.append(f"case {self.report.cases} ({kind}): no answer to id {msg_id!r}")
            elif len(answers) > 1:
                self.report.duplicates += 1
                self.report.failures.append(f"case {self.report.cases} ({kind}): {len(answers)} answers to {msg_id!r}")
            for a in answers:
                if a.get("error", {}).get("code") == -32603:
                    self.report.internal_errors += 1
                    self.report.failures.append(f"case {self.report.cases} ({kind}): {a['error']['message'][:200]}")
        popups = [p for p in client.popups()[popups_before:] if p.startswith("Error in server")]
        self.report.error_popups += len(popups)
        self.report.failures += [f"case {self.report.cases} ({kind}): popup {p[:200]}" for p in popups]
        client.responses.clear()
        del client.notifications[:]

    # --- building blocks -----------------------------------------------------------------

    def uri(self) -> str:
        return self.rng.choice(list(self.opened)) if self.opened else f"{ROOT}/none.py"

    def position(self, far: bool = False) -> dict[str, int]:
        if far:
            return {"line": self.rng.choice([0, 10**6, 2**31 - 1]), "character": self.rng.choice([10**6, 2**31 - 1])}
        return {"line": self.rng.randrange(6), "character": self.rng.randrange(30)}

    def params(self, method: str, uri: str | None = None, far: bool = False) -> dict[str, Any]:
        params: dict[str, Any] = {"textDocument": {"uri": uri or self.uri()}, "position": self.position(far)}
        if method == "textDocument/inlineCompletion":
            params["context"] = {"triggerKind": self.rng.choice([1, 2])}
        return {} if method == "codegemma/stats" else params

    def request(self, expected: list, method: str, params: Any, raw: Callable[[bytes], bytes] | None = None) -> None:
        """Send a request (through `raw`, which may break its frame) and expect one answer to it."""
        msg_id = self.rng.choice([self.rng.randrange(10**9), f"s{self.rng.randrange(10**9)}"])
        body = frame({"jsonrpc": "2.0", "id": msg_id, "method": method, "params": params})
        self.client.send_bytes(raw(body) if raw else body)
        expected.append(msg_id)

    def text(self) -> str:
        pieces = [self.rng.choice(TEXTS), "".join(self.rng.choices(string.printable + "é😀\ud800\udfff", k=20))]
        return "".join(self.rng.sample(pieces, len(pieces)))

    def mutated(self, value: Any) -> Any:
        """`value` with one field (or the whole of it) replaced by a value of the wrong type."""
        if not isinstance(value, dict) or not value or self.rng.random() < 0.15:
            return self.rng.choice(JUNK)
        key = self.rng.choice(list(value))
        return {**value, key: self.mutated(value[key])}


# --- the case classes ------------------------------------------------------------------


def header_case(f: Fuzzer, expected: list) -> None:
    body = json.dumps({"jsonrpc": "2.0", "method": "codegemma/stats", "params": {}}).encode()
    f.client.send_bytes(f.rng.choice([
        b"Content-Length: abc\r\n\r\n" + body,
        b"Content-Type: application/vscode-jsonrpc\r\n\r\n" + body,
        b"Content-Length: -5\r\n\r\n" + body,
        b"Content-Length: 99999999999999999\r\n\r\n" + body,
        b"garbage without a colon\r\n" + body,
        b"\r\n\r\n\r\n",
        bytes(f.rng.randrange(256) for _ in range(f.rng.randrange(1, 200))),
    ]))  # fmt: skip


def length_case(f: Fuzzer, expected: list) -> None:
    method = f.rng.choice(METHODS)
    delta = f.rng.choice([-30, -5, -1, 1, 2, 40, 5000])

    def relabel(data: bytes) -> bytes:
        head, _, body = data.partition(b"\r\n\r\n")
        return b"Content-Length: %d\r\n\r\n" % max(0, len(body) + delta) + body

    f.request(expected, method, f.params(method), relabel)


def body_case(f: Fuzzer, expected: list) -> None:
    body = f.rng.choice([b"[]", b"42", b"null", b'"x"', b"{not json}", b"\xff\xfe\xfd", b'{"jsonrpc": "2.0", "id": 1',
                         b'{"jsonrpc": "1.0", "id": 5, "method": "codegemma/stats"}', b'{"id": 7}',
                         b'{"jsonrpc": "2.0", "id": 8, "method": 3}', b'[{"jsonrpc": "2.0", "id": 9, "method": "x"}]'])  # fmt: skip
    f.client.send_bytes(b"Content-Length: %d\r\n\r\n" % len(body) + body)


def types_case(f: Fuzzer, expected: list) -> None:
    method = f.rng.choice(METHODS + ["workspace/executeCommand", "initialize"])
    params = (
        f.params(method) if method in METHODS else {"command": "codegemma.hint", "arguments": [f.params(METHODS[2])]}
    )
    f.request(expected, method, f.mutated(params))
    notification = f.rng.choice(["textDocument/didOpen", "textDocument/didChange", "textDocument/didClose",
                                 "workspace/didChangeConfiguration", "$/cancelRequest", "initialized",
                                 "codegemma/cursor"])  # fmt: skip
    good = {"textDocument": {"uri": f.uri(), "version": 3, "text": "x", "languageId": "python"},
            "contentChanges": [{"text": "y"}], "settings": {"codegemma": {"max_tokens": 4}}, "id": 1}  # fmt: skip
    f.client.notify(notification, f.mutated(good))


def unknown_case(f: Fuzzer, expected: list) -> None:
    name = "".join(f.rng.choices(string.ascii_letters + "/$.", k=f.rng.randrange(1, 30)))
    f.request(expected, name, f.rng.choice([{}, [], None, {"a": 1}]))
    f.client.notify(name, {})


def position_case(f: Fuzzer, expected: list) -> None:
    method = f.rng.choice(METHODS[:3])
    f.request(expected, method, f.params(method, far=True))


def surrogate_case(f: Fuzzer, expected: list) -> None:
    uri = f"{ROOT}/s{f.rng.randrange(50)}" + f.rng.choice(["\ud800", "\udfff", "😀", ""]) + ".py"
    f._open(uri, f.text())
    change = {"range": {"start": f.position(), "end": f.position()}, "text": f.text()}
    f.client.notify("textDocument/didChange", {"textDocument": {"uri": uri, "version": 2}, "contentChanges": [change]})
    method = f.rng.choice(METHODS[:3])
    f.request(expected, method, f.params(method, uri))


def unopened_case(f: Fuzzer, expected: list) -> None:
    uri = f"{ROOT}/never{f.rng.randrange(10**6)}.py"
    f.client.notify("textDocument/didChange", {"textDocument": {"uri": uri, "version": 2},
                                               "contentChanges": [{"text": "x"}]})  # fmt: skip
    f.client.notify("textDocument/didClose", {"textDocument": {"uri": uri}})
    method = f.rng.choice(METHODS[:3])
    f.request(expected, method, f.params(method, uri))


def cancel_case(f: Fuzzer, expected: list) -> None:
    f.client.notify("$/cancelRequest", {"id": f.rng.choice([10**12, "nobody", -1])})
    method = f.rng.choice(METHODS[:2])
    msg_id = f"c{f.rng.randrange(10**9)}"
    f.client.request(method, f.params(method), msg_id=msg_id)
    f.client.notify("$/cancelRequest", {"id": msg_id})
    expected.append(msg_id)


def valid_case(f: Fuzzer, expected: list) -> None:
    action = f.rng.randrange(4)
    if action == 0 or len(f.opened) < 2:
        f._open(f"{ROOT}/v{f.rng.randrange(100)}.py", f.text())
    elif action == 1:
        uri = f.uri()
        change = {"range": {"start": f.position(), "end": f.position()}, "text": f.text()}
        f.client.notify("textDocument/didChange", {"textDocument": {"uri": uri, "version": 2},
                                                   "contentChanges": [change]})  # fmt: skip
    elif action == 2 and len(f.opened) > 3:
        uri = f.uri()
        f.client.notify("textDocument/didClose", {"textDocument": {"uri": uri}})
        del f.opened[uri]
    method = f.rng.choice(METHODS)
    f.request(expected, method, f.params(method))


def big_document_case(f: Fuzzer, expected: list) -> None:
    """A 10 MB document: opened, completed in at its end, closed."""
    line = "value = compute(value, 12345)  # a line of a generated file\n"
    text = "import util\n" + line * (10 * 2**20 // len(line))
    uri = f"{ROOT}/big.py"
    f._open(uri, text)
    f.request(expected, METHODS[0], {"textDocument": {"uri": uri}, "position": {"line": text.count("\n"), "character": 0},
                                     "context": {"triggerKind": 2}})  # fmt: skip
    f.client.notify("textDocument/didClose", {"textDocument": {"uri": uri}})
    del f.opened[uri]


CASES: dict[str, Callable[[Fuzzer, list], None]] = {
    "header": header_case, "length": length_case, "body": body_case, "types": types_case, "unknown": unknown_case,
    "position": position_case, "surrogate": surrogate_case, "unopened": unopened_case, "cancel": cancel_case,
    "valid": valid_case, "big": big_document_case,
}  # fmt: skip


# --- checks around the cases ---------------------------------------------------------------


def loop_check(f: Fuzzer, probes: int = 5) -> None:
    """Start a generation that takes seconds; time `codegemma/stats` while it runs."""
    uri = f"{ROOT}/slow.py"
    f._open(uri, SLOW + "def f():\n    return ")
    before = len(f.backend.requests)
    params = {"textDocument": {"uri": uri}, "position": {"line": 2, "character": 11}, "context": {"triggerKind": 2}}
    msg_id = f.client.request(METHODS[0], params)
    deadline = time.monotonic() + f.probe_timeout
    while len(f.backend.requests) == before and time.monotonic() < deadline:
        time.sleep(0.01)
    f.report.loop_checks += 1
    for _ in range(probes):
        started = time.perf_counter()
        answer = f.client.call("codegemma/stats", {}, timeout=f.probe_timeout)
        elapsed = (time.perf_counter() - started) * 1000
        if answer["result"]["running"] < 1:
            f.report.failures.append(f"loop check {f.report.loop_checks}: the generation ended before the probes")
            break
        f._loop_ms.append(elapsed)
        if elapsed > LOOP_BOUND_MS:
            f.report.loop_slow += 1
            f.report.failures.append(f"loop check {f.report.loop_checks}: stats answered in {elapsed:.0f} ms")
        time.sleep(0.05)
    f.client.notify("$/cancelRequest", {"id": msg_id})
    f.client.wait(msg_id, f.answer_timeout)
    f.client.responses.clear()


def after_shutdown(f: Fuzzer) -> None:
    """Requests after `shutdown` get InvalidRequest; `exit` then ends the process cleanly."""
    client = f.client
    ok = "result" in client.call("shutdown", timeout=f.probe_timeout)
    for method in METHODS:
        answer = client.call(method, f.params(method), timeout=f.probe_timeout)
        ok = ok and answer.get("error", {}).get("code") == -32600
    client.notify("exit")
    try:
        ok = ok and client.process.wait(timeout=30) == 0
    except Exception:  # subprocess.TimeoutExpired
        ok = False
    if not ok:
        f.report.failures.append("after shutdown: a request was not answered InvalidRequest, or exit was not clean")
    f.report.after_shutdown_ok = ok


def run(cases: int, seed: int, loop_every: int = 250, big: bool = True, probe_timeout: float = 10.0) -> Report:
    started = time.monotonic()
    fuzzer = Fuzzer(seed, probe_timeout)
    try:
        kinds = [k for k in CASES if k != "big"]
        for i in range(cases):
            fuzzer.run_case("big" if big and i == cases // 2 else fuzzer.rng.choice(kinds))
            if loop_every and i % loop_every == loop_every // 2:
                loop_check(fuzzer)
        after_shutdown(fuzzer)
    finally:
        fuzzer.client.close(timeout=5)
        fuzzer.backend.close()
    report = fuzzer.report
    report.seconds = round(time.monotonic() - started, 1)
    if fuzzer._loop_ms:
        report.loop_max_ms = round(max(fuzzer._loop_ms), 1)
        report.loop_median_ms = round(statistics.median(fuzzer._loop_ms), 1)
    return report


def table_row(report: Report, command: str) -> str:
    """The README "Reliability" row for this run."""
    return (f"| LSP fuzz, `{command}` | {report.cases} | {report.crashes} | {report.internal_errors} (-32603) | "
            f"{report.hangs} | {report.lost} | n/a |")  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m evals.fuzz_lsp", description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--loop-check", type=int, default=250, help="run the event-loop check every N cases (0: never)")
    parser.add_argument("--no-big", action="store_true", help="skip the 10 MB document")
    parser.add_argument(
        "--probe-timeout", type=float, default=10.0, help="seconds a probe may take before it is a hang"
    )
    parser.add_argument("--out", help="write the report as JSON here")
    args = parser.parse_args(argv)
    if args.cases < 1:
        parser.error("--cases must be at least 1")
    report = run(args.cases, args.seed, args.loop_check, big=not args.no_big, probe_timeout=args.probe_timeout)
    data = asdict(report)
    text = json.dumps(data, indent=2, ensure_ascii=False)
    if args.out:
        with open(args.out, "w", encoding="utf-8") as out:
            out.write(text + "\n")
    print(text)
    print(table_row(report, f"python -m evals.fuzz_lsp --cases {args.cases} --seed {args.seed}"))
    return 0 if report.ok() else 1


if __name__ == "__main__":
    sys.exit(main())
