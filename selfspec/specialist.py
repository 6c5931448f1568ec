"""The LightningModule that specialises a base model: QLoRA adapters, response-only loss.

Construction is cheap; ``configure_model`` (idempotent) loads the base, quantised when asked,
and wraps it with a PEFT LoRA adapter (or a saved one); not in ``predict``, which generates data
with a model of its own. Only adapter weights require gradients,
and only they go into checkpoints: a checkpoint is megabytes (adapter + optimizer + loop + RNG
state), never the base model. Resuming from one continues exactly where the run stopped.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
from pathlib import Path
from typing import Any, Literal

import lightning as L
import torch

from selfspec import stopping
from selfspec.errors import ConfigError
from selfspec.generation.recipe import predict_generation
from selfspec.hparams import make_plain
from selfspec.modeling.adapters import (
    LoraSettings,
    add_lora,
    attach_adapter,
    check_adapter_for_base,
    load_base,
    write_adapter_meta,
)
from selfspec.modeling.dropout import use_mask_dropout
from selfspec.modeling.inference import float_view_on_cpu
from selfspec.modeling.precision import Precision, training_dtype
from selfspec.modeling.quantization import Quantization, bitsandbytes_problem
from selfspec.training.loss import plain_head, response_loss
from selfspec.training.rng import restore_rng_states, rng_states
from selfspec.training.schedule import WarmupCosine, accumulation_steps

log = logging.getLogger(__name__)

OptimizerName = Literal["auto", "adamw", "paged_adamw"]


def batch_seed(epoch: int, batch_idx: int, rank: int) -> int:
    """The dropout seed of one training micro-batch, derived from the run's seed (``seed_everything``)."""
    key = f"{os.environ.get('PL_GLOBAL_SEED', '0')}:{epoch}:{batch_idx}:{rank}".encode()
    return int.from_bytes(hashlib.blake2b(key, digest_size=8).digest(), "little") >> 1  # < 2**63


class SpecialistModule(L.LightningModule):
    def __init__(
        self,
        base_model: str = "builtin:tiny-llama",
        quantization: Quantization = "nf4",
        lora: LoraSettings = LoraSettings(),
        adapter: str | None = None,
        learning_rate: float = 3e-4,
        weight_decay: float = 0.0,
        warmup_ratio: float = 0.03,
        optimizer: OptimizerName = "auto",
        effective_batch_size: int | None = 32,
        gradient_checkpointing: bool = False,
        precision: Precision = "auto",
        trust_remote_code: bool = False,
    ) -> None:
        """QLoRA specialisation of ``base_model`` (docs/method.md step 6).

        Args:
            base_model: Hub id (``meta-llama/Llama-2-7b-hf``), local directory written by
                ``save_pretrained``, or ``builtin:tiny-llama``.
            quantization: Base weights in 4-bit NF4 with double quantisation (QLoRA), 8-bit, or
                unquantised (``none``, plain LoRA).
            lora: LoRA adapter settings (for a fresh adapter).
            adapter: Start from this saved PEFT adapter directory instead of a fresh LoRA (to
                evaluate it, regenerate data with it, or continue training it).
            learning_rate: Peak AdamW learning rate.
            weight_decay: AdamW weight decay.
            warmup_ratio: Share of optimizer steps spent warming the learning rate up linearly;
                a cosine decay to zero follows.
            optimizer: ``adamw`` (torch), ``paged_adamw`` (bitsandbytes, pages optimizer state
                out of GPU memory under pressure), or ``auto`` (paged on CUDA, torch elsewhere).
            effective_batch_size: Examples per optimizer step over all devices; gradient
                accumulation is derived from it, ``data.batch_size`` and the device count. Null
                leaves ``trainer.accumulate_grad_batches`` in charge.
            gradient_checkpointing: Recompute activations in the backward pass: less memory,
                about 30% more compute.
            precision: Compute dtype of the base model: ``bfloat16`` where the device does it
                natively (CUDA with bf16, CPUs with AVX512-BF16/AMX), else ``float32`` (``auto``);
                or force one. Adapter weights stay float32 either way.
            trust_remote_code: Allow custom model code from the model repository; off unless
                you trust its author.
        """
        super().__init__()
        lora.check()
        if learning_rate <= 0:
            raise ConfigError(f"--model.learning_rate must be positive, got {learning_rate}")
        if not 0.0 <= warmup_ratio < 1.0:
            raise ConfigError(f"--model.warmup_ratio must be in [0, 1), got {warmup_ratio}")
        if effective_batch_size is not None and effective_batch_size < 1:
            raise ConfigError(f"--model.effective_batch_size must be at least 1 (or null), got {effective_batch_size}")
        self.save_hyperparameters()
        make_plain(self.hparams)  # checkpoints must load with weights_only=True
        self.base_model = base_model
        self.quantization = quantization
        self.lora = lora
        self.adapter = adapter
        self.learning_rate = learning_rate
        self.weight_decay = weight_decay
        self.warmup_ratio = warmup_ratio
        self.optimizer_name = optimizer
        self.effective_batch_size = effective_batch_size
        self.gradient_checkpointing = gradient_checkpointing
        self.precision = precision
        self.trust_remote_code = trust_remote_code
        self.strict_loading = False  # checkpoints hold adapter weights only; on_load_checkpoint checks them
        self.model: Any = None
        self._chunked_loss: bool | None = None  # decided once the model is loaded
        self._float_view = contextlib.ExitStack()  # validate/test on a CPU: see _enter_float_view

    # -- model -------------------------------------------------------------------------------

    def configure_model(self) -> None:
        if self.model is not None:
            return
        if self._trainer is not None and self.trainer.predicting:
            # `selfspec predict` generates data with its own generator (base model, unquantised,
            # + response_adapter), so the trainable model would be a second, unused copy.
            return
        if self.adapter is not None:  # a foreign adapter is refused before the base's weights load
            check_adapter_for_base(self.adapter, self.base_model, self.trust_remote_code)
        device = self.trainer.strategy.root_device if self._trainer is not None else torch.device("cpu")
        dtype = training_dtype(self.precision, device)
        base = load_base(self.base_model, self.quantization, device, self.trust_remote_code, dtype)
        if self.adapter is not None:
            self.model = attach_adapter(base, self.adapter, trainable=True, base_name=self.base_model)
        else:
            self.model = add_lora(base, self.lora, self.gradient_checkpointing)
        use_mask_dropout(self.model)  # PEFT's nn.Dropout costs a Bernoulli draw per element on CPU
        self.model.train()  # from_pretrained returns eval mode; Lightning switches modes per loop from here

    def trainable_names(self) -> set[str]:
        return {name for name, p in self.named_parameters() if p.requires_grad}

    def export_adapter(self, out_dir: str | Path, template: str) -> Path:
        """Save the adapter in the PEFT format (safetensors + adapter_config.json) plus selfspec's meta."""
        out_dir = Path(out_dir)
        self.model.save_pretrained(str(out_dir), safe_serialization=True)
        meta = {"template": template, "base_model": self.base_model, "quantization": self.quantization}
        write_adapter_meta(out_dir, {**meta, "lora": vars(self.lora), "adapter_init": self.adapter})
        return out_dir

    # -- steps -------------------------------------------------------------------------------

    def forward(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """Mean cross-entropy over response tokens (prompt and padding are labelled -100)."""
        if self._chunked_loss is None:
            self._chunked_loss = plain_head(self.model)
            if not self._chunked_loss:
                log.info("loss: %s has a non-plain output head; using full logits", self.base_model)
        if self._chunked_loss:
            return response_loss(self.model, batch)  # same value, no (batch, length, vocab) logits
        return self.model(**batch).loss

    def training_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        loss = self(batch)
        tokens = int((batch["labels"] != -100).sum())  # what the loss averaged over: response tokens only
        self.log("train/loss", loss, prog_bar=True, batch_size=batch["input_ids"].shape[0])
        self.log("train/response_tokens", float(tokens), reduce_fx="sum", on_step=False, on_epoch=True)
        return loss

    def on_train_batch_start(self, batch: Any, batch_idx: int) -> None:
        # SIGTERM/Ctrl-C stop here (Lightning itself only watches SIGTERM): every finished
        # checkpoint is on disk, and a run resumed from the last one equals an uninterrupted run.
        stopping.check()
        # Dropout masks are a pure function of (seed, epoch, batch, rank), not of the global RNG's
        # history: a resumed process consumes that RNG differently around restores and epoch ends
        # (an epoch-end checkpoint written after a mid-epoch resume held another RNG state than one
        # written by an uninterrupted run).
        torch.manual_seed(batch_seed(self.trainer.current_epoch, batch_idx, self.global_rank))

    def on_validation_start(self) -> None:
        self._enter_float_view()

    def on_test_start(self) -> None:
        self._enter_float_view()

    def on_validation_end(self) -> None:
        self._float_view.close()

    def on_test_end(self) -> None:
        self._float_view.close()

    def _enter_float_view(self) -> None:
        # `selfspec validate`/`test` on a CPU: the held-out loss and the task suite (DomainEvaluation,
        # whose own float view then finds nothing left to swap) run on the dequantized weights, once.
        # A 4-bit layer on a CPU dequantizes its whole weight at every call: one batch of held-out
        # seeds took about 5 s on SmolLM2, and a model built for evaluation only never trains again.
        # Not during fit, whose validation sits between training steps on the 4-bit weights.
        if self.trainer.state.fn != "fit" and self.model is not None:
            self._float_view.enter_context(float_view_on_cpu(self.model))

    def on_validation_batch_start(self, batch: Any, batch_idx: int, dataloader_idx: int = 0) -> None:
        stopping.check()

    def on_test_batch_start(self, batch: Any, batch_idx: int, dataloader_idx: int = 0) -> None:
        stopping.check()

    def validation_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> None:
        self.log("val/loss", self(batch), prog_bar=True, batch_size=batch["input_ids"].shape[0], sync_dist=True)

    def test_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> None:
        # `selfspec test`: held-out loss; selfspec.callbacks.DomainEvaluation adds the task suite.
        self.log("test/loss", self(batch), batch_size=batch["input_ids"].shape[0], sync_dist=True)

    # -- optimisation ------------------------------------------------------------------------

    def setup(self, stage: str) -> None:
        if stage == "fit" and self.effective_batch_size is not None:
            self._set_accumulation()

    def _set_accumulation(self) -> None:
        trainer = self.trainer
        if trainer.accumulate_grad_batches != 1:
            raise ConfigError(
                "Can't set both --model.effective_batch_size and --trainer.accumulate_grad_batches; choose one "
                "(set --model.effective_batch_size null to use the trainer's)"
            )
        micro = getattr(getattr(trainer, "datamodule", None), "batch_size", None)
        if not isinstance(micro, int):
            raise ConfigError("--model.effective_batch_size needs a data module with an integer batch_size")
        steps = accumulation_steps(self.effective_batch_size or 1, micro, trainer.world_size)
        trainer.accumulate_grad_batches = steps
        actual = steps * micro * trainer.world_size
        if trainer.is_global_zero:
            log.info(
                "effective batch %d = %d per device x %d device(s) x %d accumulation",
                actual,
                micro,
                trainer.world_size,
                steps,
            )
            if actual != self.effective_batch_size:
                log.warning(
                    "effective batch is %d, not the requested %d (not divisible)", actual, self.effective_batch_size
                )

    def predict_step(self, batch: Any, batch_idx: int) -> Any:
        # `selfspec predict` runs data generation (the recipe's share of this process), not inference.
        return predict_generation(self, batch)

    def configure_optimizers(self) -> Any:
        trainable = [p for p in self.parameters() if p.requires_grad]
        optimizer = self._make_optimizer(trainable)
        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, WarmupCosine(self.warmup_ratio))
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}

    def on_train_start(self) -> None:
        # The train loader exists now (after any checkpoint restore): size the schedule.
        scheduler = self.lr_schedulers()
        if isinstance(scheduler, torch.optim.lr_scheduler.LambdaLR):
            for schedule, group, base in zip(
                scheduler.lr_lambdas, scheduler.optimizer.param_groups, scheduler.base_lrs, strict=True
            ):
                if isinstance(schedule, WarmupCosine):
                    schedule.total_steps = max(1, int(self.trainer.estimated_stepping_batches))
                    # LambdaLR set lr when it was built, with total 0 (factor 1): redo it for the current step.
                    group["lr"] = base * schedule(scheduler.last_epoch)

    def _make_optimizer(self, params: list[torch.nn.Parameter]) -> torch.optim.Optimizer:
        name = self.optimizer_name
        if name == "auto":
            # Paged states only help where GPU memory runs out; bitsandbytes' CPU optimizer gains nothing.
            on_cuda = self.device.type == "cuda" and bitsandbytes_problem() is None
            name = "paged_adamw" if on_cuda else "adamw"
        if name == "paged_adamw":
            import bitsandbytes as bnb

            return bnb.optim.PagedAdamW(params, lr=self.learning_rate, weight_decay=self.weight_decay)
        return torch.optim.AdamW(params, lr=self.learning_rate, weight_decay=self.weight_decay)

    # -- checkpoints: adapter weights + RNG only ---------------------------------------------

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        keep = self.trainable_names()
        checkpoint["state_dict"] = {k: v for k, v in checkpoint["state_dict"].items() if k in keep}
        checkpoint["selfspec_rng"] = rng_states()

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        expected, found = self.trainable_names(), set(checkpoint["state_dict"])
        if expected != found:
            missing, unexpected = sorted(expected - found)[:3], sorted(found - expected)[:3]  # 3 names identify it
            raise ConfigError(
                f"checkpoint does not fit this model's adapter (missing {missing}, unexpected {unexpected}); "
                "was it trained with other --model.lora settings or another base model?"
            )
        if "selfspec_rng" in checkpoint:
            restore_rng_states(checkpoint["selfspec_rng"])
