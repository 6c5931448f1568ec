"""Which dtype an unquantised model runs in to generate and evaluate: bfloat16 where the hardware has it.

bfloat16 halves the bytes every matrix product reads, and on a 135M model the CPU is bound by
exactly that: SmolLM2's plain forward ran 629 tokens/s in float32 and 1,763 in bfloat16 on an EPYC
with ``avx512_bf16``. Without native bf16 instructions (AVX2 only) PyTorch emulates bf16 through
float32 conversions and it is slower than float32 (measured in ``benchmarks/generation.py``), so
``auto`` picks float32 there. The choice is a pure function of the precision asked for, the device
and the CPU's flags (tested as a table); ``inference_dtype`` logs it once, with the reason.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Literal

import torch

log = logging.getLogger(__name__)

Precision = Literal["auto", "float32", "bfloat16"]
PRECISIONS: tuple[str, ...] = ("auto", "float32", "bfloat16")
NATIVE_BF16_FLAGS = frozenset({"avx512_bf16", "amx_bf16"})  # /proc/cpuinfo names of bf16 dot-product units


@dataclass(frozen=True)
class DtypeChoice:
    """The dtype chosen and why, in words for the log line."""

    dtype: torch.dtype
    reason: str


def choose_dtype(precision: str, device_type: str, cpu_flags: frozenset[str], cuda_bf16: bool) -> DtypeChoice:
    """The inference dtype for ``precision`` on ``device_type`` (``cpu``/``cuda``/...), given the CPU's flags."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {list(PRECISIONS)}, got {precision!r}")
    if precision != "auto":
        return DtypeChoice(getattr(torch, precision), f"{precision} as asked")
    if device_type == "cuda":
        if cuda_bf16:
            return DtypeChoice(torch.bfloat16, "the GPU supports bfloat16")
        return DtypeChoice(torch.float32, "the GPU lacks bfloat16")
    if device_type != "cpu":  # mps, xpu, ...: untested here, so the safe dtype unless asked
        return DtypeChoice(torch.float32, f"bfloat16 is not chosen automatically on {device_type}")
    native = sorted(NATIVE_BF16_FLAGS & cpu_flags)
    if native:
        return DtypeChoice(torch.bfloat16, f"the CPU has native bfloat16 ({', '.join(native)})")
    return DtypeChoice(
        torch.float32, "the CPU has no native bfloat16 (no avx512_bf16/amx_bf16; emulated bf16 is slower)"
    )


IGNORE_NATIVE_BF16_ENV = "SELFSPEC_IGNORE_NATIVE_BF16"


@cache
def cpu_flags(cpuinfo: Path = Path("/proc/cpuinfo")) -> frozenset[str]:
    """The CPU's feature flags (Linux); empty where ``/proc/cpuinfo`` cannot be read.

    ``SELFSPEC_IGNORE_NATIVE_BF16=1`` hides the native-bf16 flags, so ``auto`` computes in float32 on
    every CPU: the test suite sets it, so its results do not depend on the machine CI lands on.
    """
    if os.environ.get(IGNORE_NATIVE_BF16_ENV) == "1":
        return _read_flags(cpuinfo) - NATIVE_BF16_FLAGS
    return _read_flags(cpuinfo)


def _read_flags(cpuinfo: Path) -> frozenset[str]:
    try:
        text = cpuinfo.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return frozenset()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("flags", "Features"):  # x86 says "flags", ARM "Features"; every core lists the same
            return frozenset(value.split())
    return frozenset()


def default_device() -> torch.device:
    """CUDA when there is one, else the CPU: where generation and evaluation run by default."""
    return torch.device("cuda") if torch.cuda.is_available() else torch.device("cpu")


def inference_dtype(device: torch.device, precision: str = "auto") -> torch.dtype:
    """``choose_dtype`` for this machine, announced in one log line."""
    cuda_bf16 = device.type == "cuda" and torch.cuda.is_available() and torch.cuda.is_bf16_supported()
    choice = choose_dtype(precision, device.type, cpu_flags(), cuda_bf16)
    _announce(device.type, str(choice.dtype).removeprefix("torch."), choice.reason)
    return choice.dtype


@cache  # one line per (device, dtype, reason) in a process, however many models load
def _announce(device_type: str, dtype: str, reason: str) -> None:
    log.info("generation/evaluation run in %s on %s: %s", dtype, device_type, reason)


def native_bf16(device: torch.device) -> bool:
    """Whether ``device`` computes bfloat16 matrix products natively (not emulated through float32)."""
    if device.type == "cuda":
        return torch.cuda.is_available() and torch.cuda.is_bf16_supported()
    return device.type == "cpu" and bool(NATIVE_BF16_FLAGS & cpu_flags())


def training_dtype(precision: str, device: torch.device) -> torch.dtype:
    """The compute dtype of training (``--model.precision``): ``auto`` picks bfloat16 where ``device``
    has it natively (about 2-3x faster matrix products and half the activation memory), float32
    elsewhere (emulated bfloat16 on an AVX2-only CPU is several times slower); one log line says which."""
    native = native_bf16(device)
    dtype = (torch.bfloat16 if native else torch.float32) if precision == "auto" else getattr(torch, precision)
    reason = "native bfloat16" if native else "no native bfloat16"
    how = "chosen automatically" if precision == "auto" else "--model.precision"
    log.info("the model computes in %s on %s (%s; %s)", str(dtype).removeprefix("torch."), device, reason, how)
    return dtype
