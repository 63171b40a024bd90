"""Int8 weights for CPU decoding (`--dtype int8`).

Decoding one token at a time on a CPU is bound by how many weight bytes each
step reads, so int8 weights (a quarter of float32's bytes) make every step
cheaper; prefill gains too, because fbgemm's int8 matrix products beat
float32 ones on CPUs with VNNI. Every `nn.Linear` (attention, MLP and the
output head) is replaced by torch's dynamically quantised linear: int8
weights with one scale per output channel, activations quantised per call.
Embeddings, norms and the KV cache stay float32.

The change is in place, so the float32 copies of the projection weights are
freed as each layer is converted (peak memory stays near the float32 model's,
not the sum of both). What it costs in quality is measured, not assumed:
`codegemma eval humaneval-infill --dtype int8` against `--dtype float32`.
"""

from __future__ import annotations

import logging
import warnings
from typing import Any

log = logging.getLogger(__name__)


def quantize_int8(model: Any) -> Any:
    """Convert `model`'s linear layers to int8 weights in place; returns the model."""
    import torch
    from torch import nn

    if torch.backends.quantized.engine not in ("x86", "fbgemm") and "x86" in torch.backends.quantized.supported_engines:
        torch.backends.quantized.engine = "x86"
    head = model.get_output_embeddings()
    if head is not None and head.weight is model.get_input_embeddings().weight:
        # Tied weights: the head gets its own tensor, so quantising it leaves the embedding intact.
        head.weight = nn.Parameter(head.weight.detach().clone(), requires_grad=False)
    spec = {nn.Linear: torch.ao.quantization.per_channel_dynamic_qconfig}
    with warnings.catch_warnings():
        # torch points eager-mode quantisation users at torchao; the eager API is what runs here.
        warnings.simplefilter("ignore")
        torch.ao.quantization.quantize_dynamic(model, spec, dtype=torch.qint8, inplace=True)
    converted = sum(1 for m in model.modules() if type(m).__name__ == "Linear" and "quantized" in type(m).__module__)
    log.info("int8 weights: %d linear layers quantised (engine %s)", converted, torch.backends.quantized.engine)
    return model
