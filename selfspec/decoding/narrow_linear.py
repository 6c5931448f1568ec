"""Linear layers for decode steps on a CPU: ``W @ x.T`` instead of ``x @ W.T`` when ``x`` has few rows.

A decode step feeds one token per batch row, so every linear layer multiplies a few rows by a weight
matrix read from memory (the model's weights do not fit in the caches). For such narrow inputs
``F.linear`` reaches 2.4-3.8 GB/s of weight traffic on this project's 2-core AVX2 EPYC, while the
same product computed as ``(W @ x.T).T`` reaches 4.7-8.5 GB/s with bit-identical results (MKL picks a
kernel that streams the weight once instead of packing it). Measured with 30 cold weights of
SmolLM2's shapes: 1.2-2.8x faster for 2-64 rows, about equal at 1 and 128, slower from 256 rows.
Prefill (hundreds of rows per batch) keeps ``F.linear``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import torch
import torch.nn.functional as F

# Inputs with at most this many rows (batch x positions) take the transposed product; above, F.linear.
# bfloat16 (oneDNN): on a 2-core Sapphire Rapids with AMX, (W @ x.T).T read SmolLM2's cold weights
# 1.5-1.8x faster than F.linear at 1-128 rows, bit-identical up to 16 rows (not at 64: other rounding).
NARROW_ROWS = {torch.float32: 64, torch.bfloat16: 16}


def narrow_linear(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
    """``F.linear(x, weight, bias)``, computed as ``(weight @ x.T).T`` when ``x`` has few rows."""
    rows = x.numel() // x.shape[-1] if x.numel() else 0
    if not 0 < rows <= NARROW_ROWS.get(x.dtype, 0) or weight.dtype != x.dtype:
        return F.linear(x, weight, bias)
    flat = x.reshape(rows, x.shape[-1])
    # One row is a matrix-vector product, which MKL runs on one thread: as two identical rows it is a
    # matrix product on every thread (SmolLM2's layers 1.3-1.6x faster, its output head 1.6x).
    out = torch.mm(weight, torch.cat([flat, flat]).t())[:, :1].t() if rows == 1 else torch.mm(weight, flat.t()).t()
    if bias is not None:
        out = out + bias
    # Contiguous again (a few KB): callers .view() the projections into heads.
    return out.contiguous().view(*x.shape[:-1], weight.shape[0])


@contextlib.contextmanager
def narrow_linears(model: Any) -> Iterator[None]:
    """While inside, the model's plain ``nn.Linear`` layers on a CPU use :func:`narrow_linear`.

    Only exact ``torch.nn.Linear`` instances: quantized (bitsandbytes) and LoRA layers are subclasses
    or wrappers with their own forward; a LoRA layer's frozen base is a plain Linear and is covered.
    """
    patched = [
        module
        for module in model.modules()
        if type(module) is torch.nn.Linear and module.weight.device.type == "cpu" and "forward" not in vars(module)
    ]
    for module in patched:
        module.forward = _forward_of(module)  # type: ignore[method-assign]
    try:
        yield
    finally:
        for module in patched:
            del module.forward


def _forward_of(module: torch.nn.Linear) -> Any:
    def forward(x: torch.Tensor) -> torch.Tensor:
        return narrow_linear(x, module.weight, module.bias)

    return forward
