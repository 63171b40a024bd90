"""`--context-tokens auto`: a prompt budget that follows this machine's prompt speed.

A cold completion has to read its whole prompt before the first token, so the
budget that meets a latency target is the prompt speed times the target. The
speed comes from the engine's own timings of recent prompt reads (only reads
of at least `MIN_READ_TOKENS` uncached tokens count: short reads are dominated
by fixed costs). The budget moves in steps of `STEP` tokens and only when the
new value differs by at least `MIN_CHANGE` of the old one, because every
change of the budget moves the prompt's start and loses the prompt cache.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from engine.defaults import CONTEXT_TOKENS
from engine.errors import EngineError

log = logging.getLogger(__name__)

#: Latency target of a cold prompt read, in milliseconds, when none is given.
DEFAULT_TARGET_MS = 1000.0
#: The smallest budget `auto` chooses.
MIN_TOKENS = 256
#: Budgets are multiples of this many tokens.
STEP = 128
#: Prompt reads of fewer uncached tokens than this do not update the speed.
MIN_READ_TOKENS = 64
#: Weight of the newest read in the running prompt speed.
SMOOTHING = 0.3
#: The budget changes only when the new one differs by at least this share (and one `STEP`).
MIN_CHANGE = 0.15


@dataclass
class AutoBudget:
    """The prompt budget for a latency target, updated from observed prompt reads."""

    target_ms: float = DEFAULT_TARGET_MS
    #: The model's context (the largest budget); `MIN_TOKENS` is the smallest.
    max_tokens: int = 32768
    #: The budget until a read has been timed.
    tokens: int = CONTEXT_TOKENS
    #: Running prompt speed in tokens per second (None before the first timed read).
    tokens_per_s: float | None = None

    def __post_init__(self) -> None:
        if not self.target_ms > 0:
            raise EngineError(f"the latency target must be a positive number of milliseconds, not {self.target_ms}")
        self.max_tokens = max(self.max_tokens, MIN_TOKENS)
        self.tokens = self._clamp(self.tokens)

    def _clamp(self, tokens: float) -> int:
        return int(min(max(tokens // STEP * STEP, MIN_TOKENS), self.max_tokens))

    def observe(self, read_tokens: int, read_ms: float) -> None:
        """Take the timing of one prompt read (`read_tokens` uncached tokens in `read_ms`) into account."""
        if read_tokens < MIN_READ_TOKENS or read_ms <= 0:
            return
        speed = read_tokens / (read_ms / 1000)
        self.tokens_per_s = speed if self.tokens_per_s is None else (
            SMOOTHING * speed + (1 - SMOOTHING) * self.tokens_per_s)  # fmt: skip
        wanted = self._clamp(self.tokens_per_s * self.target_ms / 1000)
        if abs(wanted - self.tokens) >= max(STEP, MIN_CHANGE * self.tokens):
            log.info("context budget %d -> %d tokens (prompt reads at %.0f tokens/s, target %.0f ms)",
                     self.tokens, wanted, self.tokens_per_s, self.target_ms)  # fmt: skip
            self.tokens = wanted

    def to_json(self) -> dict[str, Any]:
        """What /health and `codegemma/stats` show."""
        speed = None if self.tokens_per_s is None else round(self.tokens_per_s, 1)
        return {"mode": "auto", "tokens": self.tokens, "target_ms": self.target_ms,
                "prompt_tokens_per_s": speed, "min": MIN_TOKENS, "max": self.max_tokens}  # fmt: skip


def parse_context_tokens(value: str) -> int | AutoBudget:
    """A `--context-tokens` value: a positive number of tokens, `auto`, or `auto:MS` (a latency target)."""
    text = value.strip().lower()
    if text == "auto" or text.startswith("auto:"):
        target = text.partition(":")[2]
        try:
            return AutoBudget(target_ms=float(target)) if target else AutoBudget()
        except ValueError:
            raise EngineError(f"--context-tokens {value!r}: the latency target after auto: must be milliseconds")
    try:
        tokens = int(text)
    except ValueError:
        raise EngineError(f"--context-tokens {value!r}: give a number of tokens, auto or auto:MS") from None
    if tokens <= 0:
        raise EngineError(f"--context-tokens must be positive, not {tokens}")
    return tokens


def context_tokens_arg(value: str) -> int | AutoBudget:
    """`parse_context_tokens` as an argparse type: a bad value is a usage error naming it, not a traceback."""
    import argparse

    try:
        return parse_context_tokens(value)
    except EngineError as exc:
        raise argparse.ArgumentTypeError(str(exc).removeprefix(f"--context-tokens {value!r}: ")) from None
