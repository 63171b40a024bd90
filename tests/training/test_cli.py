"""`codegemma pack`, `train` and `merge` as a user runs them: flags, summaries, one-line errors."""

from __future__ import annotations

import json

from cli.main import main
from tests.training.conftest import write_tree
from tests.training.test_pack import module_text


def test_pack_train_merge_from_the_command_line(tmp_path, tiny_model_dir, capsys):
    repo = write_tree(tmp_path / "repo", {f"lib/m{i}.py": module_text(i, [i - 1] if i else []) for i in range(8)})
    model = str(tiny_model_dir)
    assert main(["pack", str(repo), "--out", str(tmp_path / "data"), "--model", model, "--seq-len", "128",
                 "--val-fraction", "0.25", "--fim-rate", "0.9", "--no-progress"]) == 0  # fmt: skip
    out = capsys.readouterr().out
    assert "packed 8 files (6 train, 2 validation)" in out and "tokens/s" in out
    stats = json.loads((tmp_path / "data" / "stats.json").read_text())
    assert stats["fim"]["rate"] == 0.9 and stats["fim_format"] == "codegemma"

    recipe = tmp_path / "r.yaml"
    recipe.write_text("lora_rank: 4\nlora_alpha: 8\nmax_steps: 50\ngrad_accum: 1\n")
    assert main(["train", "--data", str(tmp_path / "data"), "--model", model, "--out", str(tmp_path / "ad"),
                 "--config", str(recipe), "--max-steps", "3", "--eval-every", "3", "--no-progress"]) == 0  # fmt: skip
    assert "trained 3 steps" in capsys.readouterr().out
    saved = (tmp_path / "ad" / "training_config.yaml").read_text()
    assert "max_steps: 3" in saved and "lora_rank: 4" in saved

    assert main(["merge", "--model", model, "--adapter", str(tmp_path / "ad"), "--out", str(tmp_path / "m")]) == 0
    assert (tmp_path / "m" / "config.json").is_file()


def test_bad_input_is_one_line_not_a_traceback(tmp_path, capsys):
    assert main(["pack", str(tmp_path / "nope"), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "is not a directory" in err
    assert main(["train", "--data", str(tmp_path), "--out", str(tmp_path / "a")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "not a dataset written by `codegemma pack`" in err
    assert main(["pack", str(tmp_path), "--out", str(tmp_path / "o"), "--fim-rate", "1.5"]) == 2
    assert "between 0 and 1" in capsys.readouterr().err
