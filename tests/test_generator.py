"""The batched generator: same answers as one-by-one decoding, seeded sampling, stop strings."""

from __future__ import annotations

import pytest
import torch
from generation_kit import GENERATOR_PROMPTS

from selfspec.decoding.generator import BatchGenerator, SamplingSettings, cut_at_stop, length_buckets
from selfspec.decoding.seeded_sampling import top_p_filter

PROMPTS = GENERATOR_PROMPTS


@pytest.fixture(scope="module")
def tiny(tiny_lm: tuple[object, object]) -> tuple[object, object]:
    return tiny_lm


@pytest.mark.parametrize(
    ("lengths", "size", "batches"),
    [([3, 9, 1, 9, 4], 2, [[1, 3], [4, 0], [2]]), ([5], 4, [[0]]), ([], 3, []), ([2, 2, 2], 3, [[0, 1, 2]])],
)
def test_length_buckets(lengths: list[int], size: int, batches: list[list[int]]) -> None:
    assert length_buckets(lengths, size) == batches


@pytest.mark.parametrize(
    ("text", "stop", "cut"),
    [("a\n\n###b", ("###",), "a\n\n"), ("abc", ("x",), "abc"), ("a2. b1. c", ("1.", "2."), "a"), ("ab", ("",), "ab")],
)
def test_cut_at_stop(text: str, stop: tuple[str, ...], cut: str) -> None:
    assert cut_at_stop(text, stop) == cut


def test_top_p_keeps_the_smallest_set_reaching_p() -> None:
    logits = torch.log(torch.tensor([[0.5, 0.3, 0.15, 0.05]]))
    kept = torch.isfinite(top_p_filter(logits, 0.75))
    assert kept.tolist() == [[True, True, False, False]]
    assert torch.isfinite(top_p_filter(logits, 0.01)).tolist() == [[True, False, False, False]]
    assert torch.equal(top_p_filter(logits, 1.0), logits)


def test_batched_greedy_equals_one_by_one(tiny: tuple[object, object]) -> None:
    model, tokenizer = tiny
    greedy = SamplingSettings(max_new_tokens=12)
    batched = BatchGenerator(model, tokenizer, batch_size=4).generate(PROMPTS, greedy)
    single = BatchGenerator(model, tokenizer, batch_size=1).generate(PROMPTS, greedy)
    assert [g.raw for g in batched] == [g.raw for g in single]
    assert all(g.new_tokens > 0 for g in batched)
    assert [g.prompt_tokens for g in batched] == [len(tokenizer(p)["input_ids"]) for p in PROMPTS]


def test_seeded_sampling_depends_on_item_seed_not_batch(tiny: tuple[object, object]) -> None:
    model, tokenizer = tiny
    sampling = SamplingSettings(max_new_tokens=10, do_sample=True, temperature=1.0, top_p=0.98)
    seeds = [11, 12, 13, 14, 15, 16, 17]
    a = BatchGenerator(model, tokenizer, batch_size=3).generate(PROMPTS, sampling, seeds)
    b = BatchGenerator(model, tokenizer, batch_size=1).generate(PROMPTS, sampling, seeds)
    c = BatchGenerator(model, tokenizer, batch_size=3).generate(PROMPTS, sampling, [s + 100 for s in seeds])
    assert [g.raw for g in a] == [g.raw for g in b]
    assert [g.raw for g in a] != [g.raw for g in c]


def test_stop_strings_cut_the_text(tiny: tuple[object, object]) -> None:
    model, tokenizer = tiny
    free = BatchGenerator(model, tokenizer).generate(PROMPTS[:3], SamplingSettings(max_new_tokens=16))
    stop = free[0].raw[3:6]
    assert stop and stop in free[0].raw
    cut = BatchGenerator(model, tokenizer).generate(PROMPTS[:1], SamplingSettings(max_new_tokens=16, stop=(stop,)))
    assert cut[0].text == free[0].raw[: free[0].raw.find(stop)]
    assert stop not in cut[0].text


def test_sampling_without_seeds_is_refused(tiny: tuple[object, object]) -> None:
    model, tokenizer = tiny
    with pytest.raises(ValueError, match="one seed per prompt"):
        BatchGenerator(model, tokenizer).generate(PROMPTS, SamplingSettings(do_sample=True))


@pytest.mark.parametrize(
    ("rows", "shared"),
    [([[1, 2, 3, 4], [1, 2, 3, 5]], 3), ([[1, 2, 3], [1, 2, 3, 4]], 2), ([[1, 2]], 0), ([[7, 1], [8, 1]], 0)],
)
def test_shared_prefix_leaves_every_row_a_token_of_its_own(rows: list[list[int]], shared: int) -> None:
    from selfspec.decoding.generator import shared_prefix_length

    assert shared_prefix_length(rows) == shared


def test_a_shared_prefix_is_computed_once_and_gives_the_same_answers(
    tiny: tuple[object, object], monkeypatch: pytest.MonkeyPatch
) -> None:
    # k-shot evaluation: every prompt of a task starts with the same demonstrations.
    from selfspec.decoding import generator

    model, tokenizer = tiny
    head = "Question: is sepsis a disease?\nAnswer: yes\n\n" * 6
    prompts = [head + p for p in PROMPTS]
    settings = SamplingSettings(max_new_tokens=10)
    calls: list[int] = []  # a hook, not a wrapped forward: generate reads forward's signature
    hook = model.register_forward_pre_hook(  # type: ignore[attr-defined]
        lambda _, args, kwargs: calls.append(kwargs["input_ids"].shape[1]), with_kwargs=True
    )
    shared = BatchGenerator(model, tokenizer, batch_size=4).generate(prompts, settings)
    hook.remove()
    prefix = len(tokenizer(head)["input_ids"]) - 1
    own = max(len(tokenizer(p)["input_ids"]) for p in prompts) - prefix
    assert own < prefix
    assert sum(n >= prefix for n in calls) == 2  # one pass over the prefix per batch (7 prompts, 4 a batch)
    monkeypatch.setattr(generator, "MIN_SHARED_PREFIX", 10**9)
    plain = BatchGenerator(model, tokenizer, batch_size=4).generate(prompts, settings)
    one_by_one = [BatchGenerator(model, tokenizer, batch_size=1).generate([p], settings)[0] for p in prompts]
    assert [g.text for g in shared] == [g.text for g in plain] == [g.text for g in one_by_one]


def test_a_stop_request_ends_a_long_forward_pass_between_two_layers(tiny: tuple[object, object]) -> None:
    # A 16-prompt prefill takes over a minute on a 2-core CPU: a stop may not wait for its end.
    import signal

    from selfspec import stopping

    model, tokenizer = tiny
    layers = model.model.layers  # type: ignore[attr-defined]
    finished: list[int] = []
    hooks = [layer.register_forward_hook(lambda *_, i=i: finished.append(i)) for i, layer in enumerate(layers)]
    hooks.append(layers[0].register_forward_hook(lambda *_: stopping._record(signal.SIGTERM, None)))  # mid-pass
    try:
        with stopping.handled(), pytest.raises(stopping.StopRequested):
            BatchGenerator(model, tokenizer, batch_size=2).generate(PROMPTS[:2], SamplingSettings(max_new_tokens=5))
    finally:
        for hook in hooks:
            hook.remove()
    assert len(layers) >= 2 and finished == [0]  # layer 1 never ran: the prefill ended right after layer 0
