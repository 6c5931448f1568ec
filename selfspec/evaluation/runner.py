"""Evaluate one model over a suite: build every prompt, generate them in batches, score per set.

All prompts of the suite (every task, shots value and demonstration set) go through the shared
``BatchGenerator`` in one call, greedily, so batches are full and bucketed by length. Scores
are accumulated in torchmetrics ``Metric``s: with several processes each takes a shard of the
prompts and ``compute`` sums the states across them.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torchmetrics import Metric

from selfspec.decoding.generator import BatchGenerator, Generation, SamplingSettings
from selfspec.errors import ConfigError
from selfspec.evaluation.metrics import ExactMatch, LabelScores, RougeL, Scores, TokenF1, map_label
from selfspec.evaluation.prompting import PromptItem, TokenizerText, task_prompts
from selfspec.evaluation.tasks import Task, task_labels
from selfspec.modeling.threads import auto_threads
from selfspec.progress import progress
from selfspec.prompts import PromptTemplate

log = logging.getLogger(__name__)

# A continuation that starts a new Alpaca block has finished its answer.
STOP_STRINGS = ("\n\n### ", "### Instruction:", "\n\nBelow is an instruction")


@dataclass(frozen=True)
class EvalSettings:
    """How a suite is evaluated (greedy decoding, METHOD "Evaluation").

    Args:
        shots: Demonstrations per prompt; each value is its own setting (0 = zero-shot).
        demo_seeds: Seeds of the demonstration sets drawn for every k-shot setting; results are
            reported as mean +- SD over them.
        max_new_tokens: Longest answer, in tokens.
        max_length: Context budget in tokens (prompt + answer); inputs are cut to fit. None
            uses the model's ``max_position_embeddings``.
        batch_size: Prompts generated together.
    """

    shots: tuple[int, ...] = (0,)
    demo_seeds: tuple[int, ...] = (0, 1, 2)
    max_new_tokens: int = 64
    max_length: int | None = None
    batch_size: int = 16

    def check(self, flag: str = "settings") -> None:
        """Raise ``ValueError`` naming the field of the first impossible value."""
        if not self.shots or min(self.shots) < 0:
            raise ValueError(f"{flag}.shots must be a non-empty list of numbers >= 0, got {list(self.shots)}")
        if any(self.shots) and not self.demo_seeds:
            raise ValueError(f"{flag}.demo_seeds must hold at least one seed for k-shot settings")
        if self.max_new_tokens < 1 or self.batch_size < 1:
            raise ValueError(f"{flag}.max_new_tokens and {flag}.batch_size must be at least 1")


@dataclass(frozen=True)
class SetResult:
    """Scores of one task at one shots value with one demonstration set (``seed`` None for 0-shot)."""

    task: str
    kind: str
    shots: int
    seed: int | None
    n: int
    truncated: int
    overflowed: int
    scores: Scores
    demos_cut: int = 0


@dataclass(frozen=True)
class SuiteResult:
    """Every set's scores, the predictions of this process's share, and generation speed."""

    sets: list[SetResult]
    predictions: list[dict[str, Any]]
    new_tokens: int
    seconds: float


def context_budget(model: Any, settings: EvalSettings) -> int:
    """Prompt tokens allowed: the context (``max_length`` or the model's) minus the answer's room."""
    context = settings.max_length or getattr(getattr(model, "config", None), "max_position_embeddings", None)
    if not context:
        raise ConfigError("the model does not say its context length; set max_length in the evaluation settings")
    budget = int(context) - settings.max_new_tokens
    if budget < 16:
        raise ConfigError(
            f"evaluation settings: max_length {context} leaves {budget} prompt tokens after max_new_tokens; raise it"
        )
    return budget


def build_prompts(
    tasks: Sequence[Task], template: PromptTemplate, tokenizer: Any, settings: EvalSettings, budget: int
) -> list[PromptItem]:
    """All prompts of the suite, in a fixed order (task, shots, seed, record)."""
    text = TokenizerText(tokenizer)
    return [
        item
        for task in tasks
        for shots in settings.shots
        for item in task_prompts(task, shots, settings.demo_seeds, template, text, budget, settings.batch_size)
    ]


def evaluate_suite(
    model: Any,
    tokenizer: Any,
    tasks: Sequence[Task],
    template: PromptTemplate,
    settings: EvalSettings,
    shard: tuple[int, int] = (0, 1),
) -> SuiteResult:
    """Generate greedily for every prompt of this process's ``shard`` (rank, world size) and score."""
    items = build_prompts(tasks, template, tokenizer, settings, context_budget(model, settings))
    mine = items[shard[0] :: shard[1]]
    threads = auto_threads if model_device(model).type == "cpu" else None  # free cores, asked before each batch
    generator = BatchGenerator(model, tokenizer, settings.batch_size, threads=threads)
    sampling = SamplingSettings(max_new_tokens=settings.max_new_tokens, do_sample=False, stop=STOP_STRINGS)
    by_index: dict[int, Generation] = {}
    with progress(len(mine), "evaluation", "prompts", disable=shard[0] != 0) as bar:
        for group in prompt_groups(mine):  # a group's prompts share their demonstrations: one prefix pass
            prompts = [mine[i].prompt for i in group]
            by_index.update(zip(group, generator.generate(prompts, sampling, on_batch=bar.update), strict=True))
    generations = [by_index[i] for i in range(len(mine))]
    answers = [g.text.strip() for g in generations]
    labels = {task.name: task.labels for task in tasks}
    sets = score_sets(items, mine, answers, model_device(model), labels)
    predictions = [_prediction(item, g.text, g.raw, labels) for item, g in zip(mine, generations, strict=True)]
    return SuiteResult(sets, predictions, generator.new_tokens, generator.seconds)


def prompt_groups(items: Sequence[PromptItem]) -> list[list[int]]:
    """Indices of ``items`` by (task, shots, seed, group), in order of first appearance."""
    groups: dict[tuple[str, int, int | None, int], list[int]] = {}
    for index, item in enumerate(items):
        groups.setdefault((item.task, item.shots, item.seed, item.group), []).append(index)
    return list(groups.values())


def score_sets(
    items: Sequence[PromptItem],
    mine: Sequence[PromptItem],
    answers: Sequence[str],
    device: torch.device,
    labels: Mapping[str, Sequence[str]] | None = None,
) -> list[SetResult]:
    """Per-set scores; ``items`` (all processes' prompts) fixes the sets, ``mine`` are scored here.

    A label task's ``f1`` is the macro-F1 over its labels and ``em`` its accuracy (``LabelScores``;
    labels from ``labels`` or, when absent, its records' gold answers); other kinds use token-F1 and EM.
    """
    keys = list(dict.fromkeys((i.task, i.kind, i.shots, i.seed) for i in items))
    metrics = {key: _metrics(key, items, labels or {}, device) for key in keys}
    for item, answer in zip(mine, answers, strict=True):
        for metric in metrics[(item.task, item.kind, item.shots, item.seed)]:
            metric.update([answer], [list(item.record.answers)])
    results = []
    for key in keys:  # same order on every process: compute() may synchronise
        values = [m.compute() for m in metrics[key]]
        if key[1] == "label":
            (accuracy, f1), rouge = values[0].tolist(), float(values[1])
            scores = Scores(f1, accuracy, rouge)
        else:
            scores = Scores(*(float(v) for v in values))
        group = [i for i in items if (i.task, i.kind, i.shots, i.seed) == key]
        truncated, overflowed = sum(i.truncated for i in group), sum(not i.fits for i in group)
        results.append(SetResult(*key, len(group), truncated, overflowed, scores, sum(i.demos_cut for i in group)))
    return results


def _metrics(
    key: tuple[str, str, int, int | None],
    items: Sequence[PromptItem],
    labels: Mapping[str, Sequence[str]],
    device: torch.device,
) -> list[Metric]:
    task, kind = key[0], key[1]
    if kind != "label":
        return [m.to(device) for m in (TokenF1(), ExactMatch(), RougeL())]
    known = labels.get(task) or task_labels([i.record for i in items if i.task == task])
    return [LabelScores(known).to(device), RougeL().to(device)]


def model_device(model: Any) -> torch.device:
    device = getattr(model, "device", None)
    return device if isinstance(device, torch.device) else torch.device("cpu")


def _prediction(item: PromptItem, text: str, raw: str, labels: Mapping[str, Sequence[str]]) -> dict[str, Any]:
    label = {"label": map_label(text, labels[item.task])} if item.kind == "label" and labels.get(item.task) else {}
    return {
        "task": item.task,
        "shots": item.shots,
        "seed": item.seed,
        "id": item.record.id,
        "prediction": text.strip(),
        "raw": raw,
        "answers": list(item.record.answers),
        "truncated": item.truncated,
        "demos_cut": item.demos_cut,
        **label,
    }
