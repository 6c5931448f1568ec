"""The decode loop: generate's greedy answers, finished rows leaving the batch, the reserved cache, narrow linears."""

from __future__ import annotations

import warnings
from typing import Any

import pytest
import torch
import torch.nn.functional as F
from generation_kit import GENERATOR_PROMPTS
from transformers import LogitsProcessorList
from transformers.cache_utils import DynamicLayer

from selfspec.decoding.decode import ReservedLayer, decode, positions_of
from selfspec.decoding.generator import BatchGenerator, SamplingSettings
from selfspec.decoding.narrow_linear import NARROW_ROWS, narrow_linear, narrow_linears
from selfspec.generation.contrastive import ContrastiveProcessor

PROMPTS = GENERATOR_PROMPTS


@pytest.fixture(scope="module")
def tiny(tiny_lm: tuple[Any, Any]) -> tuple[Any, Any]:
    return tiny_lm


def left_pad(tokenizer: Any, prompts: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
    rows = [tokenizer(p)["input_ids"] for p in prompts]
    width = max(len(r) for r in rows)
    ids = torch.tensor([[tokenizer.pad_token_id] * (width - len(r)) + r for r in rows])
    mask = torch.tensor([[0] * (width - len(r)) + [1] * len(r) for r in rows])
    return ids, mask


def a_stop_some_rows_reach(model: Any, tokenizer: Any, processors: Any = None) -> str:
    """A two-character string that ends some rows' free continuations early and not others'."""
    generator = BatchGenerator(model, tokenizer, batch_size=8, extra_processors=processors)
    free = generator.generate(PROMPTS, SamplingSettings(max_new_tokens=16))
    counts: dict[str, int] = {}
    for g in free:
        for pair in {g.raw[i : i + 2] for i in range(2, len(g.raw) // 2)}:
            counts[pair] = counts.get(pair, 0) + 1
    return max((n, s) for s, n in counts.items() if s.strip() and 1 < n < len(PROMPTS))[1]


def test_greedy_decode_equals_transformers_generate(tiny: tuple[Any, Any]) -> None:
    model, tokenizer = tiny
    ids, mask = left_pad(tokenizer, PROMPTS)
    stop = a_stop_some_rows_reach(model, tokenizer)
    expected = model.generate(
        input_ids=ids,
        attention_mask=mask,
        max_new_tokens=14,
        do_sample=False,
        stop_strings=[stop],
        tokenizer=tokenizer,
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id,
    )[:, ids.shape[1] :]
    with warnings.catch_warnings():
        warnings.simplefilter("error", FutureWarning)  # e.g. a deprecated argument name: users would see it
        ours = decode(
            model,
            ids,
            mask,
            14,
            eos_token_id=tokenizer.eos_token_id,
            processors=LogitsProcessorList(),
            finished=lambda new: stop in tokenizer.decode(new, skip_special_tokens=True),
        )
    for row, new in zip(expected.tolist(), ours, strict=True):
        assert row[: len(new)] == new  # generate pads a finished row; the loop stops writing it
        assert all(t == tokenizer.pad_token_id for t in row[len(new) :])
    assert len({len(new) for new in ours}) > 1  # the stop string ended some rows before others


def test_finished_rows_leave_the_batch_and_answers_do_not_change(tiny: tuple[Any, Any]) -> None:
    model, tokenizer = tiny
    stop = a_stop_some_rows_reach(model, tokenizer)
    batch_rows: list[int] = []
    hook = model.register_forward_pre_hook(
        lambda _, args, kwargs: batch_rows.append(kwargs["input_ids"].shape[0]), with_kwargs=True
    )
    greedy = SamplingSettings(max_new_tokens=14, stop=(stop,))
    batched = BatchGenerator(model, tokenizer, batch_size=len(PROMPTS)).generate(PROMPTS, greedy)
    hook.remove()
    one_by_one = [BatchGenerator(model, tokenizer, batch_size=1).generate([p], greedy)[0] for p in PROMPTS]
    assert [g.raw for g in batched] == [g.raw for g in one_by_one]
    prefill, steps = batch_rows[: len(PROMPTS)], batch_rows[len(PROMPTS) :]
    assert prefill == [1] * len(PROMPTS)  # on a CPU each row is prefilled on its own tokens, unpadded
    assert steps[0] <= len(PROMPTS) and min(steps) < len(PROMPTS)  # rows left as they finished
    assert steps == sorted(steps, reverse=True)
    assert len(steps) == max(g.new_tokens for g in batched) - 1  # no step past the longest row


def test_seeded_sampling_follows_the_shrinking_batch(tiny: tuple[Any, Any]) -> None:
    model, tokenizer = tiny
    stop = a_stop_some_rows_reach(model, tokenizer)
    sampling = SamplingSettings(max_new_tokens=12, do_sample=True, temperature=0.7, top_p=0.9, stop=(stop,))
    seeds = [5 + i for i in range(len(PROMPTS))]
    batched = BatchGenerator(model, tokenizer, batch_size=len(PROMPTS)).generate(PROMPTS, sampling, seeds)
    one = BatchGenerator(model, tokenizer, batch_size=1)
    single = [one.generate([p], sampling, [s])[0] for p, s in zip(PROMPTS, seeds, strict=True)]
    assert [g.raw for g in batched] == [g.raw for g in single]
    assert len({g.new_tokens for g in batched}) > 1


def test_contrastive_decoding_follows_the_shrinking_batch(tiny: tuple[Any, Any]) -> None:
    from peft import LoraConfig, get_peft_model

    model, tokenizer = tiny
    torch.manual_seed(0)
    peft = get_peft_model(model, LoraConfig(r=4, target_modules=["q_proj", "v_proj"], init_lora_weights=False)).eval()

    def factory(batch: Any) -> LogitsProcessorList:
        return LogitsProcessorList([ContrastiveProcessor(peft, 0.1, tokenizer.pad_token_id)])

    try:
        stop = a_stop_some_rows_reach(peft, tokenizer, factory)
        greedy = SamplingSettings(max_new_tokens=10, stop=(stop,))
        batched = BatchGenerator(peft, tokenizer, batch_size=len(PROMPTS), extra_processors=factory).generate(
            PROMPTS, greedy
        )
        single = [
            BatchGenerator(peft, tokenizer, batch_size=1, extra_processors=factory).generate([p], greedy)[0]
            for p in PROMPTS
        ]
        plain = BatchGenerator(peft, tokenizer, batch_size=len(PROMPTS)).generate(PROMPTS, greedy)
    finally:
        peft.unload()
    assert [g.raw for g in batched] == [g.raw for g in single]
    assert [g.raw for g in batched] != [g.raw for g in plain]  # the amateur did change the answers
    assert len({g.new_tokens for g in batched}) > 1  # and rows left the batch at different steps


def test_reserved_layer_holds_what_a_dynamic_layer_holds() -> None:
    torch.manual_seed(0)
    reserved, dynamic = ReservedLayer(capacity=5), DynamicLayer()
    for length in (3, 1, 1, 4):  # past the reserved 5 positions: it grows
        k, v = torch.randn(2, 3, length, 4), torch.randn(2, 3, length, 4)
        ours, theirs = reserved.update(k, v), dynamic.update(k, v)
        assert all(torch.equal(a, b) for a, b in zip(ours, theirs, strict=True))
    assert reserved.get_seq_length() == 9 and reserved.capacity >= 9
    index = torch.tensor([1])
    reserved.batch_select_indices(index)
    dynamic.batch_select_indices(index)
    reserved.batch_repeat_interleave(3)
    dynamic.batch_repeat_interleave(3)
    k, v = torch.randn(3, 3, 1, 4), torch.randn(3, 3, 1, 4)
    ours, theirs = reserved.update(k, v), dynamic.update(k, v)
    assert ours[0].shape == (3, 3, 10, 4)
    assert all(torch.equal(a, b) for a, b in zip(ours, theirs, strict=True))


def test_positions_come_from_the_mask() -> None:
    mask = torch.tensor([[0, 0, 1, 1, 1], [1, 1, 1, 1, 1]])
    assert positions_of(mask).tolist() == [[1, 1, 0, 1, 2], [0, 1, 2, 3, 4]]


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize("rows", [1, 2, 7, 16, 17, 64, 65])
@pytest.mark.parametrize("bias", [False, True])
def test_narrow_linear_equals_linear(dtype: torch.dtype, rows: int, bias: bool) -> None:
    torch.manual_seed(rows)
    x, weight = torch.randn(rows, 1, 48, dtype=dtype), torch.randn(40, 48, dtype=dtype)
    b = torch.randn(40, dtype=dtype) if bias else None
    out = narrow_linear(x, weight, b)
    assert out.shape == (rows, 1, 40) and out.is_contiguous() and out.dtype == dtype
    tolerance = 1e-5 if dtype == torch.float32 else 2e-2
    torch.testing.assert_close(out, F.linear(x, weight, b), rtol=tolerance, atol=tolerance)


def test_narrow_linear_takes_the_transposed_product_up_to_its_dtypes_row_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []
    real_mm = torch.mm

    def counting_mm(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        calls.append(b.shape[1])
        return real_mm(a, b)

    monkeypatch.setattr(torch, "mm", counting_mm)
    for dtype, limit in NARROW_ROWS.items():
        for rows in (1, limit, limit + 1):
            calls.clear()
            narrow_linear(torch.randn(rows, 8, dtype=dtype), torch.randn(4, 8, dtype=dtype), None)
            assert bool(calls) == (rows <= limit), (dtype, rows)
    calls.clear()
    narrow_linear(torch.randn(2, 8, dtype=torch.float16), torch.randn(4, 8, dtype=torch.float16), None)
    assert not calls  # an unmeasured dtype keeps F.linear


def test_narrow_linears_patch_plain_linears_only_while_inside() -> None:
    class Quantized(torch.nn.Linear):  # stands for a bitsandbytes layer: its own forward stays
        pass

    model = torch.nn.Sequential(torch.nn.Linear(4, 4), Quantized(4, 4))
    with narrow_linears(model):
        assert "forward" in vars(model[0]) and "forward" not in vars(model[1])
        model(torch.randn(2, 4))
    assert "forward" not in vars(model[0])
