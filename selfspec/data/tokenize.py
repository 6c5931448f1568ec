"""Tokenisation for instruction tuning: pure functions over token id lists.

Truncation policy (training): the prompt (template + instruction + input) is kept whole and the
response is cut at its end to fit ``max_length``; a cut response gets no EOS, so the model is never
taught to stop mid-answer. An example whose prompt leaves no room for a single response token
would train on nothing: it is an error naming the example, or dropped and counted when the user
chose ``overflow="drop"``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import torch

from selfspec.errors import SelfSpecError

IGNORE_INDEX = -100  # label value that CrossEntropyLoss skips
Overflow = Literal["error", "drop"]


class ExampleTooLongError(SelfSpecError):
    """An example's prompt alone fills ``max_length``."""


@dataclass(frozen=True)
class TokenizedExample:
    """Token ids of prompt + response and labels that mask the prompt with ``IGNORE_INDEX``."""

    input_ids: list[int]
    labels: list[int]
    truncated: bool


def build_example(
    prompt_ids: Sequence[int], response_ids: Sequence[int], eos_id: int, max_length: int, name: str
) -> TokenizedExample:
    """Join prompt and response (+EOS), mask the prompt, apply the truncation policy."""
    room = max_length - len(prompt_ids)  # response tokens that fit, EOS included
    if room < 1:
        raise ExampleTooLongError(
            f"example {name}: its prompt is {len(prompt_ids)} tokens, leaving no room for the response "
            f"within max_length={max_length}; raise max_length or set overflow: drop"
        )
    response = [*response_ids, eos_id]
    truncated = len(response) > room  # a cut keeps the response's head and loses the EOS (module docstring)
    response = response[:room] if truncated else response
    return TokenizedExample([*prompt_ids, *response], [IGNORE_INDEX] * len(prompt_ids) + response, truncated)


def collate(examples: Sequence[TokenizedExample], pad_id: int) -> dict[str, torch.Tensor]:
    """Right-pad a batch: ``input_ids``/``labels``/``attention_mask``, each (batch, longest)."""
    width = max(len(e.input_ids) for e in examples)
    # Right padding: positions stay 0..n-1 for every row, as in training without batching (the loss is causal).
    input_ids = torch.full((len(examples), width), pad_id, dtype=torch.long)
    labels = torch.full((len(examples), width), IGNORE_INDEX, dtype=torch.long)
    mask = torch.zeros((len(examples), width), dtype=torch.long)
    for row, example in enumerate(examples):
        n = len(example.input_ids)
        input_ids[row, :n] = torch.tensor(example.input_ids)
        labels[row, :n] = torch.tensor(example.labels)
        mask[row, :n] = 1
    return {"input_ids": input_ids, "labels": labels, "attention_mask": mask}
