"""Per-row seeded sampling as a logits processor.

``model.generate(do_sample=True)`` draws every row of a batch from one global RNG, so an item's
sample depends on which other items share its batch. Here each row owns a ``torch.Generator``
seeded by the caller (one seed per item); the processor draws the next token itself and hands
greedy decoding a one-hot score. An item's sample then depends on its seed and its prompt only,
which is what makes a killed-and-resumed generation run byte-identical to an uninterrupted one.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from transformers import LogitsProcessor


def top_p_filter(logits: torch.Tensor, top_p: float) -> torch.Tensor:
    """Keep the smallest set of tokens whose probability reaches ``top_p``; others get -inf. (B, V)."""
    if top_p >= 1.0:
        return logits
    sorted_logits, order = torch.sort(logits, descending=True, dim=-1)
    cumulative = sorted_logits.softmax(dim=-1).cumsum(dim=-1)
    # Drop a token when the mass *before* it already reaches top_p (the top token always stays).
    drop_sorted = (cumulative - sorted_logits.softmax(dim=-1)) >= top_p
    drop = torch.zeros_like(drop_sorted).scatter(-1, order, drop_sorted)
    return logits.masked_fill(drop, float("-inf"))


class SeededSampler(LogitsProcessor):
    """Temperature + top-p sampling with one RNG per batch row; use with greedy ``generate``."""

    def __init__(self, seeds: Sequence[int], temperature: float, top_p: float) -> None:
        if temperature <= 0:
            raise ValueError(f"temperature must be positive for sampling, got {temperature}")
        self.generators = [torch.Generator().manual_seed(int(seed)) for seed in seeds]
        self.temperature = temperature
        self.top_p = top_p

    def keep_rows(self, rows: Sequence[int]) -> None:
        """The decode loop dropped finished rows: keep the generators of the rows still writing."""
        self.generators = [self.generators[i] for i in rows]

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        # Sample on the CPU in float32 so the draw does not depend on the device's kernels.
        logits = top_p_filter(scores.float().cpu() / self.temperature, self.top_p)
        probs = logits.softmax(dim=-1)
        chosen = [torch.multinomial(row, 1, generator=gen) for row, gen in zip(probs, self.generators, strict=True)]
        one_hot = torch.full_like(scores, float("-inf"))
        one_hot.scatter_(1, torch.cat(chosen).view(-1, 1).to(scores.device), 0.0)
        return one_hot  # type: ignore[return-value]
