"""Every `codegemma` verb (and sub-verb) answers `--help` with exit 0 and at least one example command."""

from __future__ import annotations

import argparse
import contextlib
import io
import subprocess
import sys

import pytest

from cli.main import COMMANDS, build_parser


def leaves(parser: argparse.ArgumentParser, words: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Every command path below `parser`: ("serve",), ("eval", "humaneval-infill"), ..."""
    found = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, child in action.choices.items():
                found.append((*words, name))
                found.extend(leaves(child, (*words, name)))
    return found


PARSER, _ = build_parser()
PATHS = leaves(PARSER)


def help_text(words: tuple[str, ...]) -> str:
    out = io.StringIO()
    with contextlib.redirect_stdout(out), pytest.raises(SystemExit) as exit_info:
        build_parser()[0].parse_args([*words, "--help"])
    assert exit_info.value.code == 0, words
    return out.getvalue()


def test_every_verb_is_reachable():
    assert set(COMMANDS) <= {path[0] for path in PATHS}


@pytest.mark.parametrize("words", PATHS, ids=" ".join)
def test_help_exits_0_and_shows_an_example(words):
    """A verb's own help shows `codegemma VERB ...`; a sub-verb's (`eval report`) its own or its verb's does."""
    command = "codegemma " + " ".join(words)
    texts = [help_text(words[:n]) for n in range(len(words), 0, -1)]
    examples = [line for text in texts for line in text.splitlines() if line.strip().startswith(command)]
    assert examples, f"neither `{command} --help` nor its verb's help shows an example:\n{texts[0]}"


def test_console_script_and_module_run_the_same_parser():
    for command in (["codegemma", "--help"], [sys.executable, "-m", "cli", "--help"]):
        done = subprocess.run(command, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        assert all(verb in done.stdout for verb in COMMANDS), done.stdout
