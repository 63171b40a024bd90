"""Render files as training text in the model's own multi-file form, with FIM applied.

Training text must look exactly like what the server sends at inference,
so every string here comes from the format registry (`fim.formats`) and the
prompt builder (`fim.prompt.build_prompt`): a file the model only reads is
the family's context-file form (`path\\ncontent<|file_separator|>` for
CodeGemma); a file turned into a FIM example is the current-file form with
its middle moved to the end and followed by the end token, which the model
must learn to emit (Bavarian et al. train on it; the server stops on it).
Middles are syntax units from `fim.splits`.
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass

from fim.errors import FimError
from fim.formats import FimFormat, get_format
from fim.prompt import FimInput, build_prompt
from fim.splits import sample_split
from training.errors import TrainingError


@dataclass(frozen=True)
class FimConfig:
    """How many files become FIM examples, and in which layout."""

    #: Share of file pieces turned into FIM examples (CodeGemma: 0.8; 0.9 for 2B v1.1).
    rate: float = 0.8
    #: Share of FIM examples in suffix-prefix-middle order; the rest are prefix-suffix-middle.
    spm_rate: float = 0.5
    #: Which SPM layout of the family (`spm` or `spm-v2`, see fim/formats.py).
    spm_order: str = "spm-v2"
    #: Share of middles that are random character spans rather than syntax nodes.
    random_span_rate: float = 0.1

    def __post_init__(self) -> None:
        for name in ("rate", "spm_rate", "random_span_rate"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise TrainingError(f"FIM {name.replace('_', '-')} must be between 0 and 1, not {value}")


@dataclass(frozen=True)
class Piece:
    """A file, or the part of one that fits a training window (cut at a line start)."""

    path: str
    text: str
    language: str | None


class Renderer:
    """Turns pieces into training text for one FIM family."""

    def __init__(self, fmt: FimFormat, config: FimConfig) -> None:
        family = fmt.family
        self.config = config
        self.psm = get_format(family.name)
        spm_name = f"{family.name}-{config.spm_order}"
        try:
            self.spm = get_format(spm_name)
        except FimError:
            raise TrainingError(
                f"the {family.title} format has no {config.spm_order!r} order; "
                f"choose one of: {', '.join(o for o in family.orders if o != 'psm')}"
            ) from None
        self.family = family
        #: What the model emits when a middle (or a file) is done: the family's first end marker.
        self.end = family.stops[0] if family.stops else ""
        #: Every string that must not occur inside a file's text (it would read as a sentinel).
        self.reserved = tuple(sorted({family.pre, family.suf, family.mid, *family.stops}))
        self.counts: Counter = Counter()

    def has_reserved(self, text: str) -> bool:
        """True when `text` contains a sentinel or end marker of the family (such files are skipped)."""
        return any(token in text for token in self.reserved)

    def header(self, repo: str) -> str:
        """Text that opens a repository, for families that name it (Qwen's `<|repo_name|>`)."""
        return self.family.repo_header.format(repo=repo) if self.family.repo_header else ""

    def overhead(self, path: str) -> str:
        """The text a piece adds around its content when not transformed (for budgeting)."""
        return self.plain(Piece(path, "", None))

    def plain(self, piece: Piece) -> str:
        if self.family.context_file is None:
            return piece.text + self.end
        return self.family.context_file.format(path=piece.path, content=piece.text)

    def render(self, piece: Piece, rng: random.Random) -> str:
        """`piece` as training text: read as context, or (with probability `rate`) as a FIM example."""
        if not piece.text or rng.random() >= self.config.rate:
            self.counts["plain"] += 1
            return self.plain(piece)
        split = sample_split(piece.text, piece.language, rng, random_span_rate=self.config.random_span_rate)
        spm = rng.random() < self.config.spm_rate
        fmt = self.spm if spm else self.psm
        self.counts["spm" if spm else "psm"] += 1
        self.counts[f"middle_{split.kind}"] += 1
        fim = FimInput(prefix=piece.text[: split.start], suffix=piece.text[split.end :], path=piece.path)
        return build_prompt(fmt, fim, middle=piece.text[split.start : split.end]) + self.end
