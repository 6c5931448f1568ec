"""The chunked, labelled-positions-only loss equals the model's own full-logits loss, gradients too."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from selfspec.modeling.adapters import LoraSettings, add_lora, load_base
from selfspec.training.loss import frozen_linear, full_logits_loss, plain_head, response_loss


def _batch(vocab: int, seed: int = 0) -> dict[str, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    ids = torch.randint(3, vocab, (3, 21), generator=gen)
    labels = ids.clone()
    labels[:, :6] = -100  # prompt
    labels[1, 15:] = -100  # padding of a shorter row
    mask = torch.ones_like(ids)
    mask[1, 15:] = 0
    labels[2, :] = -100  # a row without any response token
    return {"input_ids": ids, "attention_mask": mask, "labels": labels}


def _lora_grads(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {n: p.grad.clone() for n, p in model.named_parameters() if p.requires_grad and p.grad is not None}


@pytest.mark.parametrize("chunk_tokens", [1024, 7])
def test_chunked_loss_and_gradients_equal_full_logits(tiny_model_dir: Path, chunk_tokens: int) -> None:
    torch.manual_seed(0)
    model = add_lora(load_base(str(tiny_model_dir), "none"), LoraSettings(dropout=0.0))
    for name, param in model.named_parameters():  # LoRA B starts at zero: make its gradient path non-trivial
        if "lora_B" in name:
            torch.nn.init.normal_(param, std=0.02)
    model.train()
    batch = _batch(model.config.vocab_size)
    reference = full_logits_loss(model, batch)
    reference.backward()
    want = _lora_grads(model)
    model.zero_grad(set_to_none=True)
    loss = response_loss(model, batch, chunk_tokens=chunk_tokens)
    loss.backward()
    got = _lora_grads(model)
    assert plain_head(model)
    torch.testing.assert_close(loss, reference, rtol=1e-5, atol=1e-6)
    assert set(got) == set(want) and len(want) > 0
    for name in want:
        torch.testing.assert_close(got[name], want[name], rtol=1e-4, atol=1e-7, msg=name)


def test_a_trainable_head_gets_its_gradient_through_the_recomputed_chunks(tiny_model_dir: Path) -> None:
    torch.manual_seed(0)
    model = add_lora(load_base(str(tiny_model_dir), "none"), LoraSettings(dropout=0.0)).train()
    head = model.get_base_model().get_output_embeddings()
    head.weight.requires_grad_(True)  # e.g. a full fine-tune of the head: the frozen-head shortcut must not apply
    assert frozen_linear(head.requires_grad_(False), head.in_features)
    head.weight.requires_grad_(True)
    assert not frozen_linear(head, head.in_features)
    batch = _batch(model.config.vocab_size)
    full_logits_loss(model, batch).backward()
    want = head.weight.grad.clone()
    model.zero_grad(set_to_none=True)
    response_loss(model, batch, chunk_tokens=5).backward()
    torch.testing.assert_close(head.weight.grad, want, rtol=1e-4, atol=1e-7)


def test_the_frozen_head_is_projected_once(tiny_model_dir: Path) -> None:
    model = add_lora(load_base(str(tiny_model_dir), "none"), LoraSettings(dropout=0.0)).train()
    calls = []
    weight = model.get_base_model().get_output_embeddings().weight
    original = torch.nn.functional.linear

    def counting(x: torch.Tensor, w: torch.Tensor, *rest: object) -> torch.Tensor:
        calls.append(w is weight)
        return original(x, w, *rest)  # type: ignore[arg-type]

    batch = _batch(model.config.vocab_size)
    try:
        torch.nn.functional.linear = counting  # type: ignore[assignment]
        response_loss(model, batch, chunk_tokens=4).backward()
    finally:
        torch.nn.functional.linear = original
    labelled = int((batch["labels"][:, 1:] != -100).sum())
    assert calls.count(True) == -(-labelled // 4)  # one projection per chunk, none again in the backward


def test_a_batch_without_response_tokens_has_zero_loss(tiny_model_dir: Path) -> None:
    model = add_lora(load_base(str(tiny_model_dir), "none"), LoraSettings(dropout=0.0))
    batch = _batch(model.config.vocab_size)
    batch["labels"][:] = -100
    loss = response_loss(model, batch)
    loss.backward()  # the graph is intact
    assert float(loss.detach()) == 0.0


def test_soft_capped_heads_keep_the_full_logits_loss() -> None:
    def model(**config: object) -> SimpleNamespace:
        return SimpleNamespace(config=SimpleNamespace(**config))

    assert plain_head(model(model_type="llama"))
    assert not plain_head(model(model_type="gemma2", final_logit_softcapping=30.0))
    assert not plain_head(model(model_type="llama", logit_scale=0.5))
    assert not plain_head(model(model_type="some_new_arch"))
