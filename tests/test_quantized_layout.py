"""4-bit base layers keep bitsandbytes' standard weight layout through eval-mode forwards, on every CPU.

On AVX512-BF16 CPUs bitsandbytes repacks a 4-bit layer's weights at its first eval-mode forward (bf16
scales, a kernel without gradients); a validation during fit then changed the weights training goes
on with, so a resumed run differed from an uninterrupted one (1e-6 test failed with 4.6e-3 there).
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from selfspec.modeling.adapters import LoraSettings, add_lora, load_base

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_eval_forward_leaves_4bit_weights_and_their_layout_unchanged(tiny_model_dir: Path) -> None:
    model = add_lora(load_base(str(tiny_model_dir), "nf4"), LoraSettings())
    layers = [m for m in model.modules() if hasattr(m, "support_avx512bf16_for_cpu")]
    assert layers and not any(m.support_avx512bf16_for_cpu for m in layers)
    before = [m.weight.data.clone() for m in layers]
    model.eval()
    with torch.no_grad():
        model(input_ids=torch.tensor([[1, 5, 6, 7]]))
    model.train()
    assert not any(getattr(m.weight.quant_state, "packing_format_for_cpu", False) for m in layers)
    assert all(torch.equal(b, m.weight.data) for b, m in zip(before, layers, strict=True))
    loss = model(input_ids=torch.tensor([[1, 5, 6, 7]]), labels=torch.tensor([[1, 5, 6, 7]])).loss
    loss.backward()  # gradients still reach the first layer's adapter through the base layers above it
    # (lora_B: lora_A's gradient is zero while lora_B still holds its zero initialisation)
    first = next(p for n, p in model.named_parameters() if "layers.0." in n and "lora_B" in n)
    assert first.grad is not None and first.grad.abs().sum() > 0


def test_bfloat16_compute_runs_on_the_float32_codes_with_bfloat16_products(tiny_model_dir: Path) -> None:
    # The 4-bit codes come from the float32 weights whatever the compute dtype (a bf16 run then differs
    # from a float32 one only by its products), and the products really are bf16: a layer quantised
    # from float32 dequantizes to float32 and would multiply in float32 despite its compute dtype.
    def four_bit(dtype: torch.dtype) -> list[torch.nn.Module]:
        model = load_base(str(tiny_model_dir), "nf4", dtype=dtype)
        return [m for m in model.modules() if hasattr(m, "support_avx512bf16_for_cpu")]

    full, half = four_bit(torch.float32), four_bit(torch.bfloat16)
    assert all(torch.equal(a.weight.data, b.weight.data) for a, b in zip(full, half, strict=True))
    assert {m.weight.quant_state.dtype for m in half} == {torch.bfloat16}
    x = torch.randn(3, full[0].in_features, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        exact, rounded = full[0](x), half[0](x)
    assert exact.dtype == rounded.dtype == torch.float32  # the layer casts its output back
    assert 0 < (rounded - exact).abs().max() <= 0.05 * exact.abs().max()
