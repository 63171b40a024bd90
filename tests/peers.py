"""A real llama.cpp `llama-server` serving the bundled GGUF, for tests of the upstream engines.

The binary comes from `../shared/peers/llama-server.sh` (`$LLAMA_PEER_DIR`, which `.ci/run` builds and
exports; else the script's default cache directory). Without it the tests are skipped here and fail in CI
(`CI=true`), where the peer must have been built. The server runs with `--metrics`, so a test can read how
many tokens it generated, and with `--api-key`, so every test also checks that our layer sends the key.
"""

from __future__ import annotations

import os
import re
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

PEER_VERSION = "0.3.36"
#: The upstream's own key; tests check it never shows up in our logs or answers.
UPSTREAM_KEY = "upstream-key-7f3a9c"
START_TIMEOUT_S = 120


def llama_server_binary() -> Path | None:
    directory = (
        os.environ.get("LLAMA_PEER_DIR") or Path.home() / ".cache" / "codegemma-peers" / f"llama.cpp-{PEER_VERSION}"
    )
    binary = Path(directory) / "llama-server"
    return binary if binary.is_file() and os.access(binary, os.X_OK) else None


@dataclass
class LlamaServer:
    url: str
    key: str
    process: subprocess.Popen

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}"}

    def metric(self, name: str) -> float:
        """A counter from `/metrics` (`tokens_predicted_total`, ...) once no slot is busy.

        A request our layer closed early is counted when the upstream notices, a moment after we answered.
        """
        assert self.idle_within(10), "llama-server is still busy"
        text = httpx.get(self.url + "/metrics", headers=self.headers, timeout=10).text
        found = re.search(rf"^llamacpp:{name} (\S+)$", text, re.M)
        assert found, f"no llamacpp:{name} in /metrics"
        return float(found.group(1))

    def busy(self) -> bool:
        slots = httpx.get(self.url + "/slots", headers=self.headers, timeout=10).json()
        return any(slot["is_processing"] for slot in slots)

    def idle_within(self, seconds: float) -> bool:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if not self.busy():
                return True
            time.sleep(0.05)
        return False


def start_llama_server(gguf: Path, port: int, log: Path, extra: tuple[str, ...] = ()) -> LlamaServer:
    binary = llama_server_binary()
    if binary is None:
        reason = "llama-server is not built: run ../shared/peers/llama-server.sh (10-20 min once) or set LLAMA_PEER_DIR"
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    # --no-repack: the AMX-repacked weights crash this build at its first matmul (SIGSEGV in ldtilecfg,
    # ggml_backend_amx_mul_mat) on this session's Xeon; the plain CPU kernels serve the same model.
    command = [str(binary), "-m", str(gguf), "-c", "2048", "-t", "1", "-np", "2", "--port", str(port),
               "--host", "127.0.0.1", "--metrics", "--api-key", UPSTREAM_KEY, "--no-repack", *extra]  # fmt: skip
    with open(log, "wb") as sink:
        process = subprocess.Popen(command, stdout=sink, stderr=subprocess.STDOUT)
    server = LlamaServer(f"http://127.0.0.1:{port}", UPSTREAM_KEY, process)
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"llama-server exited with {process.returncode}: {log.read_text()[-2000:]}")
        try:
            if httpx.get(server.url + "/health", timeout=2).status_code == 200:
                return server
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    stop(server)
    pytest.fail(f"llama-server did not become healthy in {START_TIMEOUT_S} s: {log.read_text()[-2000:]}")


def stop(server: LlamaServer) -> None:
    server.process.terminate()
    try:
        server.process.wait(10)
    except subprocess.TimeoutExpired:
        server.process.kill()
        server.process.wait(10)
