"""Fuzz the HTTP server with schemathesis, from the server's own OpenAPI document (issue #12).

  python -m evals.fuzz_http                     # about 3000 cases, every operation; minutes
  python -m evals.fuzz_http --cases 300         # the quick version the tests run
  python -m evals.fuzz_http --json fuzz.json    # the figures as JSON too

Starts `codegemma serve` on the tiny random model (evals/tiny_model.py, built once into the cache, so
thousands of requests take minutes, not hours) and runs `st run` against `/openapi.json`: every
operation, valid and invalid inputs (examples, coverage and fuzzing phases), every schemathesis check.
Each request and answer is read back from schemathesis's HAR report and counted:

- 5xx other than 503 (a 503 is the server refusing load, which it may),
- refusals not shaped `{"error": {"message", "type", "param", "code"}}`,
- 400s for a bad field that do not name it (`param` empty when the body itself was fine),
- hangs (requests schemathesis gave up on after `--request-timeout`),

and the server must still answer `/health` with status ok and no request pending afterwards.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from collections import Counter
from evals.results import print_figures
from dataclasses import dataclass, field
from pathlib import Path

from evals.errors import EvalError
from evals.server_process import serve

#: The routes in the document (GET /health, GET /v1/models, POST /v1/completions, POST /infill).
OPERATIONS = 4
#: Small budgets keep each completion on the tiny model to milliseconds; the limits are what is fuzzed.
SERVER_FLAGS = ("--context-tokens", "256", "--max-tokens", "8")
ERROR_KEYS = {"message", "type", "param", "code"}


@dataclass
class FuzzReport:
    cases: int = 0
    statuses: dict[str, int] = field(default_factory=dict)
    server_errors: int = 0
    unshaped_errors: int = 0
    unnamed_fields: int = 0
    hangs: int = 0
    healthy_after: bool = False
    pending_after: int | None = None
    #: schemathesis's own findings (check title -> count), including schema conformance.
    check_failures: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    #: A few offending requests and answers, to reproduce.
    examples: list[str] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        return not (self.server_errors or self.unshaped_errors or self.unnamed_fields or self.hangs) and (
            self.healthy_after and self.pending_after == 0
        )


def judge_answer(status: int, body: str) -> str | None:
    """Why an answer breaks the server's promises, or None."""
    if status >= 500 and status != 503:
        return "server error"
    if status < 400:
        return None
    try:
        error = json.loads(body)["error"]
    except (ValueError, KeyError, TypeError):
        return "refusal not shaped {error: ...}"
    if not isinstance(error, dict) or set(error) != ERROR_KEYS:
        return "refusal not shaped {error: ...}"
    body_level = str(error["message"]).startswith("the request body")  # invalid JSON/UTF-8, not an object
    if status == 400 and not error["param"] and not body_level:
        return "400 that names no field"
    return None


def read_har(path: Path, report: FuzzReport) -> None:
    entries = json.loads(path.read_text())["log"]["entries"]
    statuses: Counter[str] = Counter()
    for entry in entries:
        status = entry["response"]["status"]
        statuses[str(status)] += 1
        problem = judge_answer(status, entry["response"].get("content", {}).get("text", ""))
        if problem is None:
            continue
        if problem == "server error":
            report.server_errors += 1
        elif problem == "400 that names no field":
            report.unnamed_fields += 1
        else:
            report.unshaped_errors += 1
        if len(report.examples) < 5:
            request = entry["request"]
            sent = request.get("postData", {}).get("text", "")[:300]
            answer = entry["response"].get("content", {}).get("text", "")[:300]
            report.examples.append(f"{problem}: {request['method']} {request['url']} {sent} -> {status} {answer}")
    report.cases = len(entries)
    report.statuses = dict(sorted(statuses.items()))


def read_json_report(path: Path, report: FuzzReport) -> None:
    run = json.loads(path.read_text())
    report.check_failures = {f["title"]: f["count"] for f in run.get("failures", [])}
    for error in run.get("errors", []):
        text = json.dumps(error).lower()
        if "timeout" in text or "timed out" in text:
            report.hangs += 1
        else:
            report.check_failures[f"error: {str(error)[:120]}"] = report.check_failures.get("error", 0) + 1


def fuzz(cases: int = 3000, *, seed: int = 1, workers: int = 2, request_timeout: float = 60.0,
         model: Path | None = None) -> FuzzReport:  # fmt: skip
    """Run schemathesis against a fresh server on the tiny model; the figures."""
    from engine.bundled import cache_root
    from evals.tiny_model import build_tiny_model

    model = model or build_tiny_model(cache_root() / "tiny-random-qwen2")
    report = FuzzReport()
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="fuzz-http-") as out, serve(model, *SERVER_FLAGS) as server:
        out_dir = Path(out)
        command = [
            sys.executable, "-m", "schemathesis.cli", "run", f"{server.url}/openapi.json",
            "--checks", "all", "--mode", "all", "--phases", "examples,coverage,fuzzing",
            "--max-examples", str(max(1, cases // OPERATIONS)), "--seed", str(seed), "--workers", str(workers),
            # A slow answer on a shared CPU is no hang: only a request that times out counts as one.
            "--request-timeout", str(request_timeout), "--max-response-time", str(request_timeout),
            "--continue-on-failure", "--no-color",
            "--generation-database", "none", "--suppress-health-check", "all",
            "--report", "har,json", "--report-har-path", str(out_dir / "run.har"),
            "--report-json-path", str(out_dir / "run.json"),
        ]  # fmt: skip
        finished = subprocess.run(command, capture_output=True, text=True)
        if not (out_dir / "run.har").exists():
            raise EvalError(f"schemathesis did not run:\n{finished.stdout[-3000:]}\n{finished.stderr[-3000:]}")
        read_har(out_dir / "run.har", report)
        read_json_report(out_dir / "run.json", report)
        # schemathesis prints each finding: its check, the answer, and a curl line to reproduce it.
        findings = finished.stdout.split("FAILURES", 1)[-1].split("SUMMARY", 1)[0] if report.check_failures else ""
        report.examples += [block.strip()[:1500] for block in findings.split("\n\n- ")[1:6]]
        try:
            health = server.health()
            report.healthy_after = health.get("status") == "ok"
            report.pending_after = health.get("pending")
        except Exception:  # noqa: BLE001 - a dead server is exactly what is being reported
            report.healthy_after = False
    report.seconds = round(time.monotonic() - started, 1)
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m evals.fuzz_http", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    parser.add_argument("--cases", type=int, default=3000, help="cases to aim for, over all operations (default: 3000)")
    parser.add_argument("--seed", type=int, default=1, help="schemathesis seed, for a reproducible run (default: 1)")
    parser.add_argument("--workers", type=int, default=2, help="concurrent schemathesis workers (default: 2)")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args(argv)
    report = fuzz(args.cases, seed=args.seed, workers=args.workers)
    return print_figures(report, args.json)


if __name__ == "__main__":
    sys.exit(main())
