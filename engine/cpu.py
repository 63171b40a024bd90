"""Which weights are fastest on this CPU: the kind of CPU, and the table from kind to weight plan.

Reading a prompt is bound by arithmetic, decoding one token by the bytes of
weight each step reads, so a plan names two things: the dense weight type for
prompt chunks, and a compact format for decode steps and speculative checks
(`engine.quantize`). Kernels, 2 threads, one 896x4864 projection, ms
(AVX2 figures from issue #13, a real AVX2 CPU without AVX-512; AVX512-BF16
figures on the development AMD EPYC, 1 thread, 24 weights cycled so they do
not sit in cache, min of 15):

| CPU | rows | fp32 | bf16 | int8 weights, bf16 activations | int4 group 32, bf16 activations |
|---|---|---|---|---|---|
| AVX2 | 1 | 1.73 | 0.80 | 0.57 | 0.41 |
| AVX2 | 256 | 28 | 133 | 41 | 51 |
| AVX512-BF16 | 1 | 1.11 | 0.67 | 0.27 | 0.19 |
| AVX512-BF16 | 4 | 1.77 | 0.59 | 0.34 | 0.41 |

So bf16 prompts pay only where bf16 is native, and int8 or int4 decode weights
(activations cast to bf16 for the call) pay everywhere torch has the kernels.
torch's int8 GEMM (`_int_mm`, int8 activations) is no help for prompts there.
torchao 0.18 (the release for torch 2.13) was checked: on CPU its int8 and
int4 weight-only layouts call these same two torch kernels, and its wheel has
no CPU kernels of its own, so the engine calls torch directly.
"""

from __future__ import annotations

import functools
import platform
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class WeightPlan:
    """What `--dtype auto` loads on one kind of CPU."""

    #: Dense weight type for prompt chunks (more than `engine.quantize.DENSE_ROWS` rows).
    prompt: str
    #: Compact weights for decode steps and speculative checks ("int8", "int4"), or None for dense only.
    decode: str | None

    @property
    def dtype(self) -> str:
        """The `--dtype` name of this plan, as logs and `/health` show it: `bfloat16+int8`, `float32`."""
        return f"{self.prompt}+{self.decode}" if self.decode else self.prompt


#: CPU kind -> plan. int4 decodes a single row faster than int8, but int8 is what holds quality
#: (README "Models": HumanEval single-line, same 100 tasks) and is no slower for speculative checks.
PLANS: dict[str, WeightPlan] = {
    "amx": WeightPlan("bfloat16", "int8"),
    "avx512_bf16": WeightPlan("bfloat16", "int8"),
    "avx512": WeightPlan("float32", "int8"),
    "avx2": WeightPlan("float32", "int8"),
    # Not measured: torch's int8/int4 weight kernels on ARM are generic vector code, so ARM keeps float32.
    "arm": WeightPlan("float32", None),
    "other": WeightPlan("float32", None),
}


#: The cpuinfo flags that decide a plan or explain a benchmark, as `describe_cpu` lists them.
REPORTED_FLAGS = ("avx2", "avx512f", "avx512_vnni", "avx512_bf16", "amx_bf16", "amx_int8", "bf16", "sve")


def cpu_flags(cpuinfo: str | None = None) -> frozenset[str]:
    """The CPU's feature flags from /proc/cpuinfo (`flags` on x86, `Features` on ARM); empty elsewhere."""
    if cpuinfo is None:
        try:
            cpuinfo = Path("/proc/cpuinfo").read_text(errors="replace")
        except OSError:
            return frozenset()
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("flags", "Features"):
            return frozenset(value.split())
    return frozenset()


def cpu_kind(flags: frozenset[str], capability: str, machine: str) -> str:
    """One of `PLANS`' kinds, from cpuinfo flags, torch's CPU capability and the machine architecture.

    torch's capability (`torch.backends.cpu.get_cpu_capability()`: AVX512, AVX2, DEFAULT, SVE256...) says
    which kernels torch really runs, so `ATEN_CPU_CAPABILITY=avx2` on an AVX-512 CPU is planned as AVX2.
    """
    if machine.lower() in ("aarch64", "arm64") or capability.upper().startswith(("SVE", "NEON")):
        return "arm"
    capability = capability.upper()
    if capability == "AVX512":
        if "amx_bf16" in flags:
            return "amx"
        return "avx512_bf16" if "avx512_bf16" in flags else "avx512"
    return "avx2" if capability == "AVX2" else "other"


@functools.cache
def this_cpu() -> str:
    """This machine's kind (see `cpu_kind`)."""
    import torch

    return cpu_kind(cpu_flags(), torch.backends.cpu.get_cpu_capability(), platform.machine())


def cpu_plan(kind: str | None = None) -> WeightPlan:
    """The plan for `kind` (this machine's when None)."""
    return PLANS[kind or this_cpu()]


def describe_cpu() -> str:
    """CPU model, the flags the plan depends on, and cores: the line every benchmark report carries."""
    import os

    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text(errors="replace").splitlines():
            if line.startswith("model name"):
                model = line.partition(":")[2].strip()
                break
    except OSError:
        pass
    flags = cpu_flags()
    shown = " ".join(f for f in REPORTED_FLAGS if f in flags) or "no vector flags"
    return f"{model or platform.machine()} ({shown}; kind {this_cpu()}), {os.cpu_count()} cores"
