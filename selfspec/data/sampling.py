"""Resumable shuffling, optionally length-grouped (batches of similar length waste little on padding).

The order of a pass is a pure function of (lengths, batch_size, seed, pass number). The pass
number is counted here, not taken from Lightning: it is the number of passes that ran to their end,
kept in a ``PassCounter`` that the data module saves in checkpoints. Lightning's own epoch hint
(``set_epoch``) reaches the sampler after a resumed loader has already been iterated, and it is
ambiguous for checkpoints taken at an epoch's last batch; a counter of finished passes is not.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import torch
from torch.utils.data import Sampler

MEGABATCH = 50  # batches per sorting window: enough to group lengths, small enough to stay random


def length_grouped_order(lengths: Sequence[int], batch_size: int, seed: int, epoch: int) -> list[int]:
    """A random permutation where each run of ``batch_size`` indices has similar lengths.

    Like HF's ``LengthGroupedSampler``: shuffle, cut into windows of ``MEGABATCH`` batches, sort
    each window by length (longest first), and shuffle the order of the resulting batches.
    """
    generator = _generator(seed, epoch)
    order = torch.randperm(len(lengths), generator=generator).tolist()
    window = batch_size * MEGABATCH
    batches: list[list[int]] = []
    for start in range(0, len(order), window):
        # Sorted within a window only: neighbours have similar lengths, yet which examples meet stays random.
        chunk = sorted(order[start : start + window], key=lambda i: -lengths[i])
        batches += [chunk[k : k + batch_size] for k in range(0, len(chunk), batch_size)]
    shuffled = torch.randperm(len(batches), generator=generator).tolist()  # else lengths would fall within a window
    return [i for b in shuffled for i in batches[b]]


def uniform_order(n: int, seed: int, epoch: int) -> list[int]:
    """A plain random permutation of ``range(n)`` for pass ``epoch``."""
    return torch.randperm(n, generator=_generator(seed, epoch)).tolist()


def _generator(seed: int, epoch: int) -> torch.Generator:
    # A prime stride: distinct (seed, pass) pairs get distinct generator seeds for any pass below 1,000,003.
    return torch.Generator().manual_seed(seed * 1_000_003 + epoch)


@dataclass
class PassCounter:
    """How many passes over the training set have run to their end (saved with checkpoints)."""

    completed: int = 0


class ResumableShuffleSampler(Sampler[int]):
    """Shuffles each pass by its number; a resumed loader fast-forwards within the same order.

    Args:
        lengths: Token count of each example.
        batch_size: Examples per batch (for length grouping).
        seed: Seed of the shuffling.
        passes: Shared counter of finished passes; the current pass is number ``completed``.
        group_by_length: Group similar lengths into batches, or shuffle uniformly.
    """

    def __init__(
        self, lengths: Sequence[int], batch_size: int, seed: int, passes: PassCounter, group_by_length: bool = True
    ) -> None:
        self.lengths = list(lengths)
        self.batch_size = batch_size
        self.seed = seed
        self.passes = passes
        self.group_by_length = group_by_length

    def __len__(self) -> int:
        return len(self.lengths)  # every pass yields each index once, grouped or not

    def __iter__(self) -> Iterator[int]:
        epoch = self.passes.completed  # read now, not when the first index is drawn
        if self.group_by_length:
            order = length_grouped_order(self.lengths, self.batch_size, self.seed, epoch)
        else:
            order = uniform_order(len(self.lengths), self.seed, epoch)
        return self._emit(order)

    def _emit(self, order: list[int]) -> Iterator[int]:
        yield from order
        self.passes.completed += 1  # only a pass drawn to its end counts
