"""`codegemma pack` end to end on a generated repository, with the tiny tokenizer (CodeGemma format)."""

from __future__ import annotations

import json
import random
import re
from pathlib import Path

import pytest

from tests.training.conftest import write_tree
from training.documents import FimConfig, Piece, Renderer
from training.pack import PackConfig, pack

PRE, SUF, MID, SEP = "<|fim_prefix|>", "<|fim_suffix|>", "<|fim_middle|>", "<|file_separator|>"


def module_text(i: int, imports: list[int]) -> str:
    head = "".join(f"from pkg.mod{j:02d} import func{j:02d}\n" for j in imports)
    body = "".join(
        f"\n\ndef func{i:02d}_{k}(value, count=3):\n    marker_{i:02d} = value * {k}\n"
        f"    for step in range(count):\n        marker_{i:02d} += step\n    return marker_{i:02d}\n"
        for k in range(6)
    )
    return f'"""Module {i}."""\n{head}\n\ndef func{i:02d}(x):\n    return x + {i}\n{body}'


@pytest.fixture
def repo(tmp_path) -> Path:
    rng = random.Random(7)
    files: dict[str, str] = {}
    for i in range(24):
        files[f"src/pkg/mod{i:02d}.py"] = module_text(i, sorted(rng.sample(range(i), min(i, 2))))
    files["src/pkg/__init__.py"] = "VERSION = '1.0'\n"
    files["tests/test_mod03.py"] = "from pkg.mod03 import func03\n\ndef test_func03():\n    assert func03(1) == 4\n"
    files["src/pkg/settings.py"] = "import os\nAWS_KEY = 'AKIAIOSFODNN7EXAMPLE'\nDEBUG = os.environ.get('DEBUG')\n"
    files["deploy/key.py"] = (
        "KEY = '''-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXk=\n-----END OPENSSH PRIVATE KEY-----'''\n"
    )
    files["src/pkg/prompts.py"] = "TEMPLATE = '<|fim_prefix|>{p}<|fim_suffix|>{s}<|fim_middle|>'\n"
    return write_tree(tmp_path / "myrepo", files)


def run_pack(repo: Path, out: Path, tiny_tokenizer, **overrides) -> dict:
    tokenizer, fmt, _ = tiny_tokenizer
    config = PackConfig(repos=(repo,), out=out, seq_len=overrides.pop("seq_len", 256), progress=False, **overrides)
    return pack(config, tokenizer, fmt, model="tiny")


def windows(out: Path, split: str) -> list[list[int]]:
    import datasets

    parts = datasets.load_from_disk(str(out))
    return [list(r["input_ids"]) for r in parts[split]] if split in parts else []


def decode(tiny_tokenizer, ids: list[int]) -> str:
    return tiny_tokenizer[0].backend_tokenizer.decode(ids, skip_special_tokens=False)


def test_windows_are_multi_file_fim_documents_whose_pieces_reassemble_the_files(repo, tmp_path, tiny_tokenizer):
    stats = run_pack(repo, tmp_path / "out", tiny_tokenizer, val_fraction=0.0)
    sources = {p.relative_to(repo).as_posix(): p.read_text() for p in repo.rglob("*.py")}
    sources["src/pkg/settings.py"] = "import os\nDEBUG = os.environ.get('DEBUG')\n"  # its credential line is dropped
    fim_pieces = plain_pieces = 0
    for ids in windows(tmp_path / "out", "train"):
        assert len(ids) <= 256 and ids[0] == 2  # bos first, as in the server's prompts
        text = decode(tiny_tokenizer, ids[1:])
        pieces = text.split(SEP)
        for piece in pieces[:-1] + ([pieces[-1]] if pieces[-1] else []):
            if not piece:
                continue
            path, _, body = piece.partition("\n")
            if path not in sources:  # the window's last piece may be cut mid-way
                continue
            original = sources[path]
            if PRE not in body:
                plain_pieces += 1
                assert body in original
                continue
            fim_pieces += 1
            assert body.startswith(PRE) and body.count(MID) == 1
            if body.startswith(PRE + SUF):  # SPM (variant 2): suffix, then prefix + middle
                suffix, _, prefix_middle = body[len(PRE + SUF) :].partition(MID)
                assert prefix_middle + suffix in original
            else:
                prefix, _, rest = body[len(PRE) :].partition(SUF)
                suffix, _, middle = rest.partition(MID)
                assert prefix + middle + suffix in original
    assert fim_pieces > 2 * plain_pieces > 0
    assert stats["pieces"]["psm"] > 0 and stats["pieces"]["spm"] > 0


def test_fim_rate_and_psm_spm_share_follow_the_config():
    from fim.formats import get_format

    renderer = Renderer(get_format("codegemma"), FimConfig(rate=0.8, spm_rate=0.5))
    rng = random.Random(0)
    text = module_text(5, [1, 2])
    rendered = [renderer.render(Piece("pkg/mod05.py", text, "python"), rng) for _ in range(1500)]
    fim = [r for r in rendered if PRE in r]
    assert 0.76 < len(fim) / len(rendered) < 0.84
    spm = [r for r in fim if r.startswith("pkg/mod05.py\n" + PRE + SUF)]
    assert 0.45 < len(spm) / len(fim) < 0.55
    assert all(r.endswith(SEP) for r in rendered)  # the end token is always trained on
    kinds = {k for k in renderer.counts if k.startswith("middle_")}
    assert {"middle_random", "middle_statement"} <= kinds  # syntax-aware, with a share of random spans
    none = Renderer(get_format("codegemma"), FimConfig(rate=0.0))
    assert none.render(Piece("a.py", text, "python"), rng) == f"a.py\n{text}{SEP}"


def test_secrets_and_sentinel_text_never_reach_the_data_and_are_counted(repo, tmp_path, tiny_tokenizer):
    stats = run_pack(repo, tmp_path / "out", tiny_tokenizer, fim=FimConfig(rate=0.0))  # plain text to search
    text = "".join(
        decode(tiny_tokenizer, ids) for split in ("train", "validation") for ids in windows(tmp_path / "out", split)
    )
    assert "AKIA" not in text and "PRIVATE KEY" not in text and "TEMPLATE" not in text
    assert "DEBUG = os.environ" in text  # the rest of settings.py is kept
    assert stats["secrets"] == {"aws_access_key": 1, "private_key": 1}
    assert stats["skipped"]["secret"] == 1 and stats["skipped"]["contains_fim_tokens"] == 1


def test_validation_holds_whole_files_never_seen_in_training(repo, tmp_path, tiny_tokenizer):
    stats = run_pack(repo, tmp_path / "out", tiny_tokenizer, val_fraction=0.2, holdout=("src/pkg/mod07.py",))
    manifest = [json.loads(line) for line in (tmp_path / "out" / "manifest.jsonl").read_text().splitlines()]
    held = {m["path"] for m in manifest if m["split"] == "validation"}
    assert "src/pkg/mod07.py" in held and len(held) == stats["files_by_split"]["validation"] == round(
        0.2 * len(manifest)
    )
    train_text = "".join(decode(tiny_tokenizer, ids) for ids in windows(tmp_path / "out", "train"))
    val_text = "".join(decode(tiny_tokenizer, ids) for ids in windows(tmp_path / "out", "validation"))
    for path in held:
        number = re.search(r"mod(\d\d)", path)
        if number:
            assert f"marker_{number.group(1)}" not in train_text and f"marker_{number.group(1)}" in val_text


def test_same_seed_same_dataset_other_seed_other_fim(repo, tmp_path, tiny_tokenizer):
    first = run_pack(repo, tmp_path / "a", tiny_tokenizer)
    second = run_pack(repo, tmp_path / "b", tiny_tokenizer)
    third = run_pack(repo, tmp_path / "c", tiny_tokenizer, seed=1)
    for key in ("seconds", "files_per_second", "tokens_per_second"):
        first.pop(key), second.pop(key), third.pop(key)
    assert first == second
    assert windows(tmp_path / "a", "train") == windows(tmp_path / "b", "train")
    assert windows(tmp_path / "a", "train") != windows(tmp_path / "c", "train")
    assert (tmp_path / "a" / "manifest.jsonl").read_text() == (tmp_path / "b" / "manifest.jsonl").read_text()


def test_stats_record_ordering_and_windows_are_packed_full(repo, tmp_path, tiny_tokenizer):
    stats = run_pack(repo, tmp_path / "out", tiny_tokenizer, val_fraction=0.0, seq_len=512)
    assert stats["edges"] > 20 and stats["tests_placed"] == 1
    rows = windows(tmp_path / "out", "train")
    assert sum(len(r) for r in rows[:-1]) / (512 * (len(rows) - 1)) > 0.85
    assert stats["tokens"]["train"] == sum(len(r) for r in rows)
    order = [json.loads(line)["path"] for line in (tmp_path / "out" / "manifest.jsonl").read_text().splitlines()]
    assert order.index("tests/test_mod03.py") == order.index("src/pkg/mod03.py") + 1
    assert order.index("src/pkg/mod00.py") < order.index("src/pkg/mod05.py")


def test_an_existing_output_is_kept_unless_overwrite(repo, tmp_path, tiny_tokenizer):
    from training.errors import TrainingError

    run_pack(repo, tmp_path / "out", tiny_tokenizer)
    with pytest.raises(TrainingError, match="already exists"):
        run_pack(repo, tmp_path / "out", tiny_tokenizer)
    run_pack(repo, tmp_path / "out", tiny_tokenizer, overwrite=True)
    assert not list(tmp_path.glob("out.partial-*")) and not list(tmp_path.glob(".out.old-*"))


def test_what_a_killed_pack_left_is_removed_by_the_next_run(repo, tmp_path, tiny_tokenizer):
    """`kill -9` leaves the unfinished `out.partial-PID` (and, mid-`--overwrite`, `.out.old-PID`) behind."""
    import subprocess
    import sys

    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    pid = int(dead.stdout)  # a process that has exited
    for name in (f"out.partial-{pid}", f".out.old-{pid}"):
        write_tree(tmp_path / name, {"train/data-00000-of-00001.arrow": b"\0" * 10, "stats.json": "{"})
    run_pack(repo, tmp_path / "out", tiny_tokenizer)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["myrepo", "out"]
