"""precision: auto picks bfloat16 only where the device does it natively, says so, and can be forced."""

from __future__ import annotations

import logging

import pytest
import torch

from selfspec.modeling import precision


def test_auto_follows_the_cpu_and_says_which(monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    cpu = torch.device("cpu")
    caplog.set_level(logging.INFO, logger="selfspec.modeling.precision")
    for native, want in ((True, torch.bfloat16), (False, torch.float32)):
        monkeypatch.setattr(precision, "native_bf16", lambda device, native=native: native)
        caplog.clear()
        assert precision.training_dtype("auto", cpu) is want
        assert len(caplog.records) == 1 and "chosen automatically" in caplog.text


def test_forced_precision_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(precision, "native_bf16", lambda device: True)
    assert precision.training_dtype("float32", torch.device("cpu")) is torch.float32
    monkeypatch.setattr(precision, "native_bf16", lambda device: False)
    assert precision.training_dtype("bfloat16", torch.device("cpu")) is torch.bfloat16
