"""A dataset written by `codegemma pack`, as the training loop reads it.

The dataset remembers which tokenizer produced it (`stats.json`), and
training refuses a model whose tokenizer differs: token ids from one
vocabulary are noise to another, and nothing would fail loudly otherwise.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Sequence

import torch

from training.errors import TrainingError
from training.model_io import tokenizer_fingerprint


class PackedData:
    """The train and validation windows of a packed dataset directory, and its statistics."""

    def __init__(self, path: Path) -> None:
        path = Path(path)
        stats_file = path / "stats.json"
        if not stats_file.is_file() or not (path / "dataset_dict.json").is_file():
            raise TrainingError(
                f"{path} is not a dataset written by `codegemma pack` (no stats.json / dataset_dict.json)"
            )
        import datasets

        self.path = path
        self.stats: dict[str, Any] = json.loads(stats_file.read_text())
        parts = datasets.load_from_disk(str(path))
        self.train = parts["train"].with_format("numpy")
        self.validation = parts["validation"].with_format("numpy") if "validation" in parts else []
        if len(self.train) == 0:
            raise TrainingError(f"{path} has no training windows")
        self.pad_id = 0

    @property
    def fingerprint(self) -> dict[str, Any]:
        """What identifies the data for resumption: its directory, window counts and tokenizer."""
        return {"path": str(self.path.resolve()), "windows": self.stats.get("windows"),
                "tokens": self.stats.get("tokens"), "tokenizer": self.stats.get("tokenizer")}  # fmt: skip

    def check_model(self, model_dir: str) -> None:
        """Fail unless the model's tokenizer is the one the data was packed with."""
        from transformers import AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(model_dir)
        ours = tokenizer_fingerprint(tokenizer)
        theirs = self.stats.get("tokenizer")
        if theirs and theirs != ours:
            raise TrainingError(
                f"{self.path} was packed with another tokenizer (model {self.stats.get('model')!r}, "
                f"vocabulary {theirs.get('vocab_size')}) than this model's ({ours['vocab_size']}); "
                "pack again with --model set to the model you train"
            )
        if tokenizer.pad_token_id is not None:
            self.pad_id = tokenizer.pad_token_id

    def collate(self, rows: Any, indices: Sequence[int], device: Any) -> dict[str, torch.Tensor]:
        """A padded batch: labels are the inputs themselves (every token is a target), -100 on padding."""
        seqs = [rows[int(i)]["input_ids"] for i in indices]
        width = max(len(s) for s in seqs)
        ids = torch.full((len(seqs), width), self.pad_id, dtype=torch.long)
        mask = torch.zeros((len(seqs), width), dtype=torch.long)
        for row, seq in enumerate(seqs):
            ids[row, : len(seq)] = torch.as_tensor(seq, dtype=torch.long)
            mask[row, : len(seq)] = 1
        labels = ids.masked_fill(mask == 0, -100)
        return {"input_ids": ids.to(device), "attention_mask": mask.to(device), "labels": labels.to(device)}
