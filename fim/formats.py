"""FIM prompt formats as data.

Every model family spells fill-in-the-middle differently: other sentinel
strings, other orders, other ways to put several files in one prompt. Keeping
each family as one `FimFamily` record (and each usable prompt layout as a
`FimFormat` = family + order) means the prompt builder, the engine's stop
tokens, training-data packing and format detection all read the same facts,
and adding a family is adding a record, not a code path.

Templates use `{PRE}`, `{SUF}`, `{MID}` for the family's sentinels and
`{prefix}`, `{suffix}` for the text; nothing else is added around them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping

from fim.errors import FimError

#: Generic layouts (Bavarian et al. 2022). `spm` is their variant 1,
#: `spm-v2` the variant used in their paper and by SAFIM's Gemma adapter.
GENERIC_ORDERS: Mapping[str, str] = {
    "psm": "{PRE}{prefix}{SUF}{suffix}{MID}",
    "spm": "{SUF}{suffix}{PRE}{prefix}{MID}",
    "spm-v2": "{PRE}{SUF}{suffix}{MID}{prefix}",
}


@dataclass(frozen=True)
class FimFamily:
    """Sentinels and multi-file conventions shared by one model family."""

    name: str
    #: Human name for logs and `--help`.
    title: str
    pre: str
    suf: str
    mid: str
    #: Extra strings that end a completion (besides the three sentinels and eos).
    stops: tuple[str, ...] = ()
    #: Layout templates by order name; defaults to `GENERIC_ORDERS`.
    orders: Mapping[str, str] = field(default_factory=lambda: dict(GENERIC_ORDERS))
    #: Template for one context file (`{path}`, `{content}`); None means the
    #: family has no multi-file form and context files are left out.
    context_file: str | None = None
    #: Header before the current file when a path is known (`{path}`).
    current_file: str = ""
    #: Template for the repository header (`{repo}`), written once before any file.
    repo_header: str = ""
    #: Vocabulary entries that identify the family: any one of these groups,
    #: each group present in full.
    detect: tuple[tuple[str, ...], ...] = ()
    #: `config.model_type` values that identify the family when the vocabulary does not.
    model_types: tuple[str, ...] = ()

    @property
    def sentinels(self) -> tuple[str, ...]:
        """Special strings our prompts contain; each must be one token of the model."""
        templates = (self.context_file or "", self.current_file, self.repo_header)
        used = [s for s in self.stops if any(s in t for t in templates)]
        return (self.pre, self.suf, self.mid, *used)

    @property
    def stop_strings(self) -> tuple[str, ...]:
        """Strings after which a completion is over: every sentinel and end marker."""
        return (self.pre, self.suf, self.mid, *self.stops)


@dataclass(frozen=True)
class FimFormat:
    """One concrete prompt layout: a family in one order."""

    family: FimFamily
    order: str

    @property
    def name(self) -> str:
        return self.family.name if self.order == "psm" else f"{self.family.name}-{self.order}"

    @property
    def template(self) -> str:
        return self.family.orders[self.order]

    @property
    def prefix_last(self) -> bool:
        """True when the prefix is the last thing in the prompt (SPM v2).

        Such prompts keep the suffix early, so a prompt cache survives typing.
        """
        return self.template.endswith("{prefix}")


CODEGEMMA = FimFamily(
    name="codegemma",
    title="CodeGemma",
    pre="<|fim_prefix|>",
    suf="<|fim_suffix|>",
    mid="<|fim_middle|>",
    stops=("<|file_separator|>",),
    context_file="{path}\n{content}<|file_separator|>",
    current_file="{path}\n",
    detect=(("<|file_separator|>", "<|fim_prefix|>"),),
    model_types=("gemma",),
)

QWEN = FimFamily(
    name="qwen2.5-coder",
    title="Qwen2.5-Coder",
    pre="<|fim_prefix|>",
    suf="<|fim_suffix|>",
    mid="<|fim_middle|>",
    stops=("<|endoftext|>", "<|file_sep|>", "<|repo_name|>", "<|im_end|>", "<|fim_pad|>"),
    context_file="<|file_sep|>{path}\n{content}\n",
    current_file="<|file_sep|>{path}\n",
    repo_header="<|repo_name|>{repo}\n",
    detect=(("<|file_sep|>", "<|fim_prefix|>"),),
    model_types=("qwen2",),
)

STARCODER = FimFamily(
    name="starcoder2",
    title="StarCoder / StarCoder2",
    pre="<fim_prefix>",
    suf="<fim_suffix>",
    mid="<fim_middle>",
    stops=("<|endoftext|>", "<file_sep>"),
    context_file="<file_sep>{path}\n{content}",
    current_file="<file_sep>{path}\n",
    repo_header="<repo_name>{repo}",
    detect=(("<fim_prefix>",),),
    model_types=("starcoder2", "gpt_bigcode"),
)

DEEPSEEK = FimFamily(
    name="deepseek-coder",
    title="DeepSeek-Coder",
    pre="<｜fim▁begin｜>",
    suf="<｜fim▁hole｜>",
    mid="<｜fim▁end｜>",
    stops=("<｜end▁of▁sentence｜>", "<|EOT|>"),
    # DeepSeek-Coder's repository data starts every file with a comment that
    # names its path; a `#` comment is right for the languages it saw most.
    context_file="# {path}\n{content}\n",
    current_file="# {path}\n",
    detect=(("<｜fim▁begin｜>",),),
)

CODELLAMA = FimFamily(
    name="codellama",
    title="CodeLlama",
    pre="<PRE>",
    suf="<SUF>",
    mid="<MID>",
    stops=("<EOT>",),
    orders={
        "psm": "{PRE} {prefix} {SUF}{suffix} {MID}",
        "spm-v2": "{PRE} {SUF}{suffix} {MID} {prefix}",
    },
    detect=(("▁<PRE>", "▁<SUF>"), ("<PRE>", "<SUF>")),
)

FAMILIES: Mapping[str, FimFamily] = {f.name: f for f in (CODEGEMMA, QWEN, STARCODER, DEEPSEEK, CODELLAMA)}

FORMATS: Mapping[str, FimFormat] = {
    fmt.name: fmt for family in FAMILIES.values() for fmt in (FimFormat(family, o) for o in family.orders)
}


def get_format(name: str) -> FimFormat:
    """Look a format up by name (`codegemma`, `codegemma-spm`, `qwen2.5-coder`, ...)."""
    try:
        return FORMATS[name]
    except KeyError:
        raise FimError(f"unknown FIM format {name!r}; known formats: {', '.join(FORMATS)}") from None


def detect_family(vocabulary: Mapping[str, int] | set[str], model_type: str | None = None) -> FimFamily:
    """Pick the family whose sentinels the vocabulary holds.

    Families are tried in registry order, so CodeGemma (which shares `<|fim_prefix|>` with Qwen) is told
    apart by `<|file_separator|>`. `model_type` decides when the vocabulary is
    silent (a tokenizer that lost its added tokens, say).
    """
    for family in FAMILIES.values():
        if any(all(token in vocabulary for token in group) for group in family.detect):
            return family
    for family in FAMILIES.values():
        if model_type and model_type in family.model_types:
            return family
    raise FimError(
        "cannot tell which FIM format this model uses (no known FIM sentinel tokens in its vocabulary); "
        f"pass --fim-format with one of: {', '.join(FORMATS)}"
    )
