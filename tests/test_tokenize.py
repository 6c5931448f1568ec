"""Response-only labels and the truncation policy, on hand-made token ids."""

from __future__ import annotations

import pytest

from selfspec.data.module import split_indices
from selfspec.data.tokenize import IGNORE_INDEX, ExampleTooLongError, build_example, collate
from selfspec.prompts import ALPACA

EOS = 2


@pytest.mark.parametrize(
    ("prompt", "response", "max_length", "ids", "labels", "truncated"),
    [
        ([1, 5, 6], [7, 8], 10, [1, 5, 6, 7, 8, EOS], [IGNORE_INDEX] * 3 + [7, 8, EOS], False),
        ([1, 5, 6], [7, 8], 6, [1, 5, 6, 7, 8, EOS], [IGNORE_INDEX] * 3 + [7, 8, EOS], False),
        # The response is cut at its end; a cut response gets no EOS.
        ([1, 5, 6], [7, 8, 9], 5, [1, 5, 6, 7, 8], [IGNORE_INDEX] * 3 + [7, 8], True),
        ([1, 5, 6], [7, 8], 4, [1, 5, 6, 7], [IGNORE_INDEX] * 3 + [7], True),
        ([1], [], 4, [1, EOS], [IGNORE_INDEX, EOS], False),
    ],
)
def test_build_example(
    prompt: list[int], response: list[int], max_length: int, ids: list[int], labels: list[int], truncated: bool
) -> None:
    example = build_example(prompt, response, EOS, max_length, "x")
    assert (example.input_ids, example.labels, example.truncated) == (ids, labels, truncated)


def test_prompt_that_fills_max_length_is_an_error_naming_the_example() -> None:
    with pytest.raises(ExampleTooLongError, match="example 'seed-7': its prompt is 4 tokens"):
        build_example([1, 2, 3, 4], [5], EOS, 4, "'seed-7'")


def test_collate_pads_right_and_masks_padding() -> None:
    a = build_example([1, 5], [7], EOS, 10, "a")
    b = build_example([1, 5, 6, 6], [7, 8], EOS, 10, "b")
    batch = collate([a, b], pad_id=0)
    assert batch["input_ids"].tolist() == [[1, 5, 7, EOS, 0, 0, 0], [1, 5, 6, 6, 7, 8, EOS]]
    assert batch["labels"].tolist()[0] == [IGNORE_INDEX, IGNORE_INDEX, 7, EOS] + [IGNORE_INDEX] * 3
    assert batch["attention_mask"].tolist() == [[1, 1, 1, 1, 0, 0, 0], [1] * 7]


def test_alpaca_template_with_and_without_input() -> None:
    assert ALPACA.render("Name it.", "  ").endswith("### Instruction:\nName it.\n\n### Response:\n")
    with_input = ALPACA.render("Name it.", "the liver")
    assert "### Input:\nthe liver\n\n### Response:\n" in with_input
    assert with_input.startswith("Below is an instruction that describes a task, paired with an input")


@pytest.mark.parametrize(("n", "fraction", "n_val"), [(16, 0.25, 4), (10, 0.0, 0), (1, 0.5, 0), (3, 0.9, 2)])
def test_split_is_deterministic_disjoint_and_complete(n: int, fraction: float, n_val: int) -> None:
    train, val = split_indices(n, fraction, seed=3)
    assert (train, val) == split_indices(n, fraction, seed=3)
    assert len(val) == n_val and sorted(train + val) == list(range(n)) and train
