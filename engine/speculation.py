"""Draft tokens for speculative decoding, taken from text the completion is likely to copy.

Code completions repeat nearby code (a variable list, a call pattern, the
other branch of an `if`), and while a user types, the new completion is
mostly the rest of the previous one. So instead of a draft model, the draft
comes from token sequences already at hand: the previous completion for the
same document (aligned to what was typed since), then the prompt itself,
found by matching the last few generated tokens (prompt lookup). The decode
loop checks a whole draft with one forward pass and keeps the tokens the
model agrees with, so greedy output is the model's own; a CPU reads the
weights once for the pass whether it scores one token or eight.
"""

from __future__ import annotations

from dataclasses import dataclass, field

#: Longest and shortest n-gram of generated tokens looked up in the sources.
MAX_NGRAM = 4
MIN_NGRAM = 2
#: Draft length from a prompt match, and from the previous completion (usually right for longer).
#: A prompt-match draft is checked in a pass of draft + 1 rows: up to 4 rows a pass of the bundled model costs
#: 1.1-1.3x a one-row step, 5 rows 2x (47, 57, 57, 63, 100 ms for 1-5 rows, 900 cached tokens, AMD EPYC with
#: AVX512-BF16, 2 threads), so drafts of 3: `bench latency --backend local` decoded 23.8 tok/s with 3 and 19.7
#: with 4 there (same requests, 62 and 76 ms a pass).
LOOKUP_DRAFT = 3
CONTINUATION_DRAFT = 16


@dataclass
class Drafter:
    """Proposes the next tokens given the tokens generated so far."""

    #: Where the completion probably goes (the previous completion, re-aligned); tried first.
    continuation: list[int] = field(default_factory=list)
    #: Token sequences to look n-grams up in (the prompt).
    sources: tuple[list[int], ...] = ()
    lookup_draft: int = LOOKUP_DRAFT
    continuation_draft: int = CONTINUATION_DRAFT
    #: Draft tokens proposed and accepted, for the log and the ablation.
    proposed: int = 0
    accepted: int = 0

    def propose(self, generated: list[int]) -> list[int]:
        n = len(generated)
        if self.continuation and self.continuation[:n] == generated and n < len(self.continuation):
            return self.continuation[n : n + self.continuation_draft]
        for seq, limit in (
            (self.continuation, self.continuation_draft),
            *((s, self.lookup_draft) for s in self.sources),
        ):
            draft = lookup(seq, generated, limit)
            if draft:
                return draft
        return []

    def record(self, proposed: int, accepted: int) -> None:
        self.proposed += proposed
        self.accepted += accepted


def lookup(seq: list[int], generated: list[int], limit: int) -> list[int]:
    """The tokens after the latest earlier occurrence in `seq` of `generated`'s last n tokens (n as large as matches)."""
    for n in range(min(MAX_NGRAM, len(generated)), MIN_NGRAM - 1, -1):
        tail = generated[-n:]
        first = tail[0]
        # Latest occurrence first: nearby code is the likeliest to be copied.
        for start in range(len(seq) - n, -1, -1):
            if seq[start] == first and seq[start : start + n] == tail:
                follow = seq[start + n : start + n + limit]
                if follow:
                    return follow
    return []


def continuation_after_edit(prev_prefix: str, prev_suffix: str, prev_text: str, prefix: str, suffix: str) -> str:
    """What the previous completion says should follow `prefix`, or "" when the edit broke the link.

    Typing forward through the ghost text (`prefix` = old prefix + the first characters of the
    old completion) leaves the rest of it; deleting back to an earlier point puts the deleted
    characters in front of it.
    """
    if suffix != prev_suffix or not prev_text:
        return ""
    if prefix.startswith(prev_prefix):
        typed = prefix[len(prev_prefix) :]
        return prev_text[len(typed) :] if prev_text.startswith(typed) else ""
    if prev_prefix.startswith(prefix):
        return prev_prefix[len(prefix) :] + prev_text
    return ""
