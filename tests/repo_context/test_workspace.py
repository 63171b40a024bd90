"""The workspace index: incremental passes, editor overlays, and requests that never wait for it."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from repo_context import workspace as workspace_module
from repo_context.assemble import gather
from repo_context.workspace import Workspace


def write(root: Path, name: str, text: str) -> None:
    (root / name).parent.mkdir(parents=True, exist_ok=True)
    (root / name).write_text(text)


def test_a_pass_reparses_only_changed_files(tmp_path: Path):
    write(tmp_path, "a.py", "def alpha():\n    return 1\n")
    write(tmp_path, "b.py", "from a import alpha\n")
    ws = Workspace(tmp_path)
    first = ws.refresh()
    assert ws.parsed == 2 and "alpha" in first.by_name
    assert ws.refresh() is first  # nothing changed: the same snapshot, nothing parsed
    assert ws.parsed == 2
    write(tmp_path, "a.py", "def beta():\n    return 2\n")
    second = ws.refresh()
    assert ws.parsed == 3 and "beta" in second.by_name and "alpha" not in second.by_name
    assert second.files["b.py"] is first.files["b.py"]


def test_editor_text_wins_over_the_saved_file(tmp_path: Path):
    write(tmp_path, "a.py", "def alpha():\n    pass\n")
    ws = Workspace(tmp_path)
    ws.update(tmp_path / "a.py", "def gamma():\n    pass\n")
    ws.update(tmp_path / "new.py", "def unsaved():\n    pass\n")
    ws.update("/elsewhere/x.py", "def outside():\n    pass\n")  # not in the workspace: ignored
    snapshot = ws.refresh()
    assert {"gamma", "unsaved"} <= set(snapshot.by_name) and not {"alpha", "outside"} & set(snapshot.by_name)


def test_requests_use_whatever_index_exists_while_a_pass_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    for i in range(3):
        write(tmp_path, f"m{i}.py", f"def f{i}():\n    return {i}\n")
    gate = threading.Event()
    real = workspace_module.index_file

    def slow_index(path, text, language):
        gate.wait(10)
        return real(path, text, language)

    monkeypatch.setattr(workspace_module, "index_file", slow_index)
    ws = Workspace(tmp_path, poll_seconds=0.05).start()
    try:
        started = time.perf_counter()
        out = gather(ws.snapshot, "m0.py", "x = f1(", ")\n", 200, len)
        assert out == () and time.perf_counter() - started < 0.5  # empty index, no waiting
        assert not ws.wait_ready(0.1)
        gate.set()
        assert ws.wait_ready(10)
        ws.update(tmp_path / "m3.py", "def later():\n    pass\n")
        deadline = time.time() + 10
        while "later" not in ws.snapshot.by_name and time.time() < deadline:
            time.sleep(0.02)
        assert "later" in ws.snapshot.by_name  # an edit is indexed without waiting for the poll
        assert "f1" in ws.snapshot.by_name
    finally:
        ws.stop()


def test_a_missing_workspace_is_a_clear_error(tmp_path: Path):
    with pytest.raises(NotADirectoryError, match="is not a directory"):
        Workspace(tmp_path / "nope")
