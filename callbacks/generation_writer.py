"""Prediction writer for ``selfspec predict``: assembles the generated dataset on rank 0."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import lightning as L
from lightning.pytorch.callbacks import BasePredictionWriter

log = logging.getLogger(__name__)


class GenerationWriter(BasePredictionWriter):
    """Writes ``data.jsonl``, the funnel and the manifest once every process has written its shards."""

    def __init__(self) -> None:
        super().__init__(write_interval="epoch")

    def write_on_epoch_end(
        self, trainer: L.Trainer, pl_module: L.LightningModule, predictions: Sequence[Any], batch_indices: Any
    ) -> None:
        from selfspec.generation.cache import is_complete
        from selfspec.generation.pipeline import GenerationRun

        plan = trainer.datamodule.plan  # type: ignore[attr-defined]
        if trainer.is_global_zero and not is_complete(plan.dataset_dir):
            run = GenerationRun(plan, _no_model)
            run.finish_dataset(run.instructions())
        trainer.strategy.barrier()


def _no_model(adapter: str | None) -> Any:
    raise RuntimeError("assembling the dataset needs no model; a shard is missing")
