"""RepoContext for one process, and `codegemma complete --workspace` end to end on the tiny model."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

from repo_context.service import RepoContext

LIB = "def scale_vector(values, factor):\n    return [v * factor for v in values]\n"
APP = "from lib import scale_vector\n\n\ndef main(xs):\n    doubled = \n    return doubled\n"


def workspace(root: Path) -> Path:
    (root / "lib.py").write_text(LIB)
    (root / "app.py").write_text(APP)
    return root


def test_context_for_an_absolute_path_shows_the_definition_and_logs_its_time(tmp_path, caplog):
    repo = RepoContext(workspace(tmp_path), 1024, background=False)
    prefix = APP[: APP.index("doubled = ") + len("doubled = ")]
    with caplog.at_level(logging.INFO, logger="repo_context.service"):
        out = repo.context_for(str(tmp_path / "app.py"), prefix + "scale_vector(", APP[len(prefix) :], request_id="r1")
    assert [c.path for c in out][-1] == "lib.py" and "def scale_vector(values, factor)" in out[-1].content
    assert any(r.message.startswith("r1: repository context") and " ms " in r.message for r in caplog.records)


def test_complete_with_a_workspace(tmp_path, tiny_model_dir):
    root = workspace(tmp_path)
    out = subprocess.run(
        [sys.executable, "-m", "cli", "complete", str(root / "app.py"), "--line", "5", "--max-tokens", "4",
         "--model", str(tiny_model_dir), "--workspace", str(root)],
        capture_output=True, text=True, timeout=600, env={**os.environ, "HF_HUB_OFFLINE": "1"},
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert "repository context 1 snippets" in out.stderr
    bad = subprocess.run([sys.executable, "-m", "cli", "complete", str(root / "app.py"), "--line", "5",
                          "--workspace", str(root / "missing")], capture_output=True, text=True, timeout=600)  # fmt: skip
    assert bad.returncode != 0 and "is not a directory" in bad.stderr and "Traceback" not in bad.stderr
