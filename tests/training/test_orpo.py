"""Log -> pairs -> ORPO -> adapter, end to end on the tiny model, through the real language server (issue #18)."""

from __future__ import annotations

import json

import pytest

from evals.simulated_user import Typist, pick_blocks
from training.config import TrainConfig
from training.errors import TrainingError
from training.feedback_data import feedback_stats, load_pairs, preference_pairs, read_log, write_pairs
from training.orpo import train_orpo

SOURCE = """def mean(values):
    total = 0
    for value in values:
        total += value
    count = len(values)
    return total / count


def spread(values):
    low = min(values)
    high = max(values)
    return high - low
"""


@pytest.fixture(scope="module")
def tiny_model_dir(tmp_path_factory):
    """The suite's tiny Qwen2 (evals.tiny_model: the bundled tokenizer, so it suggests text for every prompt),
    not tests/training's Gemma, whose random answers are mostly empty."""
    from evals.tiny_model import build_tiny_model

    return build_tiny_model(tmp_path_factory.mktemp("tiny-qwen2"))


@pytest.mark.slow
def test_the_servers_log_becomes_pairs_and_an_orpo_adapter_that_serves(tmp_path, tiny_model_dir):
    root = tmp_path / "src"
    root.mkdir()
    (root / "stats.py").write_text(SOURCE)
    log = tmp_path / "feedback.jsonl"
    typist = Typist(["--model", str(tiny_model_dir), "--max-tokens", "6"], log)
    try:
        outcomes = typist.replay(pick_blocks(1, 4, seed=0, root=root)[0])
    finally:
        typist.close()
    assert any(o.kind != "none" for o in outcomes), outcomes
    records = read_log(log)
    assert len(records) == sum(o.kind != "none" for o in outcomes) > 0
    assert feedback_stats(records)["all"]["shown"] == len(records)
    rows = preference_pairs(records)
    assert rows and all(r["chosen"] in SOURCE and r["rejected"] != r["chosen"] for r in rows)
    write_pairs(rows, tmp_path / "pairs")
    assert len(load_pairs(tmp_path / "pairs")) == len(rows)

    adapter = tmp_path / "adapter"
    config = TrainConfig.build({}, max_steps=2, grad_accum=1, save_every=1, warmup_steps=0, threads=1)
    first = train_orpo(config, tmp_path / "pairs", str(tiny_model_dir), adapter, progress=False)
    assert first.steps == 2 and (adapter / "adapter_config.json").exists()
    assert any(json.loads(line).get("log_odds_ratio") is not None for line in (adapter / "orpo_log.jsonl").open())
    with pytest.raises(TrainingError, match="already holds an adapter"):
        train_orpo(config, tmp_path / "pairs", str(tiny_model_dir), adapter, progress=False)
    longer = TrainConfig.build({}, max_steps=3, grad_accum=1, save_every=1, warmup_steps=0, threads=1)
    resumed = train_orpo(longer, tmp_path / "pairs", str(tiny_model_dir), adapter, resume=True, progress=False)
    assert resumed.steps == 3

    from engine.backend import CompletionRequest
    from engine.loading import load_model
    from engine.local import LocalBackend

    backend = LocalBackend(load_model(str(tiny_model_dir), adapter=str(adapter)))
    try:
        completion = backend.complete(CompletionRequest(prefix="def mean(values):\n    ", max_tokens=4))
    finally:
        backend.close()
    assert completion.finish_reason in ("stop", "length", "eos")


def test_pairs_refuse_a_directory_that_is_not_a_pairs_dataset(tmp_path):
    with pytest.raises(TrainingError, match="not a dataset written by"):
        load_pairs(tmp_path)
