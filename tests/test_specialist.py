"""QLoRA specialisation: the properties that matter, on the real 4-bit path (bitsandbytes runs on CPU)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import lightning as L
import pytest
import torch
from selfspec.callbacks import AdapterExport

from selfspec.data.module import SelfSpecDataModule
from selfspec.errors import ConfigError
from selfspec.modeling import quantization as quantization_module
from selfspec.modeling.adapters import LoraSettings, load_base, read_adapter_meta
from selfspec.specialist import SpecialistModule


class Snapshot(L.Callback):
    """Copies of every state-dict entry at the start and the end of training, and the losses."""

    def __init__(self) -> None:
        self.before: dict[str, torch.Tensor] = {}
        self.after: dict[str, torch.Tensor] = {}
        self.losses: list[float] = []

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.before = {k: v.detach().clone() for k, v in pl_module.state_dict().items()}

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, *args: Any) -> None:
        self.losses.append(float(outputs["loss"]))

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.after = {k: v.detach().clone() for k, v in pl_module.state_dict().items()}


def _fit(
    root: Path, model_dir: Path, seeds: Path, max_steps: int, callbacks: list[L.Callback], **module_kwargs: Any
) -> tuple[SpecialistModule, L.Trainer]:
    data = SelfSpecDataModule(seeds_path=seeds, base_model=str(model_dir), batch_size=4, val_fraction=0.0)
    defaults: dict[str, Any] = {"learning_rate": 1e-2, "warmup_ratio": 0.0, "effective_batch_size": None}
    module = SpecialistModule(base_model=str(model_dir), **{**defaults, **module_kwargs})
    trainer = L.Trainer(
        accelerator="cpu", devices=1, max_steps=max_steps, logger=False, enable_checkpointing=False,
        enable_progress_bar=False, enable_model_summary=False, default_root_dir=root, callbacks=callbacks,
    )  # fmt: skip
    trainer.fit(module, datamodule=data)
    return module, trainer


def test_quantised_base_holds_linear4bit_layers_under_lora(tiny_model_dir: Path) -> None:
    import bitsandbytes as bnb

    module = SpecialistModule(base_model=str(tiny_model_dir), quantization="nf4")
    module.configure_model()
    first = module.model
    module.configure_model()  # idempotent
    assert module.model is first
    quantised = [name for name, m in module.model.named_modules() if isinstance(m, bnb.nn.Linear4bit)]
    assert len(quantised) == 2 * 7  # q, k, v, o, gate, up, down in each of the 2 layers
    trainable = module.trainable_names()
    assert trainable and all("lora_" in name for name in trainable)
    assert (
        module.model.base_model.model.model.layers[0].self_attn.q_proj.base_layer.weight.quant_state.quant_type == "nf4"
    )


def test_lora_weights_change_base_weights_stay_bit_identical_and_loss_falls(
    tiny_model_dir: Path, example_seeds: Path, tmp_path: Path
) -> None:
    memorisable = tmp_path / "four.jsonl"  # four examples, one batch: a set the adapter can memorise
    memorisable.write_text("\n".join(example_seeds.read_text().splitlines()[:4]) + "\n")
    snapshot = Snapshot()
    _fit(tmp_path, tiny_model_dir, memorisable, max_steps=25, callbacks=[snapshot], learning_rate=3e-2)
    lora_keys = [k for k in snapshot.before if "lora_" in k]
    base_keys = [k for k in snapshot.before if "lora_" not in k]
    assert lora_keys and base_keys
    assert all(not torch.equal(snapshot.before[k], snapshot.after[k]) for k in lora_keys if "lora_B" in k)
    assert all(torch.equal(snapshot.before[k], snapshot.after[k]) for k in base_keys)  # incl. 4-bit data + absmax
    first, last = snapshot.losses[0], snapshot.losses[-1]
    assert last < 0.5 * first, (first, last)


def test_checkpoint_holds_only_adapter_weights_and_loads_weights_only(
    tiny_model_dir: Path, example_seeds: Path, tmp_path: Path
) -> None:
    module, trainer = _fit(tmp_path, tiny_model_dir, example_seeds, 3, [])
    path = tmp_path / "adapter.ckpt"
    trainer.save_checkpoint(path)
    checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    assert set(checkpoint["state_dict"]) == module.trainable_names()
    assert "optimizer_states" in checkpoint and "loops" in checkpoint and "selfspec_rng" in checkpoint
    adapter_bytes = sum(v.numel() * v.element_size() for v in checkpoint["state_dict"].values())
    assert path.stat().st_size < 4 * adapter_bytes + 200_000  # adapter + 2 Adam moments + loop state


def test_exported_adapter_gives_the_same_logits_with_plain_peft(
    tiny_model_dir: Path, example_seeds: Path, tmp_path: Path
) -> None:
    from peft import PeftModel

    (tmp_path / "run").mkdir()
    module, _ = _fit(tmp_path, tiny_model_dir, example_seeds, 5, [])
    adapter = module.export_adapter(tmp_path / "adapter", template="alpaca")
    assert {"adapter_config.json", "adapter_model.safetensors", "selfspec_adapter.json"} <= {
        p.name for p in adapter.iterdir()
    }
    assert read_adapter_meta(adapter)["template"] == "alpaca"
    reloaded = PeftModel.from_pretrained(load_base(str(tiny_model_dir), "nf4"), str(adapter)).eval()
    probe = torch.tensor([[1, 40, 41, 42, 43, 44, 45]])
    module.model.eval()
    with torch.inference_mode():
        expected = module.model(input_ids=probe).logits
        actual = reloaded(input_ids=probe).logits
    assert torch.allclose(expected, actual, atol=1e-5)
    with torch.inference_mode():
        base_logits = load_base(str(tiny_model_dir), "nf4")(input_ids=probe).logits
    assert not torch.allclose(expected, base_logits, atol=1e-4)  # the adapter does something


def test_adapter_export_callback_writes_final_adapter_beside_config(
    tiny_model_dir: Path, example_seeds: Path, tmp_path: Path
) -> None:
    data = SelfSpecDataModule(seeds_path=example_seeds, base_model=str(tiny_model_dir), batch_size=4)
    module = SpecialistModule(base_model=str(tiny_model_dir), effective_batch_size=None)
    trainer = L.Trainer(
        accelerator="cpu", max_steps=2, default_root_dir=tmp_path, enable_progress_bar=False,
        enable_model_summary=False, callbacks=[AdapterExport()],
    )  # fmt: skip
    trainer.fit(module, datamodule=data)
    adapter = Path(trainer.log_dir or "") / "adapter"
    assert (adapter / "adapter_model.safetensors").is_file()
    assert read_adapter_meta(adapter)["base_model"] == str(tiny_model_dir)


def test_resuming_with_other_lora_shape_is_refused(tiny_model_dir: Path, example_seeds: Path, tmp_path: Path) -> None:
    _, trainer = _fit(tmp_path, tiny_model_dir, example_seeds, 2, [])
    trainer.save_checkpoint(tmp_path / "r8.ckpt")
    data = SelfSpecDataModule(seeds_path=example_seeds, base_model=str(tiny_model_dir), batch_size=4)
    module = SpecialistModule(base_model=str(tiny_model_dir), lora=LoraSettings(r=4, target_modules=["q_proj"]))
    other = L.Trainer(accelerator="cpu", max_steps=4, logger=False, enable_progress_bar=False)
    with pytest.raises(ConfigError, match="checkpoint does not fit this model's adapter"):
        other.fit(module, datamodule=data, ckpt_path=tmp_path / "r8.ckpt", weights_only=True)


def test_without_bitsandbytes_one_warning_and_plain_lora(
    tiny_model_dir: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(quantization_module, "bitsandbytes_problem", lambda: "ImportError: no module bitsandbytes")
    module = SpecialistModule(base_model=str(tiny_model_dir), quantization="nf4")
    with caplog.at_level(logging.WARNING, logger="selfspec"):
        module.configure_model()
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings == [
        "bitsandbytes unavailable (ImportError: no module bitsandbytes): training plain LoRA on an unquantised "
        "base instead of nf4"
    ]
    assert not getattr(module.model.base_model.model, "is_loaded_in_4bit", False)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"lora": LoraSettings(r=0)}, r"--model\.lora\.r must be a positive integer, got 0"),
        ({"lora": LoraSettings(alpha=-1)}, r"--model\.lora\.alpha must be positive"),
        ({"learning_rate": 0.0}, r"--model\.learning_rate must be positive"),
        ({"warmup_ratio": 1.0}, r"--model\.warmup_ratio must be in \[0, 1\)"),
        ({"effective_batch_size": 0}, r"--model\.effective_batch_size must be at least 1"),
    ],
)
def test_bad_hyper_parameters_name_the_option(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        SpecialistModule(**kwargs)


def test_unknown_target_module_names_the_option(tiny_model_dir: Path) -> None:
    module = SpecialistModule(base_model=str(tiny_model_dir), lora=LoraSettings(target_modules=["qkv_proj"]))
    with pytest.raises(ConfigError, match=r"--model\.lora\.target_modules=\['qkv_proj'\]"):
        module.configure_model()


def test_empty_dataset_names_the_option(tiny_model_dir: Path, example_seeds: Path) -> None:
    data = SelfSpecDataModule(seeds_path=example_seeds, base_model=str(tiny_model_dir), max_length=8, overflow="drop")
    with pytest.raises(ConfigError, match=r"no example fits --data\.max_length=8"):
        data.setup("fit")


def test_effective_batch_sets_gradient_accumulation(tiny_model_dir: Path, example_seeds: Path, tmp_path: Path) -> None:
    _, trainer = _fit(tmp_path, tiny_model_dir, example_seeds, 1, [], effective_batch_size=12)
    assert trainer.accumulate_grad_batches == 3  # 12 = 4 per batch x 1 device x 3
    data = SelfSpecDataModule(seeds_path=example_seeds, base_model=str(tiny_model_dir), batch_size=4)
    both = L.Trainer(accelerator="cpu", max_steps=1, accumulate_grad_batches=2, logger=False)
    with pytest.raises(ConfigError, match=r"Can't set both --model\.effective_batch_size and --trainer"):
        both.fit(SpecialistModule(base_model=str(tiny_model_dir)), datamodule=data)


def test_best_checkpoint_adapter_is_exported_beside_the_final_one(
    tiny_model_dir: Path, example_seeds: Path, tmp_path: Path
) -> None:
    from lightning.pytorch.callbacks import ModelCheckpoint
    from safetensors.torch import load_file

    data = SelfSpecDataModule(seeds_path=example_seeds, base_model=str(tiny_model_dir), batch_size=4)
    module = SpecialistModule(base_model=str(tiny_model_dir), effective_batch_size=None, learning_rate=5e-2)
    best = ModelCheckpoint(monitor="val/loss", save_top_k=1)
    trainer = L.Trainer(
        accelerator="cpu", max_epochs=3, default_root_dir=tmp_path, enable_progress_bar=False,
        enable_model_summary=False, callbacks=[best, AdapterExport()],
    )  # fmt: skip
    trainer.fit(module, datamodule=data)
    run = Path(trainer.log_dir or "")
    exported = load_file(str(run / "adapter_best" / "adapter_model.safetensors"))
    saved = torch.load(best.best_model_path, map_location="cpu", weights_only=True)["state_dict"]
    for name, tensor in saved.items():  # "model.base_model.model.<...>.lora_A.default.weight"
        key = name.removeprefix("model.").replace(".default.", ".")
        assert torch.equal(exported[key], tensor), name
    final = load_file(str(run / "adapter" / "adapter_model.safetensors"))
    live = {
        k.removeprefix("model.").replace(".default.", "."): v for k, v in module.state_dict().items() if "lora_" in k
    }
    assert all(torch.equal(final[k], live[k]) for k in final)  # the module got its final weights back
