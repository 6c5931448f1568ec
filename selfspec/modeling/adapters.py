"""Base model + LoRA adapter: the one place that builds the network selfspec trains and runs.

* ``load_base`` loads a base model (quantised when asked) onto a device;
* ``add_lora`` wraps it with a fresh, trainable LoRA adapter (QLoRA when the base is 4-bit);
* ``attach_adapter`` loads a saved PEFT adapter directory onto it (regeneration, evaluation).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from selfspec.errors import ConfigError, ModelLoadError
from selfspec.modeling.loading import resolve_model_source
from selfspec.modeling.quantization import Quantization, compute_dtype, quantization_config


@dataclass(frozen=True)
class LoraSettings:
    """LoRA adapter shape (docs/method.md step 6 defaults).

    Args:
        r: Rank of the update matrices.
        alpha: Scaling numerator; the update is scaled by alpha / r.
        dropout: Dropout on the adapter input.
        target_modules: Module names to adapt, or ``all-linear`` for every linear projection
            except the output head.
    """

    r: int = 8
    alpha: int = 16
    dropout: float = 0.05
    target_modules: list[str] | str = "all-linear"

    def check(self, flag: str = "--model.lora") -> None:
        """Raise ``ConfigError`` naming the flag of the first impossible value."""
        if self.r <= 0:
            raise ConfigError(f"{flag}.r must be a positive integer, got {self.r}")
        if self.alpha <= 0:
            raise ConfigError(f"{flag}.alpha must be positive, got {self.alpha}")
        if not 0.0 <= self.dropout < 1.0:
            raise ConfigError(f"{flag}.dropout must be in [0, 1), got {self.dropout}")


def load_base(
    base_model: str,
    quantization: Quantization = "nf4",
    device: torch.device | None = None,
    trust_remote_code: bool = False,
    dtype: torch.dtype | None = None,
) -> Any:
    """The base causal LM on ``device``: 4-bit/8-bit through bitsandbytes, or unquantised.

    ``dtype`` (the weights' dtype when unquantised, the compute dtype when quantised) defaults to
    bf16 on GPUs that support it and float32 elsewhere.
    """
    from transformers import AutoModelForCausalLM  # here: importing transformers costs seconds

    device = device or torch.device("cpu")
    source = resolve_model_source(base_model)
    dtype = dtype or compute_dtype(device)
    quant = quantization_config(quantization, dtype)
    # On a CPU a 4-bit base is quantised from float32 weights whatever its compute dtype, so bfloat16
    # compute runs on the very 4-bit codes float32 compute does (see dequantize_in).
    weights = torch.float32 if quant is not None and device.type == "cpu" else dtype
    try:
        model = AutoModelForCausalLM.from_pretrained(
            source.name_or_path,
            local_files_only=source.local_files_only,
            trust_remote_code=trust_remote_code,
            dtype=weights,
            quantization_config=quant,
            # bitsandbytes quantises while loading, onto the device; a quantised model cannot be moved after.
            device_map={"": device} if quant is not None else None,
        )
    except (OSError, ValueError) as err:
        raise ModelLoadError(f"cannot load base_model {base_model!r}: {err}") from err
    if quant is not None:
        keep_4bit_weights_unpacked(model)
        dequantize_in(model, dtype)
        return model
    return model.to(device)  # type: ignore[arg-type]


def dequantize_in(model: Any, dtype: torch.dtype) -> int:
    """Make every 4-bit layer dequantize its weight to ``dtype``; returns how many layers changed.

    A 4-bit weight dequantizes to the dtype it was quantised from, and a layer multiplies in that
    dtype whatever its compute dtype: quantised from float32, bfloat16 compute would still run
    float32 products (on this project's Sapphire Rapids: 24 ms instead of 6 per forward and backward
    of a 2,048 x 1,536 x 576 layer). Quantising from bfloat16-rounded weights instead gives other
    codes than a float32 run, which changed 32 of the README suite's 80 base answers (against 5-7 of
    80 for bf16 products alone on an unquantised copy).
    """
    layers = [m for m in model.modules() if getattr(getattr(m, "weight", None), "quant_state", None) is not None]
    changed = [m for m in layers if m.weight.quant_state.dtype != dtype]
    for layer in changed:
        layer.weight.quant_state.dtype = dtype
    return len(changed)


def keep_4bit_weights_unpacked(model: Any) -> int:
    """Switch off bitsandbytes' CPU weight repacking on every 4-bit layer; returns how many.

    On CPUs with AVX512-BF16 (not on others), bitsandbytes >= 0.49 rewrites a 4-bit layer's weights
    in place at its first eval-mode forward without gradients (Lightning's validation sanity check,
    every validation): scales cast to bfloat16, and from then on a fused kernel that has no autograd
    formula, so training after a validation gets no gradient through the base layers and ends on other
    weights than a run resumed from a checkpoint (the inexact resume of issue 12). selfspec keeps the
    standard layout: the same numbers on every CPU, training or not.
    """
    layers = [m for m in model.modules() if hasattr(m, "support_avx512bf16_for_cpu")]
    for layer in layers:
        layer.support_avx512bf16_for_cpu = False
    return len(layers)


def add_lora(base: Any, lora: LoraSettings, gradient_checkpointing: bool = False) -> Any:
    """Wrap ``base`` with a fresh trainable LoRA adapter; every base weight is frozen."""
    from peft import LoraConfig, get_peft_model, prepare_model_for_kbit_training

    if getattr(base, "is_loaded_in_4bit", False) or getattr(base, "is_loaded_in_8bit", False):
        # QLoRA: float32 layer norms and output head, input gradients on (checkpointing needs them).
        base = prepare_model_for_kbit_training(base, use_gradient_checkpointing=gradient_checkpointing)
    elif gradient_checkpointing:
        base.gradient_checkpointing_enable()
    config = LoraConfig(
        r=lora.r,
        lora_alpha=lora.alpha,
        lora_dropout=lora.dropout,
        target_modules=lora.target_modules,
        task_type="CAUSAL_LM",
    )
    try:
        return get_peft_model(base, config)
    except ValueError as err:  # PEFT's error for target module names the model does not have
        raise ConfigError(f"--model.lora.target_modules={lora.target_modules!r}: {err}") from err


def attach_adapter(
    base: Any, adapter_dir: str | Path, trainable: bool = False, name: str = "default", base_name: str | None = None
) -> Any:
    """Load a saved PEFT adapter (``adapter_config.json`` + safetensors) onto ``base``.

    An adapter that is incomplete or was trained on a base of other shapes is refused in one line
    naming both (``base_name``: the base as the user named it) before any weight is loaded.
    """
    from peft import PeftModel

    from selfspec.modeling.compat import check_adapter_fits, describe_adapter  # compat imports this module

    check_adapter_fits(base, describe_adapter(adapter_dir), base_name)
    return PeftModel.from_pretrained(base, str(adapter_dir), is_trainable=trainable, adapter_name=name)


def check_adapter_for_base(adapter_dir: str | Path, base_model: str, trust_remote_code: bool = False) -> None:
    """Refuse (one line naming both) an adapter that does not fit ``base_model``, loading no weights:
    the base is built from its config on the ``meta`` device, which allocates nothing."""
    from transformers import AutoConfig, AutoModelForCausalLM

    from selfspec.modeling.compat import check_adapter_fits, describe_adapter

    info = describe_adapter(adapter_dir)
    source = resolve_model_source(base_model)
    config = AutoConfig.from_pretrained(
        source.name_or_path, local_files_only=source.local_files_only, trust_remote_code=trust_remote_code
    )
    with torch.device("meta"):
        skeleton = AutoModelForCausalLM.from_config(config, trust_remote_code=trust_remote_code)
    check_adapter_fits(skeleton, info, base_model)


ADAPTER_META = "selfspec_adapter.json"  # written beside adapter_config.json by selfspec exports


def read_adapter_meta(adapter_dir: str | Path) -> dict[str, Any]:
    """selfspec's record of how an adapter was trained (template, base model, ...); {} if absent."""
    import json

    path = Path(adapter_dir) / ADAPTER_META
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}


def write_adapter_meta(adapter_dir: str | Path, meta: dict[str, Any]) -> None:
    """Save ``meta`` (must hold at least ``template`` and ``base_model``) beside the adapter, atomically."""
    from selfspec.io import atomic_write_json

    missing = {"template", "base_model"} - set(meta)
    if missing:
        raise ValueError(f"adapter meta lacks {sorted(missing)}")
    atomic_write_json(Path(adapter_dir) / ADAPTER_META, meta)
