"""Training progress: Lightning's bar in a terminal, plain periodic lines in a log file.

``selfspec`` adds ``default_progress_bar()`` unless the config names a progress bar of its own or
switches it off (``trainer.enable_progress_bar: false``).
"""

from __future__ import annotations

from typing import Any

import lightning as L
from lightning.pytorch.callbacks import ProgressBar, RichProgressBar, TQDMProgressBar
from lightning.pytorch.utilities.imports import _RICH_AVAILABLE

from selfspec.progress import PlainProgress, interactive


class EpochBar(RichProgressBar):
    """Lightning's rich bar, which reads ``Epoch 28/-2`` when only ``max_steps`` bounds the run
    (``max_epochs: -1``); this one then says ``Epoch 28`` and the bar counts the epoch's batches."""

    def _get_train_description(self, current_epoch: int) -> str:
        description = super()._get_train_description(current_epoch)
        max_epochs = self.trainer.max_epochs
        return description if max_epochs is None or max_epochs >= 0 else description.split("/", 1)[0]


class LogProgress(ProgressBar):
    """Training as plain lines: ``train: 14/42 steps (33%), 1m05s elapsed, ~2m10s left, epoch 1, loss 2.31``."""

    def __init__(self, min_seconds: float = 10.0, max_seconds: float = 60.0) -> None:
        super().__init__()
        self.min_seconds, self.max_seconds = min_seconds, max_seconds
        self._enabled = True
        self._bar: PlainProgress | None = None
        self._steps = 0

    def disable(self) -> None:  # Lightning disables the bar on every rank but 0
        self._enabled = False

    def enable(self) -> None:
        self._enabled = True

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        total = int(trainer.estimated_stepping_batches)  # optimizer steps, as the log line counts them
        bar = PlainProgress(total, "train", "steps", not self._enabled, self.min_seconds, self.max_seconds)
        bar.n = self._steps = trainer.global_step  # a resumed run counts from its checkpoint
        self._bar = bar

    def on_train_batch_end(
        self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        if self._bar is None or trainer.global_step == self._steps:
            return  # an accumulation micro-batch: no optimizer step yet
        loss = trainer.callback_metrics.get("train/loss")
        postfix: dict[str, object] = {"epoch": trainer.current_epoch}
        if loss is not None:
            postfix["loss"] = f"{float(loss):.3f}"
        self._bar.set_postfix(postfix)
        self._bar.update(trainer.global_step - self._steps)
        self._steps = trainer.global_step

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None


def default_progress_bar() -> ProgressBar:
    """``EpochBar`` (or tqdm without rich) on a terminal, ``LogProgress`` when stderr is a file or pipe."""
    if not interactive():
        return LogProgress()
    return EpochBar() if _RICH_AVAILABLE else TQDMProgressBar()
