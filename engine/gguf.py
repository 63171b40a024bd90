"""Check GGUF files and load them tensor by tensor, so a quantised file never becomes a float32 model.

A GGUF file is read through a memory map; each tensor is dequantised on its
own (the `gguf` package's numpy dequantisers), cast to the dense weight type
of this CPU's plan and put in place, so the peak is the model in that type
plus one tensor in float32. The decode copies (`engine.quantize`) are made
from those weights afterwards, one layer at a time. Its config and tokenizer
(slow to convert: the vocabulary is in the file) are cached once in a small
directory. The bundled model still uses `convert_gguf`'s converted directory,
which starts faster than dequantising on every start.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from engine.errors import EngineError

log = logging.getLogger(__name__)

GGUF_MAGIC = b"GGUF"
#: Tensor types `load_gguf_weights` reads: the float types, the block quants and the K-quants.
SUPPORTED_TYPES = ("F32", "F16", "BF16", "Q8_0", "Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q2_K", "Q3_K", "Q4_K", "Q5_K", "Q6_K")
#: GGUF architectures whose tensors transformers stores differently (llama's q/k rows permuted, Gemma norms - 1).
#: Gemma (CodeGemma's architecture) is not among transformers' GGUF architectures; its norms are stored + 1 too.
NORM_OFFSET_ARCHS = ("gemma", "gemma2", "gemma3")


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


def gguf_config_dir(path: Path) -> Path:
    """A directory with `path`'s config and tokenizer (no weights), made once: the vocabulary takes a while."""
    target = converted_dir_for(path).with_name(converted_dir_for(path).name + "-meta")
    if (target / "config.json").is_file():
        return target
    from transformers import AutoConfig, AutoTokenizer

    target.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}-"))
    try:
        log.info("reading %s's config and tokenizer (once, then cached in %s)", path.name, target)
        AutoTokenizer.from_pretrained(str(path.parent), gguf_file=path.name).save_pretrained(work)
        config = AutoConfig.from_pretrained(str(path.parent), gguf_file=path.name)
        config.save_pretrained(work)
        if target.exists():
            shutil.rmtree(target)
        os.replace(work, target)
    except Exception as exc:
        raise EngineError(f"could not read {path}'s config and tokenizer: {exc}") from exc
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return target


def load_gguf_weights(path: Path, config: Any, dtype: Any) -> Any:
    """A causal LM built from `config` with `path`'s weights in torch dtype `dtype`, read one tensor at a time."""
    import torch
    from gguf import GGUFReader, dequantize
    from transformers import AutoModelForCausalLM
    from transformers.modeling_gguf_pytorch_utils import LlamaTensorProcessor, TensorProcessor, get_gguf_hf_weights_map

    reader = GGUFReader(str(path))
    for tensor in reader.tensors:
        if tensor.tensor_type.name not in SUPPORTED_TYPES:
            raise EngineError(
                f"{path.name}: tensor {tensor.name} is {tensor.tensor_type.name}, which this loader does not read; "
                f"it reads {', '.join(SUPPORTED_TYPES)} (re-quantise the file to one of them, e.g. Q4_K_M)"
            )
    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(config, dtype=dtype)
    processor = (LlamaTensorProcessor if config.model_type == "llama" else TensorProcessor)(config=config.to_dict())
    arch = _gguf_arch(reader, config.model_type)
    names = get_gguf_hf_weights_map(model, processor, model_type=arch)
    for tensor in reader.tensors:
        if tensor.name not in names:
            continue
        weights = dequantize(tensor.data, tensor.tensor_type)  # this tensor only, float32
        weights = processor.process(weights=weights, name=tensor.name).weights
        if arch in NORM_OFFSET_ARCHS and tensor.name.endswith("norm.weight"):
            weights = weights - 1
        _put(model, names[tensor.name], torch.tensor(weights, dtype=dtype))  # a copy: the file is read-only
        del weights
    if getattr(config, "tie_word_embeddings", False):
        model.tie_weights()
    missing = [name for name, p in model.named_parameters() if p.is_meta]
    if missing:
        raise EngineError(f"{path.name} has no tensor for {', '.join(missing[:3])} (and {len(missing)} in all)")
    _rebuild_meta_buffers(model)
    return model


def _gguf_arch(reader: Any, default: str) -> str:
    field = reader.fields.get("general.architecture")
    return bytes(field.parts[field.data[0]]).decode() if field else default


def _put(model: Any, name: str, value: Any) -> None:
    """Replace the (meta) parameter `name` of `model` with `value`."""
    import torch

    owner, _, leaf = name.rpartition(".")
    module = model.get_submodule(owner)
    expected = getattr(module, leaf).shape
    if value.shape != expected:
        raise EngineError(f"GGUF tensor for {name} has shape {tuple(value.shape)}, the config says {tuple(expected)}")
    setattr(module, leaf, torch.nn.Parameter(value, requires_grad=False))


def _rebuild_meta_buffers(model: Any) -> None:
    """Buffers computed at construction (rotary frequencies) are still on the meta device: build them again."""
    for name, module in list(model.named_modules()):
        if any(b.is_meta for b in module.buffers(recurse=False)):
            owner, _, leaf = name.rpartition(".")
            setattr(model.get_submodule(owner), leaf, type(module)(config=model.config))
