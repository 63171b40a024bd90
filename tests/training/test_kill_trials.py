"""`kill -9` of the real `codegemma pack` and `train` while they write, then the same command again."""

from __future__ import annotations

import pytest

from tests.training.conftest import write_tree
from tests.training.test_pack import module_text
from training.kill_trials import run_trials


@pytest.mark.slow
@pytest.mark.parametrize("verb", ["pack", "train"])
def test_killed_while_writing_then_run_again_gives_the_uninterrupted_output(verb, tmp_path, tiny_model_dir):
    files = {f"pkg/mod{i:02d}.py": module_text(i, [i - 1] if i else []) for i in range(12)}
    repo = write_tree(tmp_path / "repo", files)
    report = run_trials(verb, 1, tmp_path / "work", repo, tiny_model_dir, seed=1, in_writing=True)
    trial = report["results"][0]
    assert not trial["left"].startswith("finished"), trial  # the kill landed
    assert trial["problems"] == []
