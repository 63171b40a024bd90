"""Where completions end: stop strings, streaming holdback, suffix repeats, n_indent."""

from __future__ import annotations

from fim.postprocess import completion_filter

SENTINELS = ("<|fim_prefix|>", "<|fim_suffix|>", "<|fim_middle|>", "<|file_sep|>")


def feed(f, text: str) -> tuple[str, str]:
    """Feed `text` one character at a time like a decoder; return (streamed, final)."""
    shown = 0
    streamed = ""
    for i in range(1, len(text) + 1):
        verdict = f.check(text[:i])
        if verdict.stable > shown:
            streamed += text[shown : verdict.stable]
            shown = verdict.stable
        if verdict.cut is not None:
            return streamed, text[: verdict.cut]
    final, _ = f.finish(text)
    return streamed, final


def test_stops_before_sentinel_and_never_streams_part_of_it():
    f = completion_filter(stop_words=SENTINELS, raw=True)
    streamed, final = feed(f, "x = 1<|file_sep|>other.py")
    assert final == "x = 1"
    assert streamed == "x = 1"


def test_user_stop_word_is_reported():
    f = completion_filter(stop_words=(*SENTINELS, "\n\n"), raw=True)
    verdict = f.check("a = 1\n\nb = 2")
    assert verdict.cut == 5 and verdict.word == "\n\n"


def test_raw_keeps_suffix_repeats():
    suffix = "\n    return total\n"
    text = "total += x\n    return total\n"
    _, raw_final = feed(completion_filter(stop_words=SENTINELS, suffix=suffix, raw=True, prefix="    "), text)
    assert raw_final == text


def test_drops_repeat_of_the_line_below_the_cursor():
    prefix = "def f(xs):\n    total = 0\n    for x in xs:\n        "
    suffix = "\n    return total\n"
    f = completion_filter(stop_words=SENTINELS, prefix=prefix, suffix=suffix)
    streamed, final = feed(f, "total += x\n    return total\n\ndef g():\n")
    assert final == "total += x\n"
    assert "return total" not in streamed


def test_short_lines_need_a_second_matching_line():
    suffix = "\n}\n\nfunction next() {\n"
    f = completion_filter(stop_words=SENTINELS, prefix="  if (a) {\n    ", suffix=suffix)
    # The first `}` closes the completion's own block; only `}` followed by the suffix's next line repeats it.
    _, final = feed(f, "b();\n  }\n}\nfunction next() {\n")
    assert final == "b();\n  }\n"


def test_whitespace_only_completion_becomes_empty():
    f = completion_filter(stop_words=SENTINELS)
    assert f.finish("   \n  ")[0] == ""


def test_n_indent_ends_at_a_dedent():
    f = completion_filter(stop_words=SENTINELS, n_indent=4, raw=True)
    _, final = feed(f, "x = 1\n    y = 2\nz = 3\n")
    assert final == "x = 1\n    y = 2"


def test_non_ascii_text_passes_through():
    f = completion_filter(stop_words=SENTINELS, suffix="\nprint(s)\n", prefix="s = ")
    streamed, final = feed(f, "'héllo 👋 世界'")
    assert final == "'héllo 👋 世界'" and streamed == final


def test_suffix_echo_ignores_spacing_inside_the_line_but_not_indentation():
    from fim.postprocess import SuffixRepeat

    # The next suffix line written again with other spacing is still the suffix.
    rule = SuffixRepeat('        res.append("a" + str(n) +"b")\n    return res\n', at_line_start=True)
    text = '        n = count(arr)\n        res.append("a" + str(n) + "b")\n'
    assert rule.cut(text, final=True) == len("        n = count(arr)\n")
    # A later suffix line at another depth is another statement: `return x` ending an inner
    # block is not the function's final `return x`.
    rule = SuffixRepeat(
        "\n    for i in range(4, n + 1):\n        acc += i\n    return results[-1]\n", at_line_start=True
    )
    assert rule.cut("        return results[-1]\n", final=True) is None
    assert rule.cut("        x = 1\n    return results[-1]\n", final=True) == len("        x = 1\n")
