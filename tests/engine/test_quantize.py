"""Weight types: what `auto` picks on each kind of CPU, and the int8/int4 decode weights."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from engine.backend import CompletionRequest
from engine.cpu import PLANS, cpu_flags, cpu_kind, cpu_plan
from engine.errors import EngineError
from engine.local import LocalBackend
from engine.loading import load_model, resolve_dtype
from engine.quantize import DENSE_ROWS, DecodeLinear, quantize_model, with_decode_weights

X86 = "processor\t: 0\nmodel name\t: Some CPU\nflags\t\t: fpu sse2 avx2 fma {extra}\n\nprocessor\t: 1\n"
ARM = "processor\t: 0\nFeatures\t: fp asimd evtstrm aes bf16 sve\nCPU implementer\t: 0x41\n"


@pytest.mark.parametrize(
    ("cpuinfo", "capability", "machine", "kind", "dtype"),
    [
        (X86.format(extra="avx512f avx512_bf16 amx_bf16 amx_tile"), "AVX512", "x86_64", "amx", "bfloat16+int8"),
        (X86.format(extra="avx512f avx512_vnni avx512_bf16"), "AVX512", "x86_64", "avx512_bf16", "bfloat16+int8"),
        (X86.format(extra="avx512f avx512_vnni"), "AVX512", "x86_64", "avx512", "float32+int8"),
        (X86.format(extra=""), "AVX2", "x86_64", "avx2", "float32+int8"),
        # torch limited to AVX2 kernels (ATEN_CPU_CAPABILITY=avx2) on an AVX512-BF16 CPU plans as AVX2.
        (X86.format(extra="avx512f avx512_bf16"), "AVX2", "x86_64", "avx2", "float32+int8"),
        (ARM, "SVE256", "aarch64", "arm", "float32"),
        (ARM, "DEFAULT", "aarch64", "arm", "float32"),
        ("flags\t: fpu sse2\n", "DEFAULT", "x86_64", "other", "float32"),
        ("", "DEFAULT", "x86_64", "other", "float32"),
    ],
)
def test_each_kind_of_cpu_gets_its_plan(cpuinfo, capability, machine, kind, dtype):
    assert cpu_kind(cpu_flags(cpuinfo), capability, machine) == kind
    assert cpu_plan(kind).dtype == dtype


def test_bf16_prompt_weights_only_where_bf16_is_native():
    for kind, plan in PLANS.items():
        assert (plan.prompt == "bfloat16") == (kind in ("amx", "avx512_bf16"))


def test_auto_int8_and_int4_resolve_to_this_cpus_plan():
    plan = cpu_plan()
    assert resolve_dtype("auto") == plan.dtype
    assert resolve_dtype("int8") == f"{plan.prompt}+int8" and resolve_dtype("int4") == f"{plan.prompt}+int4"
    assert resolve_dtype("float32") == "float32" and resolve_dtype("float32+int4") == "float32+int4"
    assert resolve_dtype("auto", device="cuda") == "bfloat16"


@pytest.mark.parametrize("fmt", ["int8", "int4"])
@pytest.mark.parametrize("dense", [torch.bfloat16, torch.float32])
def test_decode_rows_are_close_to_the_dense_product_and_prompt_chunks_are_exact(fmt, dense):
    torch.manual_seed(0)
    linear = nn.Linear(256, 512, bias=True).to(dense)
    layer = DecodeLinear.from_linear(linear, fmt)
    few = torch.randn(1, 3, 256, dtype=dense)
    many = torch.randn(1, DENSE_ROWS + 10, 256, dtype=dense)
    with torch.inference_mode():
        out, ref = layer(few), linear(few)
        assert out.dtype == dense and out.shape == ref.shape
        err = (out.float() - ref.float()).norm() / ref.float().norm()
        assert err < (0.02 if fmt == "int8" else 0.12)
        assert torch.equal(layer(many), linear(many))
    assert layer.fmt == fmt and layer.weight is linear.weight


def test_shapes_the_kernels_cannot_take_fall_back_to_int8_then_dense():
    int8 = with_decode_weights(nn.Linear(48, 24), "int4")  # 24 outputs: int4 packs 16 at a time
    assert isinstance(int8, DecodeLinear) and int8.fmt == "int8"
    x = torch.randn(2, 48)
    assert torch.allclose(int8(x), nn.functional.linear(x, int8.weight, int8.bias), rtol=0.05, atol=0.05)
    odd = nn.Linear(40, 32)  # torch's int8 kernel crashes on 40 inputs
    assert with_decode_weights(odd, "int8") is odd and with_decode_weights(odd, "int4") is odd


def test_tied_output_projection_gets_decode_weights_without_a_dense_copy(tiny_model_dir):
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir, dtype=torch.bfloat16, tie_word_embeddings=True)
    model.tie_weights()
    assert model.lm_head.weight is model.model.embed_tokens.weight
    quantize_model(model, "int8")
    assert isinstance(model.lm_head, DecodeLinear) and model.lm_head.weight is model.model.embed_tokens.weight
    assert model.lm_head.qweight.dtype == torch.int8
    assert not any(type(m) is nn.Linear for m in model.modules())


@pytest.mark.parametrize("dtype", ["int8", "int4", "float32+int8"])
def test_decode_weight_models_complete(tiny_model_dir, dtype):
    lm = load_model(str(tiny_model_dir), dtype=dtype)
    assert lm.dtype == resolve_dtype(dtype) and "+" in lm.dtype
    assert isinstance(lm.model.lm_head, DecodeLinear)
    out = LocalBackend(lm, context_tokens=256).complete(CompletionRequest(prefix="x = ", max_tokens=5, raw=True))
    assert out.timings.generated_tokens == 5


def test_decode_weights_on_a_gpu_are_refused_with_a_reason(tiny_model_dir):
    with pytest.raises(EngineError, match="int8 is for CPUs"):
        load_model(str(tiny_model_dir), dtype="int8", device="cuda")
