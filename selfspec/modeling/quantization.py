"""Quantised loading of the base model (QLoRA's 4-bit NF4 with double quantisation).

bitsandbytes >= 0.49 runs 4-bit on CPU as well as CUDA, so the same path is used everywhere.
When bitsandbytes cannot be imported, selfspec says so in one warning line and falls back to
plain LoRA on an unquantised base; it never switches silently.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Literal

import torch

if TYPE_CHECKING:
    from transformers import BitsAndBytesConfig

log = logging.getLogger(__name__)

Quantization = Literal["nf4", "int8", "none"]


def compute_dtype(device: torch.device) -> torch.dtype:
    """bf16 on GPUs that support it, float32 elsewhere (CPU kernels are float32)."""
    if device.type == "cuda" and torch.cuda.is_bf16_supported():  # pre-Ampere GPUs emulate bf16: float32 there
        return torch.bfloat16
    return torch.float32


def bitsandbytes_problem() -> str | None:
    """Why bitsandbytes cannot be used here, or None when it can."""
    try:
        import bitsandbytes  # noqa: F401
    except Exception as err:  # any import failure (missing library, broken binary) means no bnb
        return f"{type(err).__name__}: {err}"
    return None


def quantization_config(kind: Quantization, dtype: torch.dtype) -> BitsAndBytesConfig | None:
    """The ``BitsAndBytesConfig`` for ``kind``; None (with a warning) when bitsandbytes is missing."""
    if kind == "none":
        return None
    problem = bitsandbytes_problem()
    if problem is not None:
        log.warning(
            "bitsandbytes unavailable (%s): training plain LoRA on an unquantised base instead of %s", problem, kind
        )
        return None
    from transformers import BitsAndBytesConfig

    if kind == "int8":  # LLM.int8(): no compute dtype to set, its matmuls pick their own
        return BitsAndBytesConfig(load_in_8bit=True)
    return BitsAndBytesConfig(
        load_in_4bit=True,
        bnb_4bit_quant_type="nf4",
        bnb_4bit_use_double_quant=True,  # the scales quantised too: about 0.4 bits per weight saved (QLoRA)
        bnb_4bit_compute_dtype=dtype,
    )
