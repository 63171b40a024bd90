"""Load a model and its tokenizer from the bundled package, a directory, a GGUF file or the hub.

Whatever the source, the result is a `LoadedModel` whose FIM format has been
checked against the tokenizer: every sentinel must be exactly one token, so
the engine can stop on ids rather than on decoded text.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, TypeVar

from engine.errors import EngineError
from fim.errors import FimError
from fim.formats import FAMILIES, FimFormat, detect_family, get_format

log = logging.getLogger(__name__)
T = TypeVar("T")

#: What `--model` means when it is not given.
BUNDLED = "bundled"
#: Weight types for `--dtype`: auto picks for this CPU (`engine.cpu`); int8/int4 add decode weights
#: (`engine.quantize`) to the dense type this CPU reads prompts fastest in; `X+int8` names both.
DTYPES = ("auto", "float32", "bfloat16", "float16", "int8", "int4",
          "bfloat16+int8", "float32+int8", "bfloat16+int4", "float32+int4")  # fmt: skip


def resolve_dtype(name: str, device: str = "cpu") -> str:
    """What `auto`, `int8` and `int4` mean here, as a full name: `bfloat16+int8`, `float32+int8`, `float32`.

    On a GPU auto is bfloat16. On a CPU it is the plan for its kind (`engine.cpu.PLANS`).
    """
    from engine.cpu import cpu_plan

    if device != "cpu":
        if split_dtype(name)[1] or name in ("int8", "int4"):
            raise EngineError(f"--dtype {name} is for CPUs; on a GPU use bfloat16 or float16")
        return "bfloat16" if name == "auto" else name
    if name == "auto":
        return cpu_plan().dtype
    if name in ("int8", "int4"):
        return f"{cpu_plan().prompt}+{name}"
    return name


def split_dtype(name: str) -> tuple[str, str | None]:
    """(dense weight type, decode format or None) of a resolved `--dtype`."""
    dense, _, decode = name.partition("+")
    return dense, decode or None


@dataclass
class LoadedModel:
    model: Any
    tokenizer: Any
    #: What was asked for (`bundled`, a hub id, a path), for logs and `/v1/models`.
    name: str
    fim_format: FimFormat
    #: Token ids that end a completion: eos and every FIM sentinel.
    stop_ids: frozenset[int]
    dtype: str = "float32"
    device: str = "cpu"
    adapter: str | None = None
    load_seconds: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)

    def encode(self, text: str) -> list[int]:
        return self.tokenizer.encode(text, add_special_tokens=False)

    def count_tokens(self, text: str) -> int:
        return len(self.encode(text)) if text else 0


def describe_source(spec: str | None) -> tuple[str, str]:
    """Classify `--model`: ("bundled"|"gguf"|"dir"|"hub", normalised spec)."""
    if spec in (None, "", BUNDLED):
        return BUNDLED, BUNDLED
    path = Path(spec).expanduser()
    if spec.endswith(".gguf"):
        return "gguf", str(path)
    if path.is_dir():
        return "dir", str(path)
    looks_like_path = spec.startswith((".", "/", "~")) or spec.count("/") > 1 or "\\" in spec
    if looks_like_path or path.exists():
        raise EngineError(f"model not found: {spec} is neither a model directory nor a .gguf file")
    if spec.count("/") != 1:
        raise EngineError(f"--model {spec!r} is not a Hugging Face id (owner/name), a model directory or a .gguf file")
    return "hub", spec


def resolve_model_dir(spec: str | None) -> tuple[str, str]:
    """Turn `--model` into something `from_pretrained` can open without more questions."""
    kind, where = describe_source(spec)
    if kind == BUNDLED:
        from engine.bundled import BUNDLED_NAME, bundled_model_dir

        log.info(
            "no --model given: using the bundled model, %s. To use CodeGemma with your own weights, "
            "pass --model google/codegemma-2b (needs a Hugging Face token with the licence accepted) "
            "or --model /path/to/codegemma-2b",
            BUNDLED_NAME,
        )
        return kind, str(bundled_model_dir())
    if kind == "gguf":  # config and tokenizer only: `load_weights` reads the weights from the file itself
        from engine.gguf import check_gguf, gguf_config_dir

        check_gguf(Path(where))
        return kind, str(gguf_config_dir(Path(where)))
    if kind == "dir" and not (Path(where) / "config.json").is_file():
        raise EngineError(f"{where} has no config.json: it is not a Hugging Face model directory")
    return kind, where


def _hub_error(spec: str, exc: BaseException) -> EngineError:
    """Map the hub's exception zoo to one sentence a user can act on."""
    from huggingface_hub import errors as hub

    chain: list[BaseException] = []
    cur: BaseException | None = exc
    while cur is not None and len(chain) < 10:
        chain.append(cur)
        cur = cur.__cause__ or cur.__context__
    kinds = tuple(type(e) for e in chain)
    if any(issubclass(k, hub.GatedRepoError) for k in kinds) or "gated" in str(exc).lower():
        return EngineError(
            f"{spec} is a gated model: accept its licence on the Hugging Face hub and set HF_TOKEN, "
            "or pass a local directory or .gguf file"
        )
    if any(issubclass(k, hub.RepositoryNotFoundError) for k in kinds) or "not a valid model identifier" in str(exc):
        return EngineError(
            f"no model {spec!r} on the Hugging Face hub (or it is private and HF_TOKEN is not set); "
            "check the id, or pass a local directory or .gguf file"
        )
    if any(issubclass(k, hub.LocalEntryNotFoundError) for k in kinds) or "couldn't connect" in str(exc):
        return EngineError(
            f"cannot download {spec}: the Hugging Face hub is unreachable and the model is not in the local cache; "
            "pass a local directory or .gguf file, or leave --model out to use the bundled model"
        )
    return EngineError(f"cannot load {spec}: {exc}")


#: Matmul shapes whose compiled oneDNN kernels torch keeps, in each of its two caches (oneDNN's own and
#: ideep's), instead of their default 1024: see `bound_kernel_caches`.
KERNEL_CACHE_SHAPES = 16


def bound_kernel_caches() -> None:
    """Keep only the kernels of the last `KERNEL_CACHE_SHAPES` matmul shapes, so memory stays flat.

    Where bf16 is native, torch runs bf16 matmuls through oneDNN, which compiles
    a kernel for every new shape and keeps 1024 of them in each of two caches.
    Every prompt length and every decode step's cache length is a new shape for
    attention, so a server grew without end: 2.1 to 3.4 GB over 100 requests
    of different lengths on the bundled model, and still climbing (AMD EPYC Zen 5,
    AVX512-BF16, 2 threads). With 16 shapes it stayed at 2.2 GB and the 100
    requests took as long (108.7 s against 108.1 s; the linear layers' few
    shapes are used every step and stay cached). Both libraries read the
    variables when they first compile, so this must run before any torch work;
    a value the user set wins.
    """
    for name in ("ONEDNN_PRIMITIVE_CACHE_CAPACITY", "LRU_CACHE_CAPACITY"):
        os.environ.setdefault(name, str(KERNEL_CACHE_SHAPES))


def load_weights(spec: str | None, *, dtype: str = "float32", device: str = "cpu",
                 adapter: str | None = None) -> tuple[str, str, Any, Any]:  # fmt: skip
    """(kind, where, tokenizer, model) for `spec`, in eval mode with `dtype` weights and the adapter merged.

    The one place that turns a model source into torch objects, for completion and chat models alike.
    """
    if dtype not in DTYPES:
        raise EngineError(f"unknown --dtype {dtype!r}; choose one of {', '.join(DTYPES)}")
    bound_kernel_caches()
    dtype = resolve_dtype(dtype, device)
    dense, decode = split_dtype(dtype)
    kind, where = resolve_model_dir(spec)
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    torch_dtype = getattr(torch, dense)

    try:
        tokenizer = AutoTokenizer.from_pretrained(where)
        if kind == "gguf":
            from transformers import AutoConfig

            from engine.gguf import load_gguf_weights

            model = load_gguf_weights(Path(describe_source(spec)[1]), AutoConfig.from_pretrained(where), torch_dtype)
        else:
            model = AutoModelForCausalLM.from_pretrained(where, dtype=torch_dtype)
    except OSError as exc:
        if kind == "hub":
            raise _hub_error(where, exc) from None
        raise EngineError(f"cannot load the model in {where}: {exc}") from None
    except ValueError as exc:
        raise EngineError(f"cannot load {spec or where}: {exc}") from None
    if device == "cpu":  # torch's CPU SDPA is slow for a decode step's one query row (engine.attention)
        from engine.attention import use_small_query_attention

        use_small_query_attention(model)
    if adapter:
        model = apply_adapter(model, adapter)
    model.to(device)
    model.eval()
    if decode:
        from engine.quantize import quantize_model

        quantize_model(model, decode)
    release_freed_memory()
    return kind, where, tokenizer, model


def set_threads(threads: int | None) -> None:
    """Give torch `threads` CPU threads (every verb's `--threads`); None or 0 leaves its default, all cores."""
    if threads:
        import torch

        torch.set_num_threads(threads)


@contextlib.contextmanager
def one_thread() -> Iterator[None]:
    """Run the tensor work inside on the calling thread alone (a request thread's copy of a cached prompt).

    torch's OpenMP gives every thread that runs a parallel op its own team of
    worker threads, kept while that thread lives. Once more of them exist than
    cores, OpenMP stops letting idle workers spin, and every op of the model's
    own thread waits for its workers to wake: on a 2-core AMD EPYC a decode
    step of the bundled model went from 60 to 92 ms for the rest of the
    process after one prompt-cache copy in a server's request thread. With one
    thread, torch runs the op inline and no team is made. The thread count is
    per thread in OpenMP and MKL, so the model's thread keeps its own.
    """
    import torch

    before = torch.get_num_threads()
    if before == 1:
        yield
        return
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def in_passing_thread(work: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """`work(*args, **kwargs)` in a thread that ends with it, so the OpenMP workers its torch ops start end too.

    Loading runs parallel torch ops (conversion, quantisation). Run in a thread
    that lives on (the main thread of `codegemma complete`, `eval`, `bench`),
    they leave an idle OpenMP team behind, and with the batch scheduler's own
    team that is more workers than cores on a 2-core machine: OpenMP then
    puts idle workers to sleep at once, and every op of a decode step waits
    for them to wake (95 ms a step instead of 60, AMD EPYC; see `one_thread`).
    """
    box: dict[str, Any] = {}

    def run() -> None:
        try:
            box["value"] = work(*args, **kwargs)
        except BaseException as exc:  # handed to the caller below
            box["error"] = exc

    thread = threading.Thread(target=run, name="load", daemon=True)
    thread.start()
    thread.join()
    if "error" in box:
        raise box["error"]
    return box["value"]


def release_freed_memory() -> None:
    """Hand the heap that loading freed (float32 copies, conversion buffers) back to the OS.

    glibc keeps freed blocks for reuse, so without this the server's resident
    memory stays at the load's peak for its whole life. Elsewhere a no-op.
    """
    import ctypes
    import ctypes.util

    name = ctypes.util.find_library("c")
    if not name:
        return
    try:
        trim = ctypes.CDLL(name).malloc_trim
    except (OSError, AttributeError):  # not glibc
        return
    trim(0)


def check_format(tokenizer: Any, fmt: FimFormat, name: str) -> frozenset[int]:
    """Ids of the format's stop strings and eos; fails unless every sentinel is one token."""
    ids: set[int] = set()
    for sentinel in fmt.family.sentinels:
        encoded = tokenizer.encode(sentinel, add_special_tokens=False)
        if len(encoded) != 1:
            raise EngineError(
                f"{name}'s tokenizer has no single token for the FIM sentinel {sentinel!r} of format "
                f"{fmt.name!r} (it encodes to {len(encoded)} tokens); this model cannot infill in that format. "
                "Pick another with --fim-format or use a FIM-trained model"
            )
    for stop in fmt.family.stop_strings:
        encoded = tokenizer.encode(stop, add_special_tokens=False)
        if len(encoded) == 1:
            ids.add(encoded[0])
    eos = tokenizer.eos_token_id
    if isinstance(eos, int):
        ids.add(eos)
    return frozenset(ids)


def choose_format(tokenizer: Any, config: Any, forced: str | None) -> FimFormat:
    try:
        if forced:
            return get_format(forced)
        family = detect_family(tokenizer.get_vocab(), getattr(config, "model_type", None))
    except FimError as exc:
        raise EngineError(str(exc)) from None
    return get_format(family.name)


def load_model(
    spec: str | None = None,
    *,
    adapter: str | None = None,
    fim_format: str | None = None,
    dtype: str = "float32",
    device: str = "cpu",
) -> LoadedModel:
    """Load `spec` (see `describe_source`) ready for generation, with an optional LoRA adapter."""
    started = time.perf_counter()
    dtype = resolve_dtype(dtype, device)
    kind, where, tokenizer, model = in_passing_thread(load_weights, spec, dtype=dtype, device=device, adapter=adapter)
    name = spec or BUNDLED
    fmt = choose_format(tokenizer, model.config, fim_format)
    stop_ids = check_format(tokenizer, fmt, name)
    generation_eos = getattr(getattr(model, "generation_config", None), "eos_token_id", None)
    if isinstance(generation_eos, int):
        stop_ids |= {generation_eos}
    elif generation_eos:
        stop_ids |= set(generation_eos)
    seconds = time.perf_counter() - started
    log.info("loaded %s (%s, FIM format %s, %s on %s) in %.1f s", name, kind, fmt.name, dtype, device, seconds)
    return LoadedModel(
        model=model,
        tokenizer=tokenizer,
        name=name,
        fim_format=fmt,
        stop_ids=frozenset(stop_ids),
        dtype=dtype,
        device=device,
        adapter=adapter,
        load_seconds=seconds,
    )


def apply_adapter(model: Any, adapter: str) -> Any:
    """Put a peft LoRA adapter (directory) on top of `model`, merged for plain-speed inference."""
    path = Path(adapter).expanduser()
    if not (path / "adapter_config.json").is_file():
        raise EngineError(f"--adapter {adapter}: no adapter_config.json there; pass a directory saved by peft")
    from peft import PeftModel

    try:
        peft_model = PeftModel.from_pretrained(model, str(path))
    except (ValueError, RuntimeError, KeyError) as exc:
        raise EngineError(f"--adapter {adapter} does not fit this model: {exc}") from None
    log.info("applied LoRA adapter %s", path)
    return peft_model.merge_and_unload()


def known_formats() -> str:
    return ", ".join(FAMILIES)
