"""Check GGUF files and convert them once into cached safetensors directories."""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import tempfile
from pathlib import Path

from engine.errors import EngineError

log = logging.getLogger(__name__)

GGUF_MAGIC = b"GGUF"


def check_gguf(path: Path) -> None:
    """Fail with a clear message unless `path` is a complete, readable GGUF file."""
    if not path.is_file():
        raise EngineError(f"model file not found: {path}")
    with open(path, "rb") as f:
        magic = f.read(4)
    if magic != GGUF_MAGIC:
        raise EngineError(f"{path} is not a GGUF file (it starts with {magic!r}, not {GGUF_MAGIC!r})")
    from gguf import GGUFReader

    try:
        reader = GGUFReader(str(path))
        size = path.stat().st_size
        for tensor in reader.tensors:
            if tensor.data_offset + tensor.n_bytes > size:
                raise ValueError(f"tensor {tensor.name} runs past the end of the file")
    except (ValueError, IndexError, OSError) as exc:
        raise EngineError(f"{path} is a corrupt or truncated GGUF file ({exc}); download it again") from None


def converted_dir_for(path: Path) -> Path:
    """Cache location for a user's GGUF file, keyed by its path, size and mtime."""
    from engine.bundled import cache_root

    stat = path.stat()
    key = hashlib.sha256(f"{path.resolve()}:{stat.st_size}:{stat.st_mtime_ns}".encode()).hexdigest()[:16]
    return cache_root() / "gguf" / f"{path.stem}-{key}"


def convert_gguf(path: Path, target: Path) -> Path:
    """Dequantise `path` into a float32 safetensors directory at `target`.

    The directory is written beside `target` and renamed into place, so an
    interrupted conversion leaves nothing that looks finished.
    """
    check_gguf(path)
    from transformers import AutoModelForCausalLM, AutoTokenizer

    target.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}-"))
    try:
        log.info("converting %s (dequantising; done once, then cached in %s)", path.name, target)
        tokenizer = AutoTokenizer.from_pretrained(str(path.parent), gguf_file=path.name)
        model = AutoModelForCausalLM.from_pretrained(str(path.parent), gguf_file=path.name)
        # The weights are plain float32 now; drop the GGUF quantizer marker so
        # transformers agrees to save them.
        model.hf_quantizer = None
        if hasattr(model.config, "quantization_config"):
            del model.config.quantization_config
        model.save_pretrained(work)
        tokenizer.save_pretrained(work)
        del model
        if target.exists():
            shutil.rmtree(target)
        os.replace(work, target)
    except EngineError:
        raise
    except Exception as exc:
        raise EngineError(f"could not convert {path}: {exc}") from exc
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return target
