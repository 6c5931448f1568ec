"""The LightningModule that specialises a base model: (Q)LoRA adapters, response-only loss.

Construction is cheap; the base model is loaded in ``configure_model`` (idempotent), quantised
when asked, and wrapped with a PEFT LoRA adapter. Only adapter weights require gradients.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import lightning as L
import torch

from selfspec.errors import ConfigError, ModelLoadError
from selfspec.modeling.loading import resolve_model_source
from selfspec.modeling.quantization import Quantization, compute_dtype, quantization_config

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LoraSettings:
    """LoRA adapter shape (METHOD step 6 defaults).

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


class SpecialistModule(L.LightningModule):
    def __init__(
        self,
        base_model: str = "builtin:tiny-llama",
        quantization: Quantization = "nf4",
        lora: LoraSettings = LoraSettings(),
        learning_rate: float = 3e-4,
        weight_decay: float = 0.0,
        trust_remote_code: bool = False,
    ) -> None:
        """QLoRA specialisation of ``base_model``.

        Args:
            base_model: Hub id (``meta-llama/Llama-2-7b-hf``), local directory written by
                ``save_pretrained``, or ``builtin:tiny-llama``.
            quantization: Base weights in 4-bit NF4 (QLoRA), 8-bit, or unquantised (``none``).
            lora: LoRA adapter settings.
            learning_rate: AdamW learning rate.
            weight_decay: AdamW weight decay.
            trust_remote_code: Allow custom model code from the model repository; off unless
                you trust its author.
        """
        super().__init__()
        self.lora = lora
        if self.lora.r <= 0:
            raise ConfigError(f"--model.lora.r must be a positive integer, got {self.lora.r}")
        if not 0.0 <= self.lora.dropout < 1.0:
            raise ConfigError(f"--model.lora.dropout must be in [0, 1), got {self.lora.dropout}")
        if learning_rate <= 0:
            raise ConfigError(f"--model.learning_rate must be positive, got {learning_rate}")
        self.save_hyperparameters()
        self.base_model = base_model
        self.quantization = quantization
        self.learning_rate = learning_rate
        self.weight_decay = weight_decay
        self.trust_remote_code = trust_remote_code
        self.model: Any = None

    def configure_model(self) -> None:
        if self.model is not None:
            return
        self.model = self._load_with_lora()

    def _load_with_lora(self) -> Any:
        from peft import LoraConfig, get_peft_model, prepare_model_for_kbit_training
        from transformers import AutoModelForCausalLM

        source = resolve_model_source(self.base_model)
        device = self.trainer.strategy.root_device if self._trainer is not None else torch.device("cpu")
        dtype = compute_dtype(device)
        quant = quantization_config(self.quantization, dtype)
        try:
            base = AutoModelForCausalLM.from_pretrained(
                source.name_or_path,
                local_files_only=source.local_files_only,
                trust_remote_code=self.trust_remote_code,
                dtype=dtype,
                quantization_config=quant,
                device_map={"": device} if quant is not None else None,
            )
        except (OSError, ValueError) as err:
            raise ModelLoadError(f"cannot load base_model {self.base_model!r}: {err}") from err
        if quant is not None:
            base = prepare_model_for_kbit_training(base, use_gradient_checkpointing=False)
        config = LoraConfig(
            r=self.lora.r,
            lora_alpha=self.lora.alpha,
            lora_dropout=self.lora.dropout,
            target_modules=self.lora.target_modules,
            task_type="CAUSAL_LM",
        )
        try:
            return get_peft_model(base, config)
        except ValueError as err:
            raise ConfigError(f"--model.lora.target_modules={self.lora.target_modules!r}: {err}") from err

    def forward(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """Mean cross-entropy over response tokens (prompt and padding are labelled -100)."""
        return self.model(**batch).loss

    def training_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        loss = self(batch)
        self.log("train/loss", loss, prog_bar=True, batch_size=batch["input_ids"].shape[0])
        return loss

    def validation_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> None:
        self.log("val/loss", self(batch), prog_bar=True, batch_size=batch["input_ids"].shape[0], sync_dist=True)

    def configure_optimizers(self) -> torch.optim.Optimizer:
        trainable = [p for p in self.parameters() if p.requires_grad]
        return torch.optim.AdamW(trainable, lr=self.learning_rate, weight_decay=self.weight_decay)
