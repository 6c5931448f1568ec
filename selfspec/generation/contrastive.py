"""Contrastive decoding for iterative self-specialisation (docs/method.md step 7).

Expert = base + the previous round's adapter (the model ``generate`` runs), amateur = the same
network with its adapters switched off (peft ``disable_adapter``). The next-token score is
``log p_expert - log p_amateur`` on tokens with ``p_expert >= alpha * max p_expert`` and -inf
elsewhere (Li et al., 2023). The amateur keeps its own KV cache across steps.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from transformers import LogitsProcessor, LogitsProcessorList


def contrastive_scores(expert_logits: torch.Tensor, amateur_logits: torch.Tensor, alpha: float) -> torch.Tensor:
    """Pure: the contrastive score of each token. (B, V) in, (B, V) out."""
    expert = expert_logits.float().log_softmax(dim=-1)  # float32: a bf16 difference of log-probs is too coarse
    amateur = amateur_logits.float().log_softmax(dim=-1)
    # p >= alpha * max p  <=>  log p >= log alpha + max log p
    plausible = expert >= expert.max(dim=-1, keepdim=True).values + torch.log(torch.tensor(alpha))
    return (expert - amateur).masked_fill(~plausible, float("-inf"))


class ContrastiveProcessor(LogitsProcessor):
    """Rescores each step with the amateur (adapter-disabled) model; one instance per batch.

    Args:
        model: The PEFT model being decoded (its adapter is the expert).
        alpha: Plausibility cut-off relative to the expert's most likely token.
        pad_token_id: Left padding of the prompts, to rebuild the attention mask.
    """

    def __init__(self, model: Any, alpha: float, pad_token_id: int) -> None:
        self.model = model
        self.alpha = alpha
        self.pad_token_id = pad_token_id
        self.cache: Any = None
        self.mask: torch.Tensor | None = None
        self.seen = 0

    def keep_rows(self, rows: Sequence[int]) -> None:
        """The decode loop dropped finished rows: drop them from the amateur's cache and mask too."""
        if self.mask is not None:
            index = torch.tensor(list(rows), device=self.mask.device)
            self.mask = self.mask[index]
            self.cache.batch_select_indices(index)

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        amateur = self._amateur_logits(input_ids)
        return contrastive_scores(scores, amateur, self.alpha).to(scores.dtype)  # type: ignore[return-value]

    def _amateur_logits(self, input_ids: torch.Tensor) -> torch.Tensor:
        if self.mask is None:
            # First step: the whole prompt; leading pad tokens are the left padding. (B, T)
            self.mask = (input_ids != self.pad_token_id).long().cumsum(dim=-1).clamp(max=1)
            new = input_ids
        else:
            self.mask = torch.cat(
                [self.mask, self.mask.new_ones(input_ids.shape[0], input_ids.shape[1] - self.seen)], 1
            )
            new = input_ids[:, self.seen :]
        # Positions count real tokens only, as generate() computes them: a left-padded row starts at 0 too.
        positions = (self.mask.cumsum(dim=-1) - 1).clamp(min=0)[:, -new.shape[1] :]
        with self.model.disable_adapter():
            out = self.model(
                input_ids=new,
                attention_mask=self.mask,
                position_ids=positions,
                cache=self.cache,
                use_cache=True,
            )
        self.cache = out.cache
        self.seen = input_ids.shape[1]
        return out.logits[:, -1, :]  # (B, V): the next token's logits only


def contrastive_factory(model: Any, alpha: float, pad_token_id: int) -> Any:
    """A ``BatchGenerator`` ``extra_processors`` hook giving a fresh processor for every batch."""

    def make(batch: Sequence[int]) -> LogitsProcessorList:
        return LogitsProcessorList([ContrastiveProcessor(model, alpha, pad_token_id)])

    return make
