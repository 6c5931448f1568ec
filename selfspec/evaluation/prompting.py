"""Evaluation prompts: 0-shot and k-shot, fitted to the model's context by cutting inputs only.

A k-shot prompt is k demonstrations (template prompt + gold answer) followed by the query's
template prompt, which ends with the response slot. Demonstrations come from the task's own pool
(``Task.demos``), never from the scored records, so 0-shot and k-shot score the same items. When
the prompt does not fit the token budget, only *input fields* are shortened: first the
demonstrations' inputs, to one common cap in tokens (the query stays whole); only when that is
not enough, every input including the query's. The instruction, the demonstrations' answers and
the response slot stay whole. Prompts so cut are counted (query cut, demonstrations cut), never dropped.

The demonstrations' cap is shared by a *group* of items: a task's records, ranked by query length,
in groups of ``group_size`` (the evaluation batch), each group's cap the one that fits its longest
query. A group's prompts then begin with the very same tokens, which the generator computes once
for the whole batch (``selfspec.decoding.generator``; 5-shot PubMedQA on SmolLM2: about 600 of
1,000 tokens per prompt), while each group's demonstrations stay about as long as its queries
allow. A query too long for its group's cap falls back to its own.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from selfspec.errors import ConfigError
from selfspec.evaluation.tasks import EvalRecord, Task
from selfspec.prompts import PromptTemplate

DEMO_SEPARATOR = "\n\n"  # a blank line: the Alpaca template's own paragraph break between examples


class TokenText(Protocol):
    """How prompts are measured and inputs cut, in the model's own tokens."""

    def count(self, text: str) -> int: ...

    def head(self, text: str, n_tokens: int) -> str: ...


class TokenizerText:
    """``TokenText`` over a Hugging Face tokenizer; counts as the generator encodes (special tokens included)."""

    def __init__(self, tokenizer: Any) -> None:
        self.tokenizer = tokenizer

    def count(self, text: str) -> int:
        return len(self.tokenizer(text)["input_ids"])  # with BOS: the budget is the generator's full prompt

    def head(self, text: str, n_tokens: int) -> str:
        ids = self.tokenizer(text, add_special_tokens=False)["input_ids"]  # a cut input sits mid-prompt: no BOS
        # Untouched text when it fits: decode(encode(x)) need not give x back (whitespace, unknown characters).
        return text if len(ids) <= n_tokens else self.tokenizer.decode(ids[:n_tokens])


@dataclass(frozen=True)
class PromptItem:
    """One prompt to generate from: ``seed`` is the demonstration set's seed (None for 0-shot).

    ``truncated``: the query's input was cut; ``demos_cut``: demonstration inputs were cut.
    ``group``: items of one set and group share their demonstrations' cut (generate them together).
    """

    task: str
    kind: str
    shots: int
    seed: int | None
    record: EvalRecord
    prompt: str
    truncated: bool
    fits: bool
    demos_cut: bool = False
    group: int = 0


@dataclass(frozen=True)
class Fitted:
    """A prompt within the budget, and what was cut to get there."""

    prompt: str
    query_cut: bool
    demos_cut: bool
    fits: bool


def render_prompt(
    template: PromptTemplate, demos: Sequence[EvalRecord], query: EvalRecord, inputs: Sequence[str]
) -> str:
    """Demonstrations with their first gold answer, then the query; ``inputs`` replace each record's input."""
    # The first gold answer: one demonstration shows one answer, as the model is asked to give.
    parts = [template.render(d.instruction, text) + d.answers[0] for d, text in zip(demos, inputs[:-1], strict=True)]
    return DEMO_SEPARATOR.join([*parts, template.render(query.instruction, inputs[-1])])


def fit_prompt(
    template: PromptTemplate,
    demos: Sequence[EvalRecord],
    query: EvalRecord,
    text: TokenText,
    budget: int,
    demo_inputs: Sequence[str] | None = None,
) -> Fitted:
    """The prompt within ``budget`` tokens: demonstration inputs are cut first, the query's last.

    ``demo_inputs`` (the task's common cut, ``shared_demo_inputs``) are tried first. ``fits`` is
    False when even empty inputs overflow, in which case the prompt with empty inputs is returned
    and the caller reports it.
    """
    inputs = [r.input for r in (*demos, query)]
    if demo_inputs is not None:
        prompt = render_prompt(template, demos, query, [*demo_inputs, query.input])
        if text.count(prompt) <= budget:
            return Fitted(prompt, False, list(demo_inputs) != inputs[:-1], True)  # the group's common cut fits
    prompt = render_prompt(template, demos, query, inputs)
    if text.count(prompt) <= budget:
        return Fitted(prompt, False, False, True)
    if demos:  # stage 1: the query's input whole, the demonstrations' cut to a common cap
        demos_only = _fit_inputs(template, demos, query, text, budget, inputs[:-1], inputs[-1])
        if demos_only is not None:
            return Fitted(render_prompt(template, demos, query, demos_only), False, True, True)
    # Stage 2: the demonstrations alone cannot make room; every input, the query's too, to one cap.
    cut = _fit_inputs(template, demos, query, text, budget, inputs, None)
    prompt = render_prompt(template, demos, query, cut) if cut is not None else ""
    return Fitted(prompt, True, bool(demos), text.count(prompt) <= budget)


def shared_demo_inputs(
    template: PromptTemplate, demos: Sequence[EvalRecord], longest: EvalRecord, text: TokenText, budget: int
) -> list[str] | None:
    """The demonstrations' inputs, cut to the one cap that fits the query ``longest`` (None: none fits)."""
    inputs = [d.input for d in demos]
    if text.count(render_prompt(template, demos, longest, [*inputs, longest.input])) <= budget:
        return inputs
    fitted = _fit_inputs(template, demos, longest, text, budget, inputs, longest.input)
    return None if fitted is None else fitted[:-1]


def _fit_inputs(
    template: PromptTemplate,
    demos: Sequence[EvalRecord],
    query: EvalRecord,
    text: TokenText,
    budget: int,
    cut: Sequence[str],
    whole: str | None,
) -> list[str] | None:
    """Every input, ``cut`` ones to the largest common cap that fits (``whole``: the query's, uncut).

    Binary search: the prompt's length grows with the cap. With ``whole`` None the inputs returned
    may still overflow (cap 0); with ``whole`` given, None says no cap fits.
    """

    def inputs(cap: int) -> list[str]:
        heads = [text.head(i, cap) for i in cut]
        return heads if whole is None else [*heads, whole]

    def length(cap: int) -> int:
        return text.count(render_prompt(template, demos, query, inputs(cap)))

    low, high = 0, max(text.count(i) for i in cut)  # invariant: cap `low` fits or is 0
    while low < high:
        cap = (low + high + 1) // 2
        if length(cap) <= budget:
            low = cap
        else:
            high = cap - 1
    return inputs(low) if whole is None or length(low) <= budget else None


def draw_demonstrations(task: Task, shots: int, seed: int) -> list[EvalRecord]:
    """``shots`` demonstrations drawn from the task's demonstration pool (never its scored records).

    The draw depends only on the task name, ``shots`` and ``seed``.
    """
    n = len(task.demos)
    if shots > n:
        where = f"its pool ({task.demo_source}) holds {n}" if n else "it has no demonstration pool"
        raise ConfigError(
            f"task {task.name!r}: {shots}-shot evaluation needs {shots} demonstrations but {where}; "
            "give the task `demos: <file>` or `demos: <N records to hold apart>` in the suite, or lower shots"
        )
    # A string seed: the same draw whatever other tasks or shots the suite holds, in any order, in any process.
    picked = random.Random(f"{task.name}:{shots}:{seed}").sample(range(n), shots)
    return [task.demos[i] for i in picked]


def task_prompts(
    task: Task,
    shots: int,
    seeds: Sequence[int],
    template: PromptTemplate,
    text: TokenText,
    budget: int,
    group_size: int = 16,
) -> list[PromptItem]:
    """Every prompt of one task at one ``shots`` value: one set for 0-shot, one per seed otherwise.

    Every set scores all of ``task.records``, in their order; k-shot items carry their group.
    """
    records = task.records
    groups = [0] * len(records)
    longest: dict[int, int] = {}  # group -> its longest query's record, which sets the demonstrations' cap
    if shots:
        lengths = [text.count(template.render(r.instruction, r.input)) for r in records]
        # Groups of similar query lengths: one long query does not shrink the demonstrations of short ones.
        by_length = sorted(range(len(records)), key=lambda i: lengths[i])
        for rank, i in enumerate(by_length):  # shortest first; of equally long queries, the first record
            groups[i] = rank // group_size
            if groups[i] not in longest or lengths[i] > lengths[longest[groups[i]]]:
                longest[groups[i]] = i
    items = []
    for seed in seeds if shots else [None]:  # 0-shot has no demonstrations to vary: one set
        demos = draw_demonstrations(task, shots, seed) if seed is not None else []
        shared = {g: shared_demo_inputs(template, demos, records[i], text, budget) for g, i in longest.items()}
        for record, group in zip(records, groups, strict=True):
            fitted = fit_prompt(template, demos, record, text, budget, shared.get(group))
            items.append(
                PromptItem(
                    task.name,
                    task.kind,
                    shots,
                    seed,
                    record,
                    fitted.prompt,
                    fitted.query_cut,
                    fitted.fits,
                    fitted.demos_cut,
                    group,
                )
            )
    return items
