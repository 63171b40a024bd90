"""LoRA training on a tiny random model: resumption, Ctrl-C, adapter round trip, merge, model card."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import pytest
import torch

from tests.training.conftest import write_tree
from tests.training.test_pack import module_text
from training.config import TrainConfig
from training.data import PackedData
from training.errors import TrainingError
from training.pack import PackConfig, pack
from training.trainer import Trainer

CONFIG = dict(max_steps=6, micro_batch_size=2, grad_accum=2, lora_rank=4, lora_alpha=8, lora_dropout=0.1,
              learning_rate=5e-3, warmup_steps=1, eval_every=2, save_every=100, seed=3, threads=1)  # fmt: skip


@pytest.fixture(scope="module")
def packed(tmp_path_factory, tiny_tokenizer) -> Path:
    root = tmp_path_factory.mktemp("train-data")
    repo = write_tree(root / "repo", {f"pkg/mod{i:02d}.py": module_text(i, [i - 1] if i else []) for i in range(12)})
    tokenizer, fmt, _ = tiny_tokenizer
    pack(PackConfig(repos=(repo,), out=root / "data", seq_len=128, val_fraction=0.2, progress=False), tokenizer, fmt)
    return root / "data"


def train(packed, model_dir, out, *, resume=False, on_step=None, **overrides):
    config = TrainConfig.build({**CONFIG, **overrides})
    return Trainer(
        config, PackedData(packed), str(model_dir), out, resume=resume, progress=False, on_step=on_step
    ).run()


def logits(model, ids):
    with torch.no_grad():
        return model(torch.tensor([ids])).logits


def test_resume_after_ctrl_c_gives_the_same_losses_as_an_uninterrupted_run(packed, tiny_model_dir, tmp_path):
    full = train(packed, tiny_model_dir, tmp_path / "full")
    assert not full.interrupted and full.state.step == 6

    def interrupt(state):
        if state.step == 3:
            os.kill(os.getpid(), signal.SIGINT)  # what Ctrl-C sends; the step finishes, then a checkpoint

    stopped = train(packed, tiny_model_dir, tmp_path / "cut", on_step=interrupt)
    assert stopped.interrupted and stopped.state.step == 3
    assert (tmp_path / "cut" / "checkpoints" / "step-000003" / "adapter.safetensors").is_file()
    assert not (tmp_path / "cut" / "adapter_model.safetensors").exists()  # no final adapter from a cut run
    resumed = train(packed, tiny_model_dir, tmp_path / "cut", resume=True)
    assert resumed.state.step == 6
    assert [r["loss"] for r in resumed.state.history] == [r["loss"] for r in full.state.history]
    assert resumed.state.validations == full.state.validations
    assert [v["step"] for v in full.state.validations] == [0, 2, 4, 6]
    log = [json.loads(line) for line in (tmp_path / "cut" / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log] == [0, 1, 2, 3, 4, 5, 6]
    from safetensors.torch import load_file

    a = load_file(str(tmp_path / "full" / "adapter_model.safetensors"))
    b = load_file(str(tmp_path / "cut" / "adapter_model.safetensors"))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_resume_of_a_run_killed_before_its_first_checkpoint_starts_it_again(packed, tiny_model_dir, tmp_path):
    full = train(packed, tiny_model_dir, tmp_path / "full")

    def die(state):
        if state.step == 2:
            raise SystemExit(137)  # as if killed: no checkpoint yet (save_every=100), log.jsonl half written

    with pytest.raises(SystemExit):
        train(packed, tiny_model_dir, tmp_path / "cut", on_step=die)
    assert not (tmp_path / "cut" / "checkpoints").exists() and (tmp_path / "cut" / "log.jsonl").is_file()
    resumed = train(packed, tiny_model_dir, tmp_path / "cut", resume=True)
    assert [r["loss"] for r in resumed.state.history] == [r["loss"] for r in full.state.history]
    log = [json.loads(line) for line in (tmp_path / "cut" / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log] == [0, 1, 2, 3, 4, 5, 6]


def test_a_final_adapter_cut_short_is_never_loadable(packed, tiny_model_dir, tmp_path, monkeypatch):
    """`adapter_config.json` is what `--adapter` and peft look for, so it is moved into place last."""
    real_replace = os.replace

    def replace_then_die(src, dst):
        staging = Path(src).parent
        if staging.name.startswith(".final.tmp-") and len(list(staging.iterdir())) == 1:
            raise SystemExit(137)  # killed before the last file of the final adapter is in place
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", replace_then_die)
    with pytest.raises(SystemExit):
        train(packed, tiny_model_dir, tmp_path / "run", max_steps=2)
    monkeypatch.undo()
    assert not (tmp_path / "run" / "adapter_config.json").exists()
    assert (tmp_path / "run" / "adapter_model.safetensors").is_file()  # the rest is there
    done = train(packed, tiny_model_dir, tmp_path / "run", resume=True, max_steps=2)  # --resume finishes it
    assert done.state.step == 2 and (tmp_path / "run" / "adapter_config.json").is_file()


def test_training_lowers_the_loss_and_the_adapter_loads_everywhere(packed, tiny_model_dir, tmp_path):
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    from engine.loading import load_model
    from training.merge_cli import merge

    result = train(packed, tiny_model_dir, tmp_path / "ad", max_steps=12, lora_dropout=0.0, learning_rate=1e-2)
    vals = result.state.validations
    assert vals[-1]["val_loss"] < vals[0]["val_loss"]
    out = tmp_path / "ad"
    assert {"adapter_config.json", "adapter_model.safetensors", "README.md", "training_config.yaml"} <= {
        p.name for p in out.iterdir()}  # fmt: skip
    card = (out / "README.md").read_text()
    assert "library_name: peft" in card and str(tiny_model_dir) in card and f"{vals[-1]['val_loss']:.4f}" in card
    assert TrainConfig.from_yaml(out / "training_config.yaml") == TrainConfig.build(
        {**CONFIG, "max_steps": 12, "lora_dropout": 0.0, "learning_rate": 1e-2}
    )

    ids = [2, 10, 20, 30, 40, 50]
    base = AutoModelForCausalLM.from_pretrained(str(tiny_model_dir)).eval()
    before = logits(base, ids)
    with_adapter = PeftModel.from_pretrained(base, str(out)).eval()
    expected = logits(with_adapter, ids)
    assert not torch.allclose(before, expected)
    served = load_model(str(tiny_model_dir), adapter=str(out))  # what `codegemma serve --adapter` does
    assert served.fim_format.name == "codegemma"
    assert torch.allclose(logits(served.model, ids), expected, atol=1e-5)
    merged = merge(str(tiny_model_dir), str(out), tmp_path / "merged")
    assert torch.allclose(logits(load_model(str(merged)).model, ids), expected, atol=1e-5)


def test_batch_order_is_a_function_of_seed_and_step_covering_each_window_once_per_epoch(packed):
    trainer = Trainer(TrainConfig.build(CONFIG), PackedData(packed), None, Path("unused"))
    trainer.world, trainer.rank = 1, 0
    n = len(trainer.data.train)
    per_step = [i for step in range(n) for micro in range(2) for i in trainer.batch_indices(step, micro)]
    assert sorted(per_step[:n]) == list(range(n)) and sorted(per_step[n : 2 * n]) == list(range(n))
    assert per_step[:n] != per_step[n : 2 * n]  # a new permutation each epoch
    again = Trainer(TrainConfig.build(CONFIG), PackedData(packed), None, Path("unused"))
    again.world, again.rank = 1, 0
    assert [again.batch_indices(s, m) for s in (5, 0, 3) for m in (1, 0)] == [
        trainer.batch_indices(s, m) for s in (5, 0, 3) for m in (1, 0)]  # fmt: skip


def test_refuses_to_mix_runs_data_or_tokenizers(packed, tiny_model_dir, tmp_path):
    train(packed, tiny_model_dir, tmp_path / "run", max_steps=2)
    with pytest.raises(TrainingError, match="already holds a training run"):
        train(packed, tiny_model_dir, tmp_path / "run", max_steps=2)
    with pytest.raises(TrainingError, match="run changed.*lora_rank"):
        train(packed, tiny_model_dir, tmp_path / "run", resume=True, max_steps=2, lora_rank=8)
    with pytest.raises(TrainingError, match="no checkpoint"):
        train(packed, tiny_model_dir, tmp_path / "fresh", resume=True)
    other = tmp_path / "other-data"
    import shutil

    shutil.copytree(packed, other)
    stats = json.loads((other / "stats.json").read_text())
    stats["tokenizer"]["sha256"] = "0" * 16
    (other / "stats.json").write_text(json.dumps(stats))
    with pytest.raises(TrainingError, match="packed with another tokenizer"):
        train(other, tiny_model_dir, tmp_path / "mismatch")


def test_config_files_are_validated_with_one_line_errors(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("lora_rank: 8\nlearning_rat: 0.1\n")
    with pytest.raises(TrainingError, match="unknown training setting.*learning_rat"):
        TrainConfig.from_yaml(bad)
    with pytest.raises(TrainingError, match="grad_accum must be positive"):
        TrainConfig.build({"grad_accum": 0})
    good = tmp_path / "good.yaml"
    good.write_text("lora_rank: 8\ntarget_modules: [q_proj, v_proj]\n")
    config = TrainConfig.from_yaml(good, lora_rank=32, seed=None)
    assert config.lora_rank == 32 and config.target_modules == ("q_proj", "v_proj") and config.seed == 0


def test_recipes_are_valid_configs():
    recipes = sorted((Path(__file__).parents[2] / "training" / "recipes").glob("*.yaml"))
    assert recipes
    for recipe in recipes:
        TrainConfig.from_yaml(recipe)


def test_a_time_budget_ends_the_run_with_an_adapter_and_lora_layers_limits_the_adapted_layers(
    packed, tiny_model_dir, tmp_path
):
    from safetensors.torch import load_file

    result = train(packed, tiny_model_dir, tmp_path / "t", max_minutes=1e-6, lora_layers=1)
    assert result.state.step == 1 and not result.interrupted
    keys = load_file(str(tmp_path / "t" / "adapter_model.safetensors")).keys()
    assert keys and all(".layers.1." in k for k in keys)  # the tiny model has layers 0 and 1
