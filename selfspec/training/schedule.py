"""Learning-rate schedule and gradient accumulation: pure arithmetic."""

from __future__ import annotations

import math
from collections.abc import Callable


def warmup_cosine(warmup_steps: int, total_steps: int) -> Callable[[int], float]:
    """Multiplier of the peak learning rate at optimizer step ``step`` (0-based).

    Linear warm-up from 1/(warmup+1) to 1 over ``warmup_steps``, then cosine decay to 0 at
    ``total_steps``.
    """

    def factor(step: int) -> float:
        if step < warmup_steps:  # (step + 1): the first step already moves the weights (a 0 factor would not)
            return (step + 1) / (warmup_steps + 1)
        progress = (step - warmup_steps) / max(1, total_steps - warmup_steps)
        return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))  # clamped: steps past the total stay at 0

    return factor


def accumulation_steps(effective_batch: int, micro_batch: int, world_size: int) -> int:
    """Micro-batches to accumulate so that ``micro * world * steps`` is nearest ``effective_batch`` (>= 1)."""
    return max(1, round(effective_batch / (micro_batch * world_size)))


class WarmupCosine:
    """``warmup_cosine`` as a ``LambdaLR`` multiplier whose step count is filled in when known.

    Why late: the total needs the training dataloader's length, and asking Lightning for it
    (``trainer.estimated_stepping_batches``) inside ``configure_optimizers`` builds the train
    loader before a checkpoint's loader state is restored, which silently breaks exact mid-epoch
    resume. ``SpecialistModule.on_train_start`` sets ``total_steps`` instead. Being an object, its
    fields are saved in the scheduler's state dict.
    """

    def __init__(self, warmup_ratio: float) -> None:
        self.warmup_ratio = warmup_ratio
        self.total_steps = 0

    def __call__(self, step: int) -> float:
        if self.total_steps <= 0:
            return 1.0  # not used for an optimizer step: on_train_start sets the total first
        warmup = math.ceil(self.total_steps * self.warmup_ratio)  # ceil: any ratio > 0 gives at least one step
        return warmup_cosine(warmup, self.total_steps)(step)
