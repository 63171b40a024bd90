"""The Neovim plugin's pure helpers (ghost text, typing-through, settings checks) under `nvim -l`, and its help file."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

from tests.editors.nvim_driver import NVIM, PLUGIN, needs_nvim


@needs_nvim
def test_lua_helpers():
    script = Path(__file__).with_name("neovim_unit.lua")
    result = subprocess.run([NVIM, "--headless", "--clean", "-l", str(script), str(PLUGIN)],
                            capture_output=True, text=True, timeout=60)  # fmt: skip
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert " 0 failed" in output and "FAIL" not in output, output


@needs_nvim
def test_help_file_tags_are_unique_and_references_resolve(tmp_path):
    doc = tmp_path / "doc"
    shutil.copytree(PLUGIN / "doc", doc)
    result = subprocess.run([NVIM, "--headless", "--clean", "-c", f"helptags {doc}", "-c", "qa!"],
                            capture_output=True, text=True, timeout=60)  # fmt: skip
    assert result.returncode == 0 and "E154" not in result.stderr + result.stdout, result.stderr
    defined = {line.split("\t")[0] for line in (doc / "tags").read_text().splitlines()}
    text = (doc / "codegemma.txt").read_text()
    referenced = set(re.findall(r"\|([^|\s]+)\|", text))
    ours = {tag for tag in referenced if "codegemma" in tag.lower()}
    assert ours <= defined, ours - defined
    assert {"codegemma-setup", "codegemma-settings", ":CodegemmaHint", "codegemma.trigger()"} <= defined
