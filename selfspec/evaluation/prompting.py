"""Evaluation prompts: 0-shot and k-shot, fitted to the model's context by cutting inputs only.

A k-shot prompt is k demonstrations (template prompt + gold answer) followed by the query's
template prompt, which ends with the response slot. When the prompt does not fit the token
budget, only *input fields* are shortened, all to one common cap in tokens (the longest ones
lose most); the instruction, demonstrations' answers and the response slot stay whole. Prompts
so cut are counted, never dropped.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from selfspec.errors import ConfigError
from selfspec.evaluation.tasks import EvalRecord, Task
from selfspec.prompts import PromptTemplate

DEMO_SEPARATOR = "\n\n"


class TokenText(Protocol):
    """How prompts are measured and inputs cut, in the model's own tokens."""

    def count(self, text: str) -> int: ...

    def head(self, text: str, n_tokens: int) -> str: ...


class TokenizerText:
    """``TokenText`` over a Hugging Face tokenizer; counts as the generator encodes (special tokens included)."""

    def __init__(self, tokenizer: Any) -> None:
        self.tokenizer = tokenizer

    def count(self, text: str) -> int:
        return len(self.tokenizer(text)["input_ids"])

    def head(self, text: str, n_tokens: int) -> str:
        ids = self.tokenizer(text, add_special_tokens=False)["input_ids"]
        return text if len(ids) <= n_tokens else self.tokenizer.decode(ids[:n_tokens])


@dataclass(frozen=True)
class PromptItem:
    """One prompt to generate from: ``seed`` is the demonstration set's seed (None for 0-shot)."""

    task: str
    kind: str
    shots: int
    seed: int | None
    record: EvalRecord
    prompt: str
    truncated: bool
    fits: bool


def render_prompt(
    template: PromptTemplate, demos: Sequence[EvalRecord], query: EvalRecord, inputs: Sequence[str]
) -> str:
    """Demonstrations with their first gold answer, then the query; ``inputs`` replace each record's input."""
    parts = [template.render(d.instruction, text) + d.answers[0] for d, text in zip(demos, inputs[:-1], strict=True)]
    return DEMO_SEPARATOR.join([*parts, template.render(query.instruction, inputs[-1])])


def fit_prompt(
    template: PromptTemplate, demos: Sequence[EvalRecord], query: EvalRecord, text: TokenText, budget: int
) -> tuple[str, bool, bool]:
    """The prompt within ``budget`` tokens, cutting inputs to one common cap: ``(prompt, truncated, fits)``.

    The cap is the largest number of tokens per input that fits (binary search: the prompt's
    length grows with the cap). ``fits`` is False when even empty inputs overflow, in which case
    the prompt with empty inputs is returned and the caller reports it.
    """
    inputs = [r.input for r in (*demos, query)]
    prompt = render_prompt(template, demos, query, inputs)
    if text.count(prompt) <= budget:
        return prompt, False, True
    low, high = 0, max(text.count(i) for i in inputs)  # invariant: cap `low` fits or is 0
    while low < high:
        cap = (low + high + 1) // 2
        if text.count(render_prompt(template, demos, query, [text.head(i, cap) for i in inputs])) <= budget:
            low = cap
        else:
            high = cap - 1
    prompt = render_prompt(template, demos, query, [text.head(i, low) for i in inputs])
    return prompt, True, text.count(prompt) <= budget


def draw_demonstrations(task: Task, shots: int, seed: int) -> tuple[list[int], list[int]]:
    """Indices of ``shots`` demonstrations drawn from the task's records, and of the records left to score.

    The draw depends only on the task name, ``shots`` and ``seed``; demonstrations are never scored.
    """
    n = len(task.records)
    if shots >= n:
        raise ConfigError(
            f"task {task.name!r} has {n} records; {shots}-shot evaluation needs at least {shots + 1} "
            "(lower shots in the evaluation settings)"
        )
    demos = random.Random(f"{task.name}:{shots}:{seed}").sample(range(n), shots)
    chosen = set(demos)
    return demos, [i for i in range(n) if i not in chosen]


def task_prompts(
    task: Task, shots: int, seeds: Sequence[int], template: PromptTemplate, text: TokenText, budget: int
) -> list[PromptItem]:
    """Every prompt of one task at one ``shots`` value: one set for 0-shot, one per seed otherwise."""
    items = []
    for seed in seeds if shots else [None]:
        demo_idx, scored = (
            draw_demonstrations(task, shots, seed) if seed is not None else ([], range(len(task.records)))
        )
        demos = [task.records[i] for i in demo_idx]
        for i in scored:
            prompt, truncated, fits = fit_prompt(template, demos, task.records[i], text, budget)
            items.append(PromptItem(task.name, task.kind, shots, seed, task.records[i], prompt, truncated, fits))
    return items
