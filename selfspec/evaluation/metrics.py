"""Answer metrics: pure per-example scores, and torchmetrics ``Metric``s that sum them across devices.

Each metric is the mean over examples of a per-example score that is the *max over gold answers*
(see ``expand_golds``). The states are two sums (score, count) reduced with ``sum``, so the value
computed after a distributed evaluation equals the value of one process that saw every example.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torchmetrics import Metric

from selfspec.evaluation.normalize import answer_tokens, expand_golds, normalize_answer


def token_f1(prediction: str, gold: str) -> float:
    """SQuAD v1.1 token F1 of one prediction against one gold answer (after normalisation)."""
    pred, ref = answer_tokens(prediction), answer_tokens(gold)
    common = sum((Counter(pred) & Counter(ref)).values())
    if common == 0:
        return 0.0
    precision, recall = common / len(pred), common / len(ref)
    return 2 * precision * recall / (precision + recall)


def exact_match(prediction: str, gold: str) -> float:
    """1.0 when the normalised texts are equal, else 0.0."""
    return float(normalize_answer(prediction) == normalize_answer(gold))


def rouge_l(prediction: str, gold: str) -> float:
    """ROUGE-L F-measure (longest common subsequence of words) from torchmetrics, no stemming."""
    from torchmetrics.functional.text.rouge import rouge_score

    return float(rouge_score(prediction, gold, rouge_keys="rougeL")["rougeL_fmeasure"])


def best_over_golds(score: Callable[[str, str], float], prediction: str, answers: Sequence[str]) -> float:
    """The best score of ``prediction`` over every gold answer (0.0 when there is none)."""
    return max((score(prediction, gold) for gold in expand_golds(answers)), default=0.0)


@dataclass(frozen=True)
class Scores:
    """One example's (or one mean's) scores, each in [0, 1]."""

    f1: float
    em: float
    rouge_l: float


def score_example(prediction: str, answers: Sequence[str]) -> Scores:
    """Token-F1, exact match and ROUGE-L of one prediction, each the max over the gold answers."""
    return Scores(
        best_over_golds(token_f1, prediction, answers),
        best_over_golds(exact_match, prediction, answers),
        best_over_golds(rouge_l, prediction, answers),
    )


class _MeanBestScore(Metric):
    """Mean over examples of ``score`` maxed over gold answers; distributed by summing."""

    higher_is_better = True
    full_state_update = False
    is_differentiable = False
    score_fn: Callable[[str, str], float]
    total: torch.Tensor  # sum of per-example scores, float64 scalar
    count: torch.Tensor  # number of examples, int64 scalar

    def __init__(self) -> None:
        super().__init__()
        self.add_state("total", default=torch.tensor(0.0, dtype=torch.float64), dist_reduce_fx="sum")
        self.add_state("count", default=torch.tensor(0, dtype=torch.long), dist_reduce_fx="sum")

    def update(self, preds: Sequence[str], answers: Sequence[Sequence[str]]) -> None:
        """``preds[i]`` is scored against the gold answers ``answers[i]``."""
        if len(preds) != len(answers):
            raise ValueError(f"{len(preds)} predictions but {len(answers)} answer lists")
        score = type(self).score_fn
        self.total = self.total + sum(best_over_golds(score, p, a) for p, a in zip(preds, answers, strict=True))
        self.count = self.count + len(preds)

    def compute(self) -> torch.Tensor:
        return self.total / self.count.clamp(min=1)


class TokenF1(_MeanBestScore):
    """Mean SQuAD token-F1, max over gold answers."""

    score_fn = staticmethod(token_f1)


class ExactMatch(_MeanBestScore):
    """Share of predictions equal to a gold answer after SQuAD normalisation."""

    score_fn = staticmethod(exact_match)


class RougeL(_MeanBestScore):
    """Mean ROUGE-L F-measure (torchmetrics' implementation), max over gold answers."""

    score_fn = staticmethod(rouge_l)
