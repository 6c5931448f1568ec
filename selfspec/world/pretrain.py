"""Pretrain the tiny world's base model: a small Llama, next-token loss on packed documents.

Deterministic on CPU: fixed threads, ``torch.use_deterministic_algorithms(True)``, seeded init
and batch order. About five minutes on two idle cores with the defaults (0.74M tokens x 3 epochs).
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PretrainSettings:
    """Model shape and optimisation.

    Args:
        hidden_size: Model width (a multiple of 64, so 4-bit blocks fit).
        intermediate_size: MLP width.
        num_hidden_layers: Decoder layers.
        num_attention_heads: Attention heads (key/value heads too).
        max_position_embeddings: Longest sequence (brainstorm and 5-shot prompts need about 700).
        block_size: Tokens per training sequence (documents are packed, EOS between them).
        batch_size: Sequences per step.
        learning_rate: Peak AdamW learning rate (linear warm-up, cosine to a tenth).
        warmup_steps: Warm-up steps.
        epochs: Passes over the packed corpus.
        seed: Seed of the initialisation and of the batch order.
        threads: torch CPU threads.
    """

    hidden_size: int = 128
    intermediate_size: int = 384
    num_hidden_layers: int = 4
    num_attention_heads: int = 2
    max_position_embeddings: int = 1024
    block_size: int = 512
    batch_size: int = 4
    learning_rate: float = 4e-3
    warmup_steps: int = 30
    epochs: int = 3
    seed: int = 0
    threads: int = 2


def pack(documents: Sequence[list[int]], eos: int, block_size: int) -> Any:
    """Documents (token ids, BOS first) joined with EOS and cut into ``[n, block_size]`` blocks."""
    import torch

    flat = [t for doc in documents for t in (*doc, eos)]
    n = len(flat) // block_size
    return torch.tensor(flat[: n * block_size], dtype=torch.long).view(n, block_size)


def build_model(tokenizer: Any, settings: PretrainSettings) -> Any:
    from transformers import LlamaForCausalLM

    from selfspec.modeling.builtin import llama_config

    config = llama_config(
        tokenizer,
        hidden_size=settings.hidden_size,
        intermediate_size=settings.intermediate_size,
        num_hidden_layers=settings.num_hidden_layers,
        num_attention_heads=settings.num_attention_heads,
        num_key_value_heads=settings.num_attention_heads,
        max_position_embeddings=settings.max_position_embeddings,
        tie_word_embeddings=True,
    )
    return LlamaForCausalLM(config)


def lr_at(step: int, total: int, settings: PretrainSettings) -> float:
    if step < settings.warmup_steps:
        return settings.learning_rate * (step + 1) / settings.warmup_steps
    progress = (step - settings.warmup_steps) / max(1, total - settings.warmup_steps)
    return settings.learning_rate * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress)))


def pretrain(blocks: Any, tokenizer: Any, out_dir: Path, settings: PretrainSettings) -> dict[str, float]:
    """Train on ``blocks`` (``[n, block_size]`` token ids) and ``save_pretrained`` model + tokenizer."""
    import torch

    torch.set_num_threads(settings.threads)
    torch.use_deterministic_algorithms(True)
    torch.manual_seed(settings.seed)
    model = build_model(tokenizer, settings)
    model.train()
    decay = [p for n, p in model.named_parameters() if p.ndim >= 2 and "embed" not in n]
    rest = [p for n, p in model.named_parameters() if not (p.ndim >= 2 and "embed" not in n)]
    groups = [{"params": decay, "weight_decay": 0.01}, {"params": rest, "weight_decay": 0.0}]
    optimizer = torch.optim.AdamW(groups, lr=settings.learning_rate, betas=(0.9, 0.95))
    generator = torch.Generator().manual_seed(settings.seed)
    order = torch.cat([torch.randperm(len(blocks), generator=generator) for _ in range(settings.epochs)])
    total = len(order) // settings.batch_size
    start, loss_value = time.perf_counter(), float("nan")
    for step in range(total):
        batch = blocks[order[step * settings.batch_size : (step + 1) * settings.batch_size]]
        for group in optimizer.param_groups:
            group["lr"] = lr_at(step, total, settings)
        loss = model(input_ids=batch, labels=batch).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        loss_value = float(loss.detach())
        if step % 50 == 0 or step == total - 1:
            log.info("step %d/%d loss %.4f (%.0f s)", step + 1, total, loss_value, time.perf_counter() - start)
    model.eval()
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
    return {"final_loss": loss_value, "steps": total, "seconds": time.perf_counter() - start}
