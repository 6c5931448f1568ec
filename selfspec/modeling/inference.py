"""A 4-bit model's float view for inference on a CPU, swapped in for the time of an evaluation.

bitsandbytes' CPU path multiplies by a 4-bit weight by dequantizing the whole matrix at every
forward pass (``_gemm_4bit_default_impl``), and PEFT's 4-bit LoRA layer adds its own matmuls, a
dropout and a clone: on SmolLM2-135M that made greedy evaluation 1.5x slower than a float model
(benchmarks/evaluation.py). Dequantizing once gives the very weights the 4-bit layer computes with,
and merging the adapter into them gives the function it computes (up to float summation order).
On a GPU the 4-bit kernels are fast and a float copy of a 7B model would not fit: nothing changes.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from typing import Any

import torch

from selfspec.decoding.narrow_linear import narrow_linear

log = logging.getLogger("selfspec")


class ComputeDtypeLinear(torch.nn.Linear):
    """A float linear layer that computes as a 4-bit one does when its compute dtype is not float32.

    bitsandbytes' ``Linear4bit`` casts its input to its compute dtype (bfloat16 where the CPU has it)
    and its output back, so the PEFT-prepared model keeps float32 embeddings, norms, residual stream
    and output head around bfloat16 products. A plain ``nn.Linear`` with bfloat16 weights would fail
    on the float32 input; casting the whole model to bfloat16 instead would compute another function
    than the one trained (bfloat16 norms, residual stream and output head).
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # narrow_linear: a decode step's few rows take the faster transposed product (F.linear above)
        return narrow_linear(x.to(self.weight.dtype), self.weight, self.bias).to(x.dtype)


@contextlib.contextmanager
def float_view_on_cpu(model: Any) -> Iterator[Any]:
    """Within the block, every 4-bit linear layer of ``model`` on a CPU is a float ``nn.Linear``.

    LoRA layers wrapping one are replaced by a single ``nn.Linear`` holding base + merged adapter
    (active adapters only). The original modules are put back on exit, also on error, so a training
    run that evaluates between epochs trains on exactly what it had.
    """
    swaps = [] if _device(model).type != "cpu" else _float_swaps(model)  # GPU: see the module docstring
    for parent, name, _, new in swaps:
        setattr(parent, name, new)
    try:
        yield model
    finally:
        for parent, name, old, _ in reversed(swaps):
            setattr(parent, name, old)


def _float_swaps(model: Any) -> list[tuple[torch.nn.Module, str, torch.nn.Module, torch.nn.Module]]:
    swaps: list[tuple[torch.nn.Module, str, torch.nn.Module, torch.nn.Module]] = []
    replaced: set[int] = set()  # LoRA wrappers replaced whole: their own 4-bit base needs no swap
    for parent in list(model.modules()):  # a list: the swaps below must not change what is being walked
        if id(parent) in replaced:
            continue
        for name, child in parent.named_children():
            if _is_4bit(child):
                swaps.append((parent, name, child, _float_linear(child, child)))
            elif _is_4bit(getattr(child, "base_layer", None)) and hasattr(child, "get_delta_weight"):
                swaps.append((parent, name, child, _float_linear(child.base_layer, child)))
                replaced.add(id(child))
    return swaps


def _float_linear(base: Any, layer: Any) -> torch.nn.Linear:
    from bitsandbytes.functional import dequantize_4bit

    weight = dequantize_4bit(base.weight.data, base.weight.quant_state).to(base.compute_dtype or torch.float32)
    if layer is not base and not getattr(layer, "disable_adapters", False):
        for adapter in layer.active_adapters:
            if adapter in layer.lora_A:  # an active adapter may not adapt this layer (other target_modules)
                weight += layer.get_delta_weight(adapter).to(weight.dtype)
    # weight is [out, in]. On "meta": no second allocation and random init just to be replaced. A
    # plain Linear for float32 compute, so decoding's narrow-input products (exact nn.Linear) apply.
    kind = torch.nn.Linear if weight.dtype == torch.float32 else ComputeDtypeLinear
    linear = kind(weight.shape[1], weight.shape[0], bias=base.bias is not None, device="meta")
    linear.weight = torch.nn.Parameter(weight, requires_grad=False)
    if base.bias is not None:
        linear.bias = torch.nn.Parameter(base.bias.data.to(weight.dtype), requires_grad=False)
    return linear.eval()


def _is_4bit(module: Any) -> bool:
    import bitsandbytes as bnb

    return isinstance(module, bnb.nn.Linear4bit)


def _device(model: Any) -> torch.device:
    parameter = next(iter(model.parameters()), None)
    return parameter.device if parameter is not None else torch.device("cpu")
