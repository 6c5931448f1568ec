"""The LightningModule that specialises a base model: (Q)LoRA adapters, response-only loss.

Construction is cheap; the base model is loaded in ``configure_model`` (idempotent), quantised
when asked, and wrapped with a PEFT LoRA adapter. Only adapter weights require gradients.
"""

from __future__ import annotations

import logging
from typing import Any

import lightning as L
import torch

from selfspec.errors import ConfigError
from selfspec.modeling.adapters import LoraSettings, add_lora, attach_adapter, load_base
from selfspec.modeling.quantization import Quantization

log = logging.getLogger(__name__)


class SpecialistModule(L.LightningModule):
    def __init__(
        self,
        base_model: str = "builtin:tiny-llama",
        quantization: Quantization = "nf4",
        lora: LoraSettings = LoraSettings(),
        adapter: str | None = None,
        learning_rate: float = 3e-4,
        weight_decay: float = 0.0,
        trust_remote_code: bool = False,
    ) -> None:
        """QLoRA specialisation of ``base_model``.

        Args:
            base_model: Hub id (``meta-llama/Llama-2-7b-hf``), local directory written by
                ``save_pretrained``, or ``builtin:tiny-llama``.
            quantization: Base weights in 4-bit NF4 (QLoRA), 8-bit, or unquantised (``none``).
            lora: LoRA adapter settings (for a fresh adapter).
            adapter: Start from this saved PEFT adapter directory instead of a fresh LoRA (to
                evaluate it, regenerate data with it, or continue training it).
            learning_rate: AdamW learning rate.
            weight_decay: AdamW weight decay.
            trust_remote_code: Allow custom model code from the model repository; off unless
                you trust its author.
        """
        super().__init__()
        lora.check()
        self.lora = lora
        if learning_rate <= 0:
            raise ConfigError(f"--model.learning_rate must be positive, got {learning_rate}")
        self.save_hyperparameters()
        self.base_model = base_model
        self.adapter = adapter
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
        device = self.trainer.strategy.root_device if self._trainer is not None else torch.device("cpu")
        base = load_base(self.base_model, self.quantization, device, self.trust_remote_code)
        if self.adapter is not None:
            return attach_adapter(base, self.adapter, trainable=True)
        return add_lora(base, self.lora)

    def forward(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """Mean cross-entropy over response tokens (prompt and padding are labelled -100)."""
        return self.model(**batch).loss

    def training_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        loss = self(batch)
        self.log("train/loss", loss, prog_bar=True, batch_size=batch["input_ids"].shape[0])
        return loss

    def validation_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> None:
        self.log("val/loss", self(batch), prog_bar=True, batch_size=batch["input_ids"].shape[0], sync_dist=True)

    def predict_step(self, batch: Any, batch_idx: int) -> Any:
        # `selfspec predict` runs data generation (selfspec.generation.distributed), not inference.
        from selfspec.generation.distributed import predict_generation

        return predict_generation(self, batch)

    def configure_optimizers(self) -> torch.optim.Optimizer:
        trainable = [p for p in self.parameters() if p.requires_grad]
        return torch.optim.AdamW(trainable, lr=self.learning_rate, weight_decay=self.weight_decay)
