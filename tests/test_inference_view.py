"""The float view of a 4-bit model (evaluation on a CPU) computes what the 4-bit model computes."""

from __future__ import annotations

from pathlib import Path

import lightning as L
import torch

from selfspec.data.module import SelfSpecDataModule
from selfspec.modeling.adapters import LoraSettings, add_lora, load_base
from selfspec.modeling.inference import float_view_on_cpu
from selfspec.specialist import SpecialistModule


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


class _LayerKinds(L.Callback):
    """Records, at every validation batch, how many 4-bit layers the module's model holds."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, int]] = []

    def on_validation_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, *args: object) -> None:
        self.seen.append((trainer.state.fn or "", _count(pl_module.model, "Linear4bit")))


def test_validate_scores_held_out_loss_on_the_float_view_and_fit_on_the_4bit_layers(
    tiny_model_dir: Path, example_seeds: Path, tmp_path: Path
) -> None:
    data = SelfSpecDataModule(seeds_path=example_seeds, base_model=str(tiny_model_dir), batch_size=4, val_fraction=0.5)
    module = SpecialistModule(base_model=str(tiny_model_dir), quantization="nf4", effective_batch_size=None)
    kinds = _LayerKinds()
    trainer = L.Trainer(
        accelerator="cpu", devices=1, max_steps=1, val_check_interval=1, limit_val_batches=1, num_sanity_val_steps=0,
        logger=False,
        enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False, callbacks=[kinds],
        default_root_dir=tmp_path,
    )  # fmt: skip
    trainer.fit(module, datamodule=data)
    fitted = trainer.callback_metrics["val/loss"].item()
    trainer.validate(module, datamodule=data, verbose=False)
    validated = trainer.callback_metrics["val/loss"].item()
    four_bit = _count(module.model, "Linear4bit")
    assert four_bit > 0  # put back after validate
    # fit validates between training steps on the 4-bit layers; validate on their float view
    assert kinds.seen == [("fit", four_bit), ("validate", 0)]
    assert abs(validated - fitted) <= 1e-4 * abs(fitted)  # the same function of the same weights


def test_float_view_of_a_bfloat16_compute_model_computes_as_its_4bit_layers_do(tiny_model_dir: Path) -> None:
    # A CPU with native bf16 trains with bf16 compute in the 4-bit layers, which cast their input to
    # bf16 and their output back, while PEFT keeps embeddings, norms and the head in float32.
    model = add_lora(load_base(str(tiny_model_dir), "nf4", dtype=torch.bfloat16), LoraSettings(r=4, alpha=8))
    model.eval()
    before = {name: p.detach().clone() for name, p in model.named_parameters() if p.is_floating_point()}
    ids = torch.tensor([[1, 5, 9, 20, 33, 7]])
    with torch.no_grad():
        quantized = model(input_ids=ids).logits
        with float_view_on_cpu(model) as view:
            kinds = {type(m).__name__: m.weight.dtype for m in view.modules() if isinstance(m, torch.nn.Linear)}
            assert kinds["ComputeDtypeLinear"] == torch.bfloat16 and kinds["Linear"] == torch.float32  # the head
            viewed = view(input_ids=ids).logits
    assert viewed.dtype == quantized.dtype == torch.float32
    assert (viewed - quantized).abs().max() <= 1e-2 * quantized.abs().max()  # the same bf16 products
    after = dict(model.named_parameters())
    assert all(torch.equal(after[name], p) for name, p in before.items())


def test_validate_with_bfloat16_compute_scores_on_the_float_view(
    tiny_model_dir: Path, example_seeds: Path, tmp_path: Path
) -> None:
    data = SelfSpecDataModule(seeds_path=example_seeds, base_model=str(tiny_model_dir), batch_size=4, val_fraction=0.5)
    module = SpecialistModule(
        base_model=str(tiny_model_dir), quantization="nf4", precision="bfloat16", effective_batch_size=None
    )
    trainer = L.Trainer(
        accelerator="cpu", devices=1, logger=False, enable_progress_bar=False, enable_model_summary=False,
        default_root_dir=tmp_path,
    )  # fmt: skip
    trainer.validate(module, datamodule=data, verbose=False)
    assert torch.isfinite(trainer.callback_metrics["val/loss"])
    assert {p.dtype for n, p in module.model.named_parameters() if "lora_" in n} == {torch.float32}
