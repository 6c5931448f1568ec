"""Response-only causal-LM loss without full-vocabulary logits.

The mean cross-entropy over response tokens (labels != -100, shifted by one) is what
``model(**batch).loss`` returns, but that path projects *every* position onto the vocabulary
and keeps [batch, length, vocab] float32 logits (1.2 GB at 8 x 768 with a 49k vocabulary) plus
their softmax and gradient. Here the decoder runs to hidden states, only positions that have a
label are projected, and the projection + cross-entropy runs in chunks of ``chunk_tokens`` rows,
so at most one chunk's logits exist at a time. When the output head is frozen (LoRA), each chunk's
gradient with respect to its hidden states is computed right in the forward pass (softmax minus the
one-hot label, times the head's weight) and only that (rows, hidden) gradient is kept: no chunk is
projected a second time in the backward pass. A trainable head takes the checkpointed path instead
(its chunks are projected again in the backward pass to get the head's gradient).

Only architectures whose logits are exactly ``lm_head(hidden)`` take this path; others (logit
soft-capping or scaling) keep the model's own loss, said once in the log.
"""

from __future__ import annotations

import logging
from typing import Any

import torch
import torch.nn.functional as F
from torch.utils.checkpoint import checkpoint

log = logging.getLogger(__name__)

IGNORE_INDEX = -100
# Model types whose causal-LM logits are exactly lm_head(final hidden state).
PLAIN_HEAD_MODELS = frozenset({"llama", "mistral", "qwen2", "qwen3", "phi3", "olmo", "olmo2", "smollm3", "gpt_neox"})


def plain_head(model: Any) -> bool:
    """Whether ``model`` (a PEFT model or a causal LM) computes logits as ``lm_head(hidden)``."""
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    config = base.config
    if config.model_type not in PLAIN_HEAD_MODELS:
        return False
    return getattr(config, "final_logit_softcapping", None) is None and getattr(config, "logit_scale", None) is None


def full_logits_loss(model: Any, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    """The reference: the model's own mean cross-entropy over response tokens."""
    return model(**batch).loss


def response_loss(model: Any, batch: dict[str, torch.Tensor], chunk_tokens: int = 1024) -> torch.Tensor:
    """Mean cross-entropy over response tokens, projecting only labelled positions, in chunks.

    Args:
        model: A PEFT-wrapped (or plain) causal LM with a plain output head (see ``plain_head``).
        batch: ``input_ids``, ``attention_mask`` and ``labels`` (batch, length); -100 is ignored.
        chunk_tokens: Rows of hidden states projected onto the vocabulary at once.
    """
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    hidden = base.get_decoder()(input_ids=batch["input_ids"], attention_mask=batch.get("attention_mask"))[0]
    targets = batch["labels"][:, 1:]  # position t predicts token t + 1
    keep = targets != IGNORE_INDEX
    rows, wanted = hidden[:, :-1][keep], targets[keep]  # (N, hidden), (N,)
    if wanted.numel() == 0:
        return hidden.sum() * 0.0  # a batch without response tokens: zero loss, graph intact
    head = base.get_output_embeddings()
    if torch.is_grad_enabled() and frozen_linear(head, rows.shape[-1]):
        return _HeadCrossEntropy.apply(rows, head.weight, wanted, chunk_tokens) / wanted.numel()
    total = hidden.new_zeros((), dtype=torch.float32)
    for start in range(0, wanted.numel(), chunk_tokens):
        piece, labels = rows[start : start + chunk_tokens], wanted[start : start + chunk_tokens]
        if torch.is_grad_enabled():
            total = total + checkpoint(_chunk_loss_sum, head, piece, labels, use_reentrant=False)
        else:
            total = total + _chunk_loss_sum(head, piece, labels)
    return total / wanted.numel()


def _chunk_loss_sum(head: torch.nn.Module, rows: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    # (n, hidden) -> (n, vocab) float32 logits; summed so chunks add up to the full sum.
    return F.cross_entropy(head(rows).float(), labels, reduction="sum")


def frozen_linear(head: Any, width: int) -> bool:
    """Whether ``head`` is a bias-free ``nn.Linear`` whose (vocab, ``width``) weight takes no gradient."""
    weight = getattr(head, "weight", None)
    return (
        isinstance(head, torch.nn.Linear)
        and head.bias is None
        and isinstance(weight, torch.Tensor)
        and not weight.requires_grad
        and weight.dim() == 2
        and weight.shape[1] == width  # a sharded (FSDP) weight does not look like this
    )


class _HeadCrossEntropy(torch.autograd.Function):
    """Summed cross-entropy of ``rows @ weight.T`` against ``labels``, chunk by chunk; the gradient
    with respect to ``rows`` is computed in the forward pass (``weight`` is frozen)."""

    @staticmethod
    def forward(ctx: Any, rows: torch.Tensor, weight: torch.Tensor, labels: torch.Tensor, chunk: int) -> torch.Tensor:
        total = torch.zeros((), dtype=torch.float32, device=rows.device)
        grad = torch.empty_like(rows)
        for start in range(0, rows.shape[0], chunk):
            piece, target = rows[start : start + chunk], labels[start : start + chunk]
            logits = F.linear(piece, weight).float()  # (n, vocab), as the model's own float32 logits
            picked = torch.arange(target.numel(), device=rows.device)
            norm = torch.logsumexp(logits, dim=-1)
            total += (norm - logits[picked, target]).sum()  # cross-entropy = logsumexp - logit of the label
            probs = logits.sub_(norm[:, None]).exp_()  # softmax, in place of the logits
            probs[picked, target] -= 1.0  # d(loss)/d(logits) = softmax - one-hot
            grad[start : start + chunk] = probs.to(weight.dtype) @ weight
        ctx.save_for_backward(grad)
        return total

    @staticmethod
    def backward(ctx: Any, upstream: torch.Tensor) -> tuple[torch.Tensor, None, None, None]:
        (grad,) = ctx.saved_tensors
        return grad * upstream.to(grad.dtype), None, None, None
