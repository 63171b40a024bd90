"""Token-budget fitting: whole lines dropped farthest from the cursor first."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from fim.budget import fit, keep_head, keep_tail
from fim.prompt import ContextFile, FimInput


def words(text: str) -> int:
    """A stand-in tokenizer: one token per whitespace-separated word and per newline."""
    return len(text.split()) + text.count("\n")


PREFIX = "".join(f"line{i} a b\n" for i in range(100)) + "    cur"
SUFFIX = "sfx\n" + "".join(f"after{i} c d\n" for i in range(100))


def test_nothing_cut_when_it_fits():
    fim = FimInput("a b\n", "c\n")
    fitted = fit(fim, 100, words)
    assert fitted.fim == fim and not fitted.truncated


def test_prefix_keeps_lines_nearest_cursor_and_whole_lines():
    fitted = fit(FimInput(PREFIX, SUFFIX), 80, words)
    prefix, suffix = fitted.fim.prefix, fitted.fim.suffix
    assert fitted.truncated
    assert PREFIX.endswith(prefix) and prefix.endswith("    cur")
    assert PREFIX[: len(PREFIX) - len(prefix)].endswith("\n")  # cut at a line start
    assert SUFFIX.startswith(suffix) and (suffix == "" or suffix.endswith("\n"))
    assert words(prefix) + words(suffix) <= 80
    # The prefix gets about three quarters of the budget.
    assert words(prefix) > words(suffix)


def test_short_side_gives_its_share_to_the_other():
    fitted = fit(FimInput(PREFIX, "x\n"), 80, words)
    assert fitted.fim.suffix == "x\n"
    assert words(fitted.fim.prefix) > 0.75 * 80


def test_context_files_fill_what_is_left_most_relevant_first():
    ctx = (ContextFile("far.py", "f " * 50), ContextFile("near.py", "n " * 10))
    fitted = fit(FimInput("a\n", "b\n", context=ctx), 20, words)
    assert [c.path for c in fitted.fim.context] == ["near.py"]
    assert fitted.truncated


def test_cache_stable_start_while_typing_on_one_line():
    """Typing on the cursor line must not move where the prefix starts on every keystroke."""
    base = "".join(f"line{i} a b\n" for i in range(100))
    starts = set()
    for n in range(1, 6):
        prefix = base + "x" * n
        kept = keep_tail(prefix, 120, words)
        starts.add(len(prefix) - len(kept))
    assert len(starts) == 1


def test_overlong_single_line_is_cut_between_words():
    line = " ".join(f"w{i}" for i in range(50))
    kept = keep_tail(line, 10, words)
    assert line.endswith(kept) and words(kept) <= 10 and kept.split()[0].startswith("w")
    assert line[len(line) - len(kept) - 1] == " "
    head = keep_head(line, 10, words)
    assert line.startswith(head) and words(head) <= 10


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.text(alphabet="ab \t", max_size=12), max_size=30),
    st.lists(st.text(alphabet="cd ", max_size=12), max_size=30),
    st.integers(min_value=1, max_value=60),
)
def test_fit_is_a_window_around_the_cursor(pre_lines, suf_lines, budget):
    prefix, suffix = "\n".join(pre_lines), "\n".join(suf_lines)
    fitted = fit(FimInput(prefix, suffix), budget, words).fim
    assert prefix.endswith(fitted.prefix) and suffix.startswith(fitted.suffix)
    assert words(fitted.prefix) + words(fitted.suffix) <= budget
