"""Answer metrics: pure per-example scores, and torchmetrics ``Metric``s that sum them across devices.

Each metric is the mean over examples of a per-example score that is the *max over gold answers*
(see ``expand_golds``). The states are two sums (score, count) reduced with ``sum``, so the value
computed after a distributed evaluation equals the value of one process that saw every example.
A ``label`` task is scored differently (``LabelScores``): each prediction is mapped to one of the
task's labels or to none, then accuracy and macro-F1 over the labels (PubMedQA's official metrics).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torchmetrics import Metric

from selfspec.evaluation.normalize import answer_tokens, expand_golds, normalize_answer


def token_f1(prediction: str, gold: str) -> float:
    """SQuAD v1.1 token F1 of one prediction against one gold answer (after normalisation)."""
    pred, ref = answer_tokens(prediction), answer_tokens(gold)
    # Multiset overlap: a repeated word counts as often as both texts have it (SQuAD's official script).
    common = sum((Counter(pred) & Counter(ref)).values())
    if common == 0:  # also covers an empty prediction or gold, whose precision or recall would divide by 0
        return 0.0
    precision, recall = common / len(pred), common / len(ref)
    return 2 * precision * recall / (precision + recall)


def exact_match(prediction: str, gold: str) -> float:
    """1.0 when the normalised texts are equal, else 0.0."""
    return float(normalize_answer(prediction) == normalize_answer(gold))


def rouge_l(prediction: str, gold: str) -> float:
    """ROUGE-L F-measure (longest common subsequence of words) from torchmetrics, no stemming."""
    from torchmetrics.functional.text.rouge import rouge_score  # imports nltk machinery: only when scoring

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
        # float64: thousands of scores in [0, 1] summed in float32 would lose the last digits the report shows.
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
        return self.total / self.count.clamp(min=1)  # 0 with no examples (a rank with an empty share), not NaN


class TokenF1(_MeanBestScore):
    """Mean SQuAD token-F1, max over gold answers."""

    score_fn = staticmethod(token_f1)


class ExactMatch(_MeanBestScore):
    """Share of predictions equal to a gold answer after SQuAD normalisation."""

    score_fn = staticmethod(exact_match)


class RougeL(_MeanBestScore):
    """Mean ROUGE-L F-measure (torchmetrics' implementation), max over gold answers."""

    score_fn = staticmethod(rouge_l)


# -- label tasks: the prediction is mapped to one label (or none), then accuracy and macro-F1 -------------


def map_label(prediction: str, labels: Sequence[str]) -> str | None:
    """The one label ``prediction`` gives, or None (no label, or several: a hedge such as "Yes, no, or maybe.").

    The first sentence decides when it names labels; otherwise the whole text. A label counts when
    its normalised words occur as whole words in the normalised text.
    """
    # The first sentence: "No. Although some studies say yes, ..." answers no, though "yes" occurs later.
    first = re.split(r"[.\n!?;]", prediction.strip(), maxsplit=1)[0]
    for text in (first, prediction):
        found = [label for label in labels if _has_words(normalize_answer(text), normalize_answer(label))]
        if found:
            return found[0] if len(found) == 1 else None
    return None


def _has_words(text: str, words: str) -> bool:
    return bool(words) and f" {words} " in f" {text} "  # padded: "no" must not match inside "not" or "know"


def label_scores(gold: Sequence[str], predicted: Sequence[str | None], labels: Sequence[str]) -> tuple[float, float]:
    """``(accuracy, macro-F1)`` over ``labels``, as PubMedQA's evaluation computes them (scikit-learn's
    macro average over the labels that occur as gold or prediction; an unmapped prediction is simply wrong)."""
    tp, fp, fn = _confusion(gold, predicted, labels)
    return _accuracy_and_macro(tp, fp, fn, len(gold))


def _confusion(
    gold: Sequence[str], predicted: Sequence[str | None], labels: Sequence[str]
) -> tuple[list[int], list[int], list[int]]:
    index = {normalize_answer(label): i for i, label in enumerate(labels)}
    tp, fp, fn = [0] * len(labels), [0] * len(labels), [0] * len(labels)
    for g, p in zip(gold, predicted, strict=True):
        gi = index.get(normalize_answer(g))
        pi = None if p is None else index.get(normalize_answer(p))
        if gi is not None and gi == pi:
            tp[gi] += 1
            continue
        # A wrong prediction costs twice, as in scikit-learn: a miss of the gold label and a false alarm of its own.
        if gi is not None:
            fn[gi] += 1
        if pi is not None:
            fp[pi] += 1
    return tp, fp, fn


def _accuracy_and_macro(tp: Sequence[int], fp: Sequence[int], fn: Sequence[int], n: int) -> tuple[float, float]:
    # Labels never gold nor predicted are left out of the mean (scikit-learn's labels=None): F1 0/0 is undefined.
    seen = [(t, f, m) for t, f, m in zip(tp, fp, fn, strict=True) if t + f + m]
    macro = sum(2 * t / (2 * t + f + m) for t, f, m in seen) / len(seen) if seen else 0.0
    return (sum(tp) / n if n else 0.0), macro


class LabelScores(Metric):
    """Accuracy and macro-F1 of label predictions; the confusion counts are summed across devices."""

    higher_is_better = True
    full_state_update = False
    is_differentiable = False
    tp: torch.Tensor  # per label, int64 [n_labels]
    fp: torch.Tensor
    fn: torch.Tensor
    count: torch.Tensor  # examples, int64 scalar

    def __init__(self, labels: Sequence[str]) -> None:
        super().__init__()
        self.labels = tuple(labels)
        for name in ("tp", "fp", "fn"):
            self.add_state(name, default=torch.zeros(len(self.labels), dtype=torch.long), dist_reduce_fx="sum")
        self.add_state("count", default=torch.tensor(0, dtype=torch.long), dist_reduce_fx="sum")

    def update(self, preds: Sequence[str], answers: Sequence[Sequence[str]]) -> None:
        """``preds[i]`` (free text, mapped to a label) against the gold label ``answers[i][0]``."""
        predicted = [map_label(p, self.labels) for p in preds]
        tp, fp, fn = _confusion([a[0] for a in answers], predicted, self.labels)
        self.tp = self.tp + torch.tensor(tp, dtype=torch.long, device=self.tp.device)
        self.fp = self.fp + torch.tensor(fp, dtype=torch.long, device=self.fp.device)
        self.fn = self.fn + torch.tensor(fn, dtype=torch.long, device=self.fn.device)
        self.count = self.count + len(preds)

    def compute(self) -> torch.Tensor:
        """``[accuracy, macro-F1]``."""
        accuracy, macro = _accuracy_and_macro(self.tp.tolist(), self.fp.tolist(), self.fn.tolist(), int(self.count))
        return torch.tensor([accuracy, macro], dtype=torch.float64)
