"""fim.splits: training middles are whole syntax nodes, reproducible, and always cover the document."""

from __future__ import annotations

import random
from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fim import syntax
from fim.errors import FimError
from fim.splits import KIND_WEIGHTS, sample_middle, sample_split
from tests.fim.test_syntax import SAMPLES, sample


def node_aligned(text: str, language: str, start: int, end: int) -> bool:
    """True when text[start:end] is exactly one node, or a run of named siblings."""
    source = syntax.Source(text)
    tree = source.parse(language)
    b0, b1 = source.byte(start), source.byte(end)
    stack = [tree.root_node]
    while stack:
        node = stack.pop()
        if node.start_byte > b0 or node.end_byte < b1:
            continue
        if (node.start_byte, node.end_byte) == (b0, b1):
            return True
        kids = node.named_children
        firsts = [i for i, k in enumerate(kids) if k.start_byte == b0]
        lasts = [i for i, k in enumerate(kids) if k.end_byte == b1]
        if firsts and lasts and firsts[0] <= lasts[-1]:
            return True
        stack.extend(node.children)
    return False


def strip_lines(text: str, start: int, end: int) -> tuple[int, int]:
    """Undo the whole-line widening: drop leading indentation and the trailing line break."""
    while start < end and text[start] in " \t":
        start += 1
    if text[start:end].endswith("\r\n"):
        end -= 2
    elif text[start:end].endswith("\n"):
        end -= 1
    return start, end


@pytest.mark.parametrize("language", sorted(SAMPLES))
def test_node_middles_are_node_aligned(language):
    text = sample(language)
    rng = random.Random(1)
    kinds = Counter()
    for _ in range(60):
        split = sample_split(text, language, rng, random_span_rate=0.0)
        kinds[split.kind] += 1
        assert split.kind in KIND_WEIGHTS
        start, end = strip_lines(text, split.start, split.end) if split.whole_lines else (split.start, split.end)
        assert node_aligned(text, language, start, end), (split, text[split.start : split.end])
    assert len(kinds) >= 3, kinds  # several kinds are drawn, not just one


def test_whole_line_middles_start_and_end_on_line_boundaries():
    text = sample("python")
    rng = random.Random(3)
    splits = [sample_split(text, "python", rng, random_span_rate=0.0) for _ in range(200)]
    whole = [s for s in splits if s.whole_lines]
    assert whole and len(whole) < len(splits)
    for s in whole:
        assert s.start == 0 or text[s.start - 1] == "\n"
        assert text[s.end - 1] == "\n"


def test_random_span_share_is_respected():
    text = sample("go")
    rng = random.Random(5)
    kinds = [sample_split(text, "go", rng).kind for _ in range(1000)]
    share = kinds.count("random") / len(kinds)
    assert 0.06 < share < 0.14
    assert all(sample_split(text, "go", rng, random_span_rate=1.0).kind == "random" for _ in range(20))
    assert all(sample_split(text, "go", rng, random_span_rate=0.0).kind != "random" for _ in range(20))


def test_unknown_language_uses_whole_lines():
    text = "line one\nline two\nline three\n"
    rng = random.Random(0)
    for _ in range(30):
        split = sample_split(text, None, rng, random_span_rate=0.0)
        assert split.kind == "lines"
        assert split.start == 0 or text[split.start - 1] == "\n"
        assert text[split.end - 1] == "\n"


def test_file_with_syntax_errors_still_gives_clean_nodes():
    text = sample("python").replace("return counts", "return counts +", 1)
    rng = random.Random(2)
    tree = syntax.parse(text, "python")
    assert syntax.has_error(tree.root_node)
    for _ in range(40):
        split = sample_split(text, "python", rng, random_span_rate=0.0)
        middle = text[split.start : split.end]
        assert middle and "return counts +" not in middle


def test_non_ascii_crlf_and_tabs():
    text = 'def f(x):\r\n\t"""Grüße 👋"""\r\n\tif x:\r\n\t\treturn "世界"\r\n\treturn x\r\n'
    rng = random.Random(4)
    for _ in range(50):
        split = sample_split(text, "python", rng, random_span_rate=0.0)
        start, end = strip_lines(text, split.start, split.end) if split.whole_lines else (split.start, split.end)
        assert node_aligned(text, "python", start, end)


def test_bad_rate_is_a_clear_error():
    with pytest.raises(FimError, match="random_span_rate"):
        sample_middle("x = 1", "python", random.Random(0), random_span_rate=1.5)


def test_empty_document():
    assert sample_middle("", "python", random.Random(0)) == (0, 0)


documents = st.one_of(
    st.text(max_size=300),
    st.sampled_from(sorted(SAMPLES)).map(sample),
    st.lists(st.sampled_from(sample("python").splitlines(keepends=True)), max_size=30).map("".join),
)
languages = st.sampled_from([None, *syntax.LANGUAGES])


@settings(max_examples=150, deadline=None)
@given(text=documents, language=languages, seed=st.integers(0, 2**32 - 1), rate=st.sampled_from([0.0, 0.1, 1.0]))
def test_split_properties(text, language, seed, rate):
    start, end = sample_middle(text, language, random.Random(seed), random_span_rate=rate)
    assert 0 <= start <= end <= len(text)
    prefix, middle, suffix = text[:start], text[start:end], text[end:]
    assert prefix + middle + suffix == text
    assert (middle != "") == (text != "")
    # Deterministic for a seed.
    assert sample_middle(text, language, random.Random(seed), random_span_rate=rate) == (start, end)


@settings(max_examples=60, deadline=None)
@given(
    lines=st.lists(st.sampled_from(sample("python").splitlines(keepends=True)), min_size=1, max_size=40),
    seed=st.integers(0, 2**32 - 1),
)
def test_node_middles_of_generated_python_are_node_aligned(lines, seed):
    text = "".join(lines)
    split = sample_split(text, "python", random.Random(seed), random_span_rate=0.0)
    if split.kind == "lines":
        return  # no usable node in this shuffle of lines
    start, end = strip_lines(text, split.start, split.end) if split.whole_lines else (split.start, split.end)
    assert node_aligned(text, "python", start, end)
