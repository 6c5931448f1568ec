"""MaskDropout: nn.Dropout's contract (rate, scaling, gradient, seeding, eval) with a cheap CPU mask."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn

from selfspec.modeling.adapters import LoraSettings, add_lora, load_base
from selfspec.modeling.dropout import MaskDropout, drop_mask, use_mask_dropout


@pytest.mark.parametrize("p", [0.05, 0.3])
def test_every_lane_drops_at_the_asked_rate(p: float) -> None:
    torch.manual_seed(0)
    dropped = drop_mask(torch.Size([250_000, 4]), p, torch.device("cpu"))
    # Four int16 lanes come from one int64 word: each lane on its own must drop at rate p
    # (random_() without a range leaves the sign bit 0, and the fourth lane would never drop).
    for lane in range(4):
        assert abs(dropped[:, lane].float().mean().item() - p) < 0.004, lane


def test_kept_elements_are_scaled_and_the_gradient_follows_the_mask() -> None:
    torch.manual_seed(1)
    layer = MaskDropout(0.25).train()
    x = torch.randn(64, 33, requires_grad=True)
    y = layer(x)
    kept = y != 0
    assert 0.6 < kept.float().mean().item() < 0.9
    torch.testing.assert_close(y[kept], x.detach()[kept] / 0.75)
    y.backward(torch.ones_like(y))
    assert x.grad is not None
    torch.testing.assert_close(x.grad, kept.float() / 0.75)


def test_the_mask_is_a_function_of_the_seed_and_eval_mode_is_the_identity() -> None:
    layer = MaskDropout(0.1).train()
    x = torch.randn(32, 40)
    torch.manual_seed(7)
    first = layer(x)
    torch.manual_seed(7)
    assert torch.equal(layer(x), first)
    assert not torch.equal(layer(x), first)  # the generator moved on
    assert torch.equal(layer.eval()(x), x)


def test_peft_dropouts_are_replaced_and_the_adapter_is_unchanged(tiny_model_dir: Path) -> None:
    model = add_lora(load_base(str(tiny_model_dir), "none"), LoraSettings(dropout=0.05))
    before = {k: v.clone() for k, v in model.state_dict().items()}
    lora_layers = [m for m in model.modules() if isinstance(getattr(m, "lora_dropout", None), nn.ModuleDict)]
    assert use_mask_dropout(model) == len(lora_layers) > 0
    assert all(type(m.lora_dropout["default"]) is MaskDropout for m in lora_layers)
    assert use_mask_dropout(model) == 0  # nothing left to replace
    after = model.state_dict()
    assert before.keys() == after.keys() and all(torch.equal(before[k], after[k]) for k in before)
    batch = torch.randint(3, model.config.vocab_size, (2, 9))
    model.train()(input_ids=batch).logits.sum().backward()  # trains through the new dropouts
