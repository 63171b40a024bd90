"""Weight types: `auto` and the int8 decode weights."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from engine.backend import CompletionRequest
from engine.errors import EngineError
from engine.local import LocalBackend
from engine.loading import load_model, native_bf16, resolve_dtype
from engine.quantize import DENSE_ROWS, Int8Linear, quantize_int8


def test_auto_picks_int8_only_where_the_cpu_has_native_bf16():
    assert resolve_dtype("auto") == ("int8" if native_bf16() else "float32")
    assert resolve_dtype("float32") == "float32" and resolve_dtype("auto", device="cuda") == "bfloat16"


def test_int8_rows_are_close_to_the_dense_product_and_prompt_chunks_are_exact():
    torch.manual_seed(0)
    dense = nn.Linear(256, 512, bias=True).to(torch.bfloat16)
    layer = Int8Linear(dense)
    few = torch.randn(1, 3, 256, dtype=torch.bfloat16)
    many = torch.randn(1, DENSE_ROWS + 10, 256, dtype=torch.bfloat16)
    with torch.inference_mode():
        err = (layer(few).float() - dense(few).float()).norm() / dense(few).float().norm()
        assert err < 0.02
        assert torch.equal(layer(many), dense(many))
    assert layer.qweight.dtype == torch.int8 and layer.weight is dense.weight


def test_int8_model_completes(tiny_model_dir):
    lm = load_model(str(tiny_model_dir), dtype="int8")
    assert lm.dtype == "int8"
    assert any(isinstance(m, Int8Linear) for m in lm.model.modules())
    out = LocalBackend(lm, context_tokens=256).complete(CompletionRequest(prefix="x = ", max_tokens=5, raw=True))
    assert out.timings.generated_tokens == 5


def test_quantize_converts_every_linear(tiny_model_dir):
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir, dtype=torch.bfloat16)
    quantize_int8(model)
    assert not any(type(m) is nn.Linear for m in model.modules())


def test_int8_on_a_gpu_is_refused_with_a_reason(tiny_model_dir):
    with pytest.raises(EngineError, match="int8 is for CPUs"):
        load_model(str(tiny_model_dir), dtype="int8", device="cuda")
