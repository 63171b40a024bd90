"""`codegemma serve` as a child process on a local model, for the runs that hit the real server from outside.

The fuzz and overload runs (and their short versions in the tests) need what a user runs: the CLI, uvicorn,
the connection deadline, the worker threads. The child's log goes to a file (a pipe nobody reads would
fill up and stall it) and is returned when it has stopped.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import httpx

from evals.errors import EvalError


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class ServerProcess:
    url: str
    process: subprocess.Popen
    #: The child's stderr and stdout, filled in once it has stopped.
    log: str = field(default="")

    def health(self, timeout: float = 10.0) -> dict:
        return httpx.get(f"{self.url}/health", timeout=timeout).json()

    def rss_mb(self) -> float:
        """The child's resident memory now (VmRSS), in MiB."""
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        raise EvalError(f"no VmRSS for process {self.process.pid}")


@contextmanager
def serve(model: str | Path | None, *flags: str, log_level: str = "INFO",
          ready_timeout: float = 120.0) -> Iterator[ServerProcess]:  # fmt: skip
    """Run `codegemma serve --model MODEL FLAGS` (no MODEL: the bundled one) on a free loopback port until the block ends."""
    port = free_port()
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    chosen = ["--model", str(model)] if model is not None else []
    command = [sys.executable, "-m", "cli", "--log-level", log_level, "serve", *chosen, "--port", str(port), *flags]
    with tempfile.TemporaryFile("w+") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, text=True, env=env)
        server = ServerProcess(f"http://127.0.0.1:{port}", process)
        try:
            deadline = time.monotonic() + ready_timeout
            while True:
                if process.poll() is not None:
                    log.seek(0)
                    raise EvalError(f"the server exited early:\n{log.read()[-4000:]}")
                try:
                    if server.health(timeout=2).get("status") == "ok":
                        break
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline:
                    raise EvalError(f"the server was not ready within {ready_timeout:.0f} s")
                time.sleep(0.2)
            yield server
        finally:
            process.terminate()
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            log.seek(0)
            server.log = log.read()
