"""The real model behind a generation run: base (+ adapter) on the best device, one BatchGenerator."""

from __future__ import annotations

import logging

import torch

from selfspec.decoding.generator import BatchGenerator
from selfspec.generation.contrastive import contrastive_factory
from selfspec.generation.plan import GenerationPlan
from selfspec.generation.stages import GeneratorFactory
from selfspec.modeling.adapters import attach_adapter, load_base
from selfspec.modeling.loading import load_tokenizer, resolve_model_source
from selfspec.modeling.precision import default_device, inference_dtype
from selfspec.modeling.threads import auto_threads

log = logging.getLogger(__name__)


def model_generator_factory(plan: GenerationPlan, device: torch.device | None = None) -> GeneratorFactory:
    """Loads the base model in ``plan.precision`` (auto: bf16 where the GPU or CPU has it, else float32) and,
    when asked, an adapter on top."""

    def make(adapter: str | None) -> BatchGenerator:
        target = device or default_device()
        # plan.dtype is for the default device (it enters the fingerprint); an explicit device decides its own.
        dtype = plan.dtype if device is None else inference_dtype(target, plan.precision)
        log.info("generation: loading %s%s on %s", plan.base_model, f" + {adapter}" if adapter else "", target)
        # Unquantised whatever --model.quantization says: the fingerprint has no quantisation key, so the
        # data must not depend on how the adapter is later trained.
        model = load_base(plan.base_model, "none", target, plan.trust_remote_code, dtype)
        if adapter is not None:
            model = attach_adapter(model, adapter, base_name=plan.base_model)
        model.eval()
        tokenizer = load_tokenizer(resolve_model_source(plan.base_model), plan.trust_remote_code)
        alpha = plan.responses.contrastive_alpha
        extra = contrastive_factory(model, alpha, tokenizer.pad_token_id) if adapter and alpha else None
        threads = auto_threads if target.type == "cpu" else None  # asked again before every batch
        return BatchGenerator(model, tokenizer, plan.batch_size, extra, threads)

    return make
