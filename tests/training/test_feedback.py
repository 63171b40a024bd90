"""`codegemma feedback stats|pairs`: figures, pair rules, and clear errors for a missing or corrupt log."""

from __future__ import annotations

import json

import pytest

from cli.main import main
from training.errors import TrainingError
from training.feedback_data import feedback_stats, preference_pairs, read_log


def record(fate, suggestion="return x + 1", language="python", **extra):
    return {"v": 1, "item": extra.pop("item", fate), "prefix": "def f(x):\n    ", "suffix": "\n", "path": "a.py",
            "language": language, "suggestion": suggestion, "fate": fate, "kept": "", "typed": "",
            "retained": None, "latency_ms": 100.0, **extra}  # fmt: skip


LOG = [
    record("accepted", kept="return x + 1", retained=True, latency_ms=50.0),
    record("partial", suggestion="return x\nreturn y", kept="return x", retained=True, item="p1"),
    record("partial", suggestion="return z\nreturn y", kept="return z", retained=False, item="p2"),
    record("typed_over", typed="return x * 2", latency_ms=300.0),
    record("dismissed", language="rust", latency_ms=200.0),
    record("typed_over", suggestion="same", typed="same", item="t2"),
]


def write(path, records):
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


def test_stats_count_acceptances_characters_and_latency_by_language(tmp_path):
    figures = feedback_stats(read_log(write(tmp_path / "f.jsonl", LOG)))
    everything = figures["all"]
    assert everything["shown"] == 6 and everything["accepted"] == 3 and everything["acceptance_rate"] == 0.5
    assert everything["chars_accepted"] == len("return x + 1") + 2 * len("return x")
    assert everything["chars_retained"] == len("return x + 1") + len("return x")
    assert everything["median_latency_ms"] == 100.0
    assert figures["by_language"]["rust"]["shown"] == 1 and figures["by_language"]["python"]["shown"] == 5


def test_pairs_prefer_what_the_user_typed_or_kept_over_the_suggestion():
    rows = preference_pairs(LOG)
    assert [(r["fate"], r["chosen"], r["rejected"]) for r in rows] == [
        ("partial", "return x", "return x\nreturn y"),
        ("typed_over", "return x * 2", "return x + 1"),
    ]  # accepted whole, deleted partial, dismissed without text and typed-over-with-the-same make no pair


def test_the_cli_prints_a_table_json_and_writes_a_dataset(tmp_path, capsys):
    log = write(tmp_path / "feedback.jsonl", LOG)
    assert main(["feedback", "stats", "--log", str(tmp_path)]) == 0
    assert "| python" in capsys.readouterr().out
    assert main(["feedback", "stats", "--log", str(log), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["all"]["shown"] == 6
    assert main(["feedback", "pairs", "--log", str(log), "--out", str(tmp_path / "pairs")]) == 0
    from datasets import load_from_disk

    assert load_from_disk(str(tmp_path / "pairs"))["chosen"] == ["return x", "return x * 2"]
    assert main(["feedback", "pairs", "--log", str(log), "--out", str(tmp_path / "pairs")]) == 2
    assert "not empty" in capsys.readouterr().err


def test_a_missing_or_corrupt_log_is_named_and_a_torn_last_line_is_skipped(tmp_path, capsys):
    assert main(["feedback", "stats", "--log", str(tmp_path / "none.jsonl")]) == 2
    assert "no feedback log at" in capsys.readouterr().err
    log = tmp_path / "f.jsonl"
    log.write_text(json.dumps(LOG[0]) + "\nnot json\n" + json.dumps(LOG[1]) + "\n")
    with pytest.raises(TrainingError, match=r"f.jsonl:2: not a JSON record"):
        read_log(log)
    log.write_text(json.dumps({"hello": 1}) + "\n")
    with pytest.raises(TrainingError, match="missing prefix"):
        read_log(log)
    log.write_text(json.dumps(LOG[0]) + "\n" + json.dumps(LOG[1])[:30])  # killed mid-write
    assert len(read_log(log)) == 1
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    assert main(["feedback", "pairs", "--log", str(empty), "--out", str(tmp_path / "p")]) == 2
    assert "no preference pairs" in capsys.readouterr().err
