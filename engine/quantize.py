"""Compact decode weights for CPU inference (`--dtype int8`/`int4`, and what `--dtype auto` picks; `engine.cpu`).

Decoding one token at a time on a CPU is bound by how many weight bytes each
step reads; reading a prompt is bound by arithmetic. So every linear layer
keeps its dense weight (bf16 where the CPU has native bf16, else float32) for
prompt chunks, and adds a compact copy for decode steps and speculative
checks: int8 with one scale per output channel (a quarter of float32's
bytes), or int4 in groups of 32 weights with a scale and offset each (an
eighth). Only the weights are quantised; activations are cast to bf16 for the
call, so the output stays close to the dense model's (README "Models").

torch's dynamic int8 (`quantize_dynamic`, int8 activations with one scale
per call) is faster still, but on the bundled model it halved HumanEval
single-line pass@1 (55% -> 27% on a 100-task sample), so it is not offered.
"""

from __future__ import annotations

import logging
from typing import Any

import torch
from torch import nn

log = logging.getLogger(__name__)

#: A call with more rows than this (a prompt chunk) uses the dense weight; fewer, the compact copy.
DENSE_ROWS = 5
#: Decode formats, as `engine.cpu.WeightPlan.decode` names them.
FORMATS = ("int8", "int4")
#: Weights per int4 scale/offset pair (GGUF Q4_0 blocks are 32 too, so they map over exactly).
INT4_GROUP = 32


def quantize_model(model: Any, fmt: str) -> Any:
    """Give every `nn.Linear` of `model` (the output projection included) a `fmt` decode copy; in place."""
    count = 0
    for module in list(model.modules()):
        for name, child in list(module.named_children()):
            if type(child) is nn.Linear:
                layer = with_decode_weights(child, fmt)
                setattr(module, name, layer)
                count += layer is not child
    log.info("%s decode weights for %d linear layers", fmt, count)
    return model


def int8_weights(weight: torch.Tensor) -> dict[str, torch.Tensor]:
    """Symmetric int8 per output channel: the `int8` buffers of a `DecodeLinear`."""
    weight = weight.detach().float()
    scale = weight.abs().amax(dim=1).clamp(min=1e-8) / 127
    qweight = torch.round(weight / scale[:, None]).clamp(-127, 127).to(torch.int8).contiguous()
    return {"qweight": qweight, "scale": scale.to(torch.bfloat16)}


def fits(fmt: str, out_features: int, in_features: int) -> bool:
    """Whether torch's kernel takes this shape: int4 packs 16 output channels together and whole groups
    of inputs; int8 needs inputs in multiples of 16 (torch 2.13 crashes on others, e.g. 40)."""
    if fmt == "int4":
        return out_features % 16 == 0 and in_features % INT4_GROUP == 0
    return in_features % 16 == 0


def with_decode_weights(linear: nn.Linear, fmt: str) -> nn.Module:
    """`linear` with `fmt` decode weights, or int8 ones where int4 cannot pack it, or `linear` if neither can."""
    for candidate in dict.fromkeys((fmt, "int8")):
        if fits(candidate, *linear.weight.shape):
            return DecodeLinear.from_linear(linear, candidate)
    return linear


def int4_weights(weight: torch.Tensor) -> dict[str, torch.Tensor]:
    """Asymmetric int4 in groups of `INT4_GROUP` inputs: the `int4` buffers of a `DecodeLinear`."""
    out_features, in_features = weight.shape
    groups = weight.detach().float().reshape(out_features, in_features // INT4_GROUP, INT4_GROUP)
    low, high = groups.amin(-1), groups.amax(-1)
    scale = (high - low).clamp(min=1e-8) / 15
    codes = torch.round((groups - low[..., None]) / scale[..., None]).clamp(0, 15)
    return pack_int4(codes.reshape(out_features, in_features), scale, low + 8 * scale)


def pack_int4(codes: torch.Tensor, scale: torch.Tensor, zero: torch.Tensor) -> dict[str, torch.Tensor]:
    """torch's int4 layout for codes 0..15 (out x in) meaning `(code - 8) * scale + zero` per group (out x groups)."""
    packed = torch._convert_weight_to_int4pack_for_cpu(codes.to(torch.int32).contiguous(), 1)
    scales_and_zeros = torch.stack([scale, zero], dim=-1).transpose(0, 1).contiguous().to(torch.bfloat16)
    return {"qweight": packed, "scale": scales_and_zeros}


class DecodeLinear(nn.Module):
    """A linear layer that multiplies prompt chunks by its dense weight and decode steps by compact weights."""

    def __init__(self, weight: nn.Parameter, bias: nn.Parameter | None, fmt: str,
                 buffers: dict[str, torch.Tensor]) -> None:  # fmt: skip
        super().__init__()
        if fmt not in FORMATS:
            raise ValueError(f"unknown decode format {fmt!r}; choose one of {', '.join(FORMATS)}")
        self.out_features, self.in_features = weight.shape
        self.fmt = fmt
        # The dense weight is shared, not copied (tied embeddings stay tied).
        self.weight = weight
        self.bias = bias
        for name, tensor in buffers.items():
            self.register_buffer(name, tensor, persistent=False)

    @classmethod
    def from_linear(cls, linear: nn.Linear, fmt: str) -> DecodeLinear:
        """Quantise `linear`'s weight (a shape that `fits`)."""
        buffers = int4_weights(linear.weight) if fmt == "int4" else int8_weights(linear.weight)
        return cls(linear.weight, linear.bias, fmt, buffers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        rows = x.numel() // self.in_features
        if rows > DENSE_ROWS or not x.is_floating_point():
            return nn.functional.linear(x, self.weight, self.bias)
        flat = x.reshape(rows, self.in_features).to(torch.bfloat16)
        if self.fmt == "int4":
            out = torch._weight_int4pack_mm_for_cpu(flat, self.qweight, INT4_GROUP, self.scale)
        else:
            out = torch._weight_int8pack_mm(flat, self.qweight, self.scale)
        out = out.to(x.dtype)
        if self.bias is not None:
            out = out + self.bias
        return out.reshape(*x.shape[:-1], self.out_features)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, decode={self.fmt}"
