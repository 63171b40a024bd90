"""Prompt layouts: the exact strings of REFERENCE.md, for every family and order."""

from __future__ import annotations

import pytest

from fim.errors import FimError
from fim.formats import FORMATS, detect_family, get_format
from fim.prompt import ContextFile, FimInput, build_prompt, render_fim


def test_codegemma_psm_is_exact():
    fmt = get_format("codegemma")
    assert render_fim(fmt, "def f():\n    ", "\n") == "<|fim_prefix|>def f():\n    <|fim_suffix|>\n<|fim_middle|>"


def test_codegemma_spm_both_variants():
    v1 = get_format("codegemma-spm")
    v2 = get_format("codegemma-spm-v2")
    assert render_fim(v1, "P", "S") == "<|fim_suffix|>S<|fim_prefix|>P<|fim_middle|>"
    assert render_fim(v2, "P", "S") == "<|fim_prefix|><|fim_suffix|>S<|fim_middle|>P"
    assert v2.prefix_last and not get_format("codegemma").prefix_last


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("qwen2.5-coder", "<|fim_prefix|>P<|fim_suffix|>S<|fim_middle|>"),
        ("starcoder2", "<fim_prefix>P<fim_suffix>S<fim_middle>"),
        ("deepseek-coder", "<｜fim▁begin｜>P<｜fim▁hole｜>S<｜fim▁end｜>"),
        ("codellama", "<PRE> P <SUF>S <MID>"),
    ],
)
def test_other_families_psm(name, expected):
    assert render_fim(get_format(name), "P", "S") == expected


def test_text_with_braces_and_placeholders_is_kept_verbatim():
    fmt = get_format("codegemma")
    prefix, suffix = "x = '{prefix}' {PRE} {", "} {suffix}"
    assert render_fim(fmt, prefix, suffix) == f"<|fim_prefix|>{prefix}<|fim_suffix|>{suffix}<|fim_middle|>"


def test_codegemma_multi_file_and_path_line():
    fmt = get_format("codegemma")
    fim = FimInput(
        prefix="import util\n",
        suffix="",
        path="src/main.py",
        context=(ContextFile("src/util.py", "def helper(): pass\n"),),
    )
    assert build_prompt(fmt, fim) == (
        "src/util.py\ndef helper(): pass\n<|file_separator|>"
        "src/main.py\n<|fim_prefix|>import util\n<|fim_suffix|><|fim_middle|>"
    )


def test_qwen_repo_form():
    fmt = get_format("qwen2.5-coder")
    fim = FimInput(prefix="a", suffix="b", path="m.py", context=(ContextFile("u.py", "x = 1"),), repo="demo")
    assert build_prompt(fmt, fim) == (
        "<|repo_name|>demo\n<|file_sep|>u.py\nx = 1\n<|file_sep|>m.py\n<|fim_prefix|>a<|fim_suffix|>b<|fim_middle|>"
    )


def test_family_without_multi_file_form_gets_bare_fim():
    fmt = get_format("codellama")
    fim = FimInput(prefix="a", suffix="b", path="m.py", context=(ContextFile("u.py", "x"),))
    assert build_prompt(fmt, fim) == "<PRE> a <SUF>b <MID>"


def test_training_middle_follows_prompt():
    fmt = get_format("codegemma")
    assert build_prompt(fmt, FimInput("a", "c"), middle="b<|file_separator|>").endswith(
        "<|fim_middle|>b<|file_separator|>"
    )


def test_every_registered_format_renders_prefix_and_suffix_once():
    for fmt in FORMATS.values():
        out = render_fim(fmt, "PREFIXTEXT", "SUFFIXTEXT")
        assert out.count("PREFIXTEXT") == 1 and out.count("SUFFIXTEXT") == 1, fmt.name
        for sentinel in (fmt.family.pre, fmt.family.suf, fmt.family.mid):
            assert sentinel in out, (fmt.name, sentinel)


def test_unknown_format_names_the_known_ones():
    with pytest.raises(FimError, match="codegemma-spm"):
        get_format("codegemma-xyz")


@pytest.mark.parametrize(
    ("vocab", "model_type", "family"),
    [
        ({"<|fim_prefix|>", "<|file_separator|>"}, None, "codegemma"),
        ({"<|fim_prefix|>", "<|file_sep|>"}, None, "qwen2.5-coder"),
        ({"<fim_prefix>", "<file_sep>"}, None, "starcoder2"),
        ({"<｜fim▁begin｜>"}, None, "deepseek-coder"),
        ({"▁<PRE>", "▁<SUF>"}, None, "codellama"),
        (set(), "gemma", "codegemma"),
    ],
)
def test_detect_family(vocab, model_type, family):
    assert detect_family(vocab, model_type).name == family


def test_detect_family_fails_with_advice():
    with pytest.raises(FimError, match="--fim-format"):
        detect_family({"hello"}, "llama")
