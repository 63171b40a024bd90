"""End to end: `codegemma serve` as a subprocess on the bundled model, asked like real clients ask."""

from __future__ import annotations

import json
import subprocess
import sys

import httpx
import pytest

from evals.server_process import serve
from tests.servers import free_port

SENTINELS = (
    "<|fim_prefix|>",
    "<|fim_suffix|>",
    "<|fim_middle|>",
    "<|file_sep|>",
    "<|endoftext|>",
    "<|im_end|>",
    "<|repo_name|>",
)

SNIPPET_PREFIX = '''import json


def load_config(path):
    """Read a JSON config file and return it as a dict."""
    with open(path) as f:
        '''
SNIPPET_SUFFIX = """


def save_config(path, config):
    with open(path, "w") as f:
        json.dump(config, f)
"""


@pytest.fixture(scope="module")
def served():
    with serve(None, ready_timeout=300) as server:  # the first start on a machine converts the model
        yield server.url
    assert "using the bundled model" in server.log and "--model google/codegemma-2b" in server.log


def assert_sane(text: str) -> None:
    assert text.strip(), "empty completion"
    assert not any(s in text for s in SENTINELS), text
    assert "def save_config" not in text, "repeated the code below the cursor"


@pytest.mark.model
def test_openai_client_gets_a_real_completion(served):
    r = httpx.post(
        f"{served}/v1/completions",
        json={"prompt": SNIPPET_PREFIX, "suffix": SNIPPET_SUFFIX, "max_tokens": 48},
        timeout=300,
    )
    assert r.status_code == 200
    choice = r.json()["choices"][0]
    assert_sane(choice["text"])
    assert choice["finish_reason"] in ("stop", "length")


@pytest.mark.model
def test_llama_vim_style_infill(served):
    body = {
        "input_prefix": SNIPPET_PREFIX.rsplit("\n", 1)[0] + "\n",
        "prompt": "        ",
        "input_suffix": SNIPPET_SUFFIX,
        "input_extra": [{"filename": "config_schema.py", "text": "REQUIRED = ('name', 'port')\n"}],
        "n_predict": 48,
        "n_indent": 8,
        "stop": [],
        "t_max_predict_ms": 5000,
    }
    r = httpx.post(f"{served}/infill", json=body, timeout=300)
    assert r.status_code == 200
    answer = r.json()
    assert_sane(answer["content"])
    assert answer["stop"] is True and answer["timings"]["predicted_n"] > 0


@pytest.mark.model
def test_streamed_completion_ends_cleanly(served):
    with httpx.stream(
        "POST",
        f"{served}/v1/completions",
        json={"prompt": SNIPPET_PREFIX, "suffix": SNIPPET_SUFFIX, "max_tokens": 32, "stream": True},
        timeout=300,
    ) as r:
        events = [line[6:] for line in r.iter_lines() if line.startswith("data: ")]
    assert events[-1] == "[DONE]"
    text = "".join(json.loads(e)["choices"][0]["text"] for e in events[:-1])
    assert_sane(text)


def test_refuses_public_bind_without_key():
    out = subprocess.run(
        [sys.executable, "-m", "cli", "serve", "--host", "0.0.0.0", "--port", str(free_port())],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 2
    assert "without an API key" in out.stderr and "Traceback" not in out.stderr


def test_bad_model_is_one_line_not_a_traceback(tmp_path):
    broken = tmp_path / "broken.gguf"
    broken.write_bytes(b"GGUF" + b"\0" * 64)
    out = subprocess.run(
        [sys.executable, "-m", "cli", "complete", str(tmp_path / "x.py"), "--line", "1", "--model", str(broken)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 2 and "Traceback" not in out.stderr
    (tmp_path / "x.py").write_text("x = 1\n")
    out = subprocess.run(
        [sys.executable, "-m", "cli", "complete", str(tmp_path / "x.py"), "--line", "1", "--model", str(broken)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 2 and "corrupt or truncated GGUF" in out.stderr and "Traceback" not in out.stderr
