"""Int8 decode weights for CPU inference (`--dtype int8`, what `--dtype auto` picks on CPUs with native bf16).

Decoding one token at a time on a CPU is bound by how many weight bytes each
step reads; reading a prompt is bound by arithmetic. So `int8` keeps a
bfloat16 model for prompts (fast where the CPU has AVX512-BF16 or AMX) and
adds int8 copies of every linear layer's weight (one scale per output
channel) for decode steps and speculative checks, a quarter of float32's
bytes. Only the weights are quantised; activations stay bf16, so the output
stays close to bf16's (HumanEval single-line, same 100 tasks: float32 55%,
bfloat16 56%, int8 55%). On CPUs without native bf16, `auto` is float32.

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

#: A call with more rows than this (a prompt chunk) uses the dense weight; fewer, the int8 copy.
DENSE_ROWS = 5


def quantize_int8(model: Any) -> Any:
    """Give every `nn.Linear` of `model` (a bf16 model) an int8 copy of its weight for small calls; in place."""
    count = 0
    for module in list(model.modules()):
        for name, child in list(module.named_children()):
            if type(child) is nn.Linear:
                setattr(module, name, Int8Linear(child))
                count += 1
    log.info("int8 decode weights for %d linear layers", count)
    return model


class Int8Linear(nn.Module):
    """A linear layer that multiplies prompt chunks by its dense weight and decode steps by int8 weights."""

    def __init__(self, linear: nn.Linear) -> None:
        super().__init__()
        weight = linear.weight.detach()
        scale = weight.float().abs().amax(dim=1).clamp(min=1e-8) / 127
        self.in_features, self.out_features = linear.in_features, linear.out_features
        # The dense weight is shared, not copied (tied embeddings stay tied).
        self.weight = linear.weight
        self.bias = linear.bias
        self.register_buffer("qweight", torch.round(weight.float() / scale[:, None]).clamp(-127, 127)
                             .to(torch.int8).contiguous(), persistent=False)  # fmt: skip
        self.register_buffer("scale", scale.to(weight.dtype), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        rows = x.numel() // self.in_features
        if rows > DENSE_ROWS or x.dtype != self.scale.dtype:
            return nn.functional.linear(x, self.weight, self.bias)
        out = torch._weight_int8pack_mm(x.reshape(rows, self.in_features), self.qweight, self.scale)
        if self.bias is not None:
            out = out + self.bias
        return out.reshape(*x.shape[:-1], self.out_features)
