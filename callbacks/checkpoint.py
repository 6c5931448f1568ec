"""Checkpoints that a killed run resumes from exactly: mid-epoch ones, by optimizer step, only.

Lightning restores a checkpoint taken at the *last batch* of an epoch into an ambiguous loop state
(the resumed run's epoch count and data order drift). A checkpoint taken at the *end* of an epoch
restores exactly only when the process that wrote it never resumed: after a mid-epoch resume,
Lightning's loop and loader counters at the epoch's end differ from an uninterrupted run's (5 vs 4
batches processed and yielded, measured), and resuming from it trains on other batches (a chain of
kills and resumes ended 1e-2 away from the uninterrupted adapter). So this callback writes only
mid-epoch checkpoints, every ``every_n_train_steps`` optimizer steps; a kill after an epoch's last
step resumes from the step before it and redoes one step. Tested by ending runs (``os._exit``,
SIGKILL, SIGTERM, Ctrl-C) at every step and epoch boundary, alone and chained.
"""

from __future__ import annotations

from typing import Any

import lightning as L
from lightning.pytorch.callbacks import ModelCheckpoint

from selfspec.errors import ConfigError


class ResumableCheckpoint(ModelCheckpoint):
    """``ModelCheckpoint`` whose every checkpoint resumes exactly (see module docstring).

    Takes every ``ModelCheckpoint`` argument; ``every_n_train_steps`` is required (>= 1), and no
    checkpoint is written at an epoch's last batch, at its end or at validation end.
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if self._every_n_train_steps < 1:
            raise ConfigError(
                "selfspec.callbacks.ResumableCheckpoint saves by optimizer steps: set its every_n_train_steps "
                "(e.g. 50); epoch-end checkpoints do not resume exactly"
            )

    def on_train_batch_end(
        self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        if trainer.fit_loop.epoch_loop.batch_progress.is_last_batch:
            return  # an epoch's last step is redone from the step before it on resume
        super().on_train_batch_end(trainer, pl_module, outputs, batch, batch_idx)

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        return  # see the module docstring: epoch-end checkpoints are not exact after a mid-epoch resume

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        return
