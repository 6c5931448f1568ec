"""The float view of a 4-bit model (evaluation on a CPU) computes what the 4-bit model computes."""

from __future__ import annotations

from pathlib import Path

import torch

from selfspec.modeling.adapters import LoraSettings, add_lora, load_base
from selfspec.modeling.inference import float_view_on_cpu


def _trained_lora(model_dir: Path) -> torch.nn.Module:
    model = add_lora(load_base(str(model_dir), "nf4"), LoraSettings(r=4, alpha=8, dropout=0.1))
    for name, parameter in model.named_parameters():
        if "lora_B" in name:  # a fresh adapter is zero: give it weight, so merging it matters
            torch.nn.init.normal_(parameter, std=0.5, generator=torch.Generator().manual_seed(0))
    return model.eval()


def _count(model: torch.nn.Module, kind: str) -> int:
    return sum(type(m).__name__ == kind for m in model.modules())


def test_float_view_matches_the_4bit_lora_model_and_puts_it_back(tiny_model_dir: Path) -> None:
    model = _trained_lora(tiny_model_dir)
    ids = torch.tensor([[1, 5, 9, 20, 33, 7], [1, 8, 8, 40, 2, 3]])
    with torch.no_grad():
        quantized = model(input_ids=ids).logits
        with float_view_on_cpu(model) as view:
            assert _count(view, "Linear4bit") == 0 and _count(view, "Linear") > 0
            assert all(p.dtype == torch.float32 for p in view.parameters())
            viewed = view(input_ids=ids).logits
        again = model(input_ids=ids).logits
    assert (viewed - quantized).abs().max() <= 1e-4 * quantized.abs().max()  # same function, other sum order
    assert torch.equal(again, quantized)  # the 4-bit LoRA layers are back, untouched
    assert _count(model, "Linear4bit") > 0


def test_float_view_keeps_a_disabled_adapter_out_and_restores_after_an_error(tiny_model_dir: Path) -> None:
    model = _trained_lora(tiny_model_dir)
    ids = torch.tensor([[1, 5, 9, 20]])
    with torch.no_grad(), model.disable_adapter():
        base = model(input_ids=ids).logits
        with float_view_on_cpu(model) as view:
            assert (view(input_ids=ids).logits - base).abs().max() <= 1e-4 * base.abs().max()
    layers = {n for n, m in model.named_modules() if type(m).__name__ == "Linear4bit"}
    try:
        with float_view_on_cpu(model):
            raise RuntimeError("evaluation failed")
    except RuntimeError:
        pass
    assert layers == {n for n, m in model.named_modules() if type(m).__name__ == "Linear4bit"}
