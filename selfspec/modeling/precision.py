"""Which float type training computes in: bfloat16 where the hardware does it natively.

bfloat16 halves activation memory and, on CPUs with AVX512-BF16 or AMX, runs matrix products
about 2-3x faster than float32. On CPUs without them (AVX2 only) PyTorch emulates bfloat16 and
it is slower than float32, so float32 stays. The choice is said in one log line.
"""

from __future__ import annotations

import logging
from typing import Literal

import torch

log = logging.getLogger(__name__)

Precision = Literal["auto", "float32", "bfloat16"]


def native_bf16(device: torch.device) -> bool:
    """Whether ``device`` computes bfloat16 matrix products natively (not emulated)."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    if device.type == "cpu":
        return bool(torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported())
    return False


def training_dtype(precision: Precision, device: torch.device) -> torch.dtype:
    """The compute dtype for ``precision`` on ``device``; ``auto`` picks bfloat16 when native."""
    if precision == "float32":
        dtype = torch.float32
    elif precision == "bfloat16":
        dtype = torch.bfloat16
    else:
        dtype = torch.bfloat16 if native_bf16(device) else torch.float32
    reason = "native bfloat16" if native_bf16(device) else "no native bfloat16"
    how = "chosen automatically" if precision == "auto" else "--model.precision"
    log.info("training computes in %s on %s (%s; %s)", str(dtype).removeprefix("torch."), device, reason, how)
    return dtype
