"""Test hook: end the process abruptly (``os._exit``, no cleanup, like SIGKILL) at one named moment of fit.

Put ``tests.kill_hook.ExitAt`` in a config's ``trainer.callbacks`` and name the moment in the
``SELFSPEC_TEST_EXIT_AT`` environment variable, ``<event>:<epoch>[:<batch>]``:

* ``batch_start:E:B`` / ``batch_end:E:B``: before / after micro-batch ``B`` of epoch ``E`` (after it
  means after its backward and, at an accumulation boundary, its optimizer step, but before the
  checkpoint callbacks, which Lightning always runs last, saved it);
* ``epoch_start:E``, ``epoch_end:E`` (before the epoch-end checkpoint), ``val_start:E``, ``val_end:E``.

* ``val_epoch_end:E`` (before callbacks listed after this one, e.g. ``DomainEvaluation``, evaluate).

Moments are named by epoch and batch index, which a resumed run counts the same way, so a chain
of runs (kill at moment 1, resume and kill at moment 2, ...) visits each moment once.

``SELFSPEC_TEST_SIGNAL_AT=SIGTERM@<moment>`` (or ``SIGINT@...``) instead sends that signal to the
process itself at the moment, as a user, a scheduler or Ctrl-C would: the run must stop by itself.
"""

from __future__ import annotations

import os
import signal
from typing import Any

import lightning as L

EXIT_STATUS = 86  # what a killed-by-hook process exits with, so a test can tell it from a crash


class ExitAt(L.Callback):
    def __init__(self) -> None:
        self.moment = os.environ.get("SELFSPEC_TEST_EXIT_AT", "")
        name, _, self.signal_moment = os.environ.get("SELFSPEC_TEST_SIGNAL_AT", "").partition("@")
        self.signum = signal.Signals[name] if name else None

    def _maybe_exit(self, event: str, trainer: L.Trainer, batch_idx: int | None = None) -> None:
        if trainer.sanity_checking:
            return
        here = f"{event}:{trainer.current_epoch}" + ("" if batch_idx is None else f":{batch_idx}")
        if here == self.moment:
            os._exit(EXIT_STATUS)
        if here == self.signal_moment and self.signum is not None:
            os.kill(os.getpid(), self.signum)

    def on_train_batch_start(
        self, trainer: L.Trainer, pl_module: L.LightningModule, batch: Any, batch_idx: int
    ) -> None:
        self._maybe_exit("batch_start", trainer, batch_idx)

    def on_train_batch_end(
        self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        self._maybe_exit("batch_end", trainer, batch_idx)

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._maybe_exit("epoch_start", trainer)

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._maybe_exit("epoch_end", trainer)

    def on_validation_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._maybe_exit("val_start", trainer)

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._maybe_exit("val_end", trainer)

    def on_validation_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._maybe_exit("val_epoch_end", trainer)
