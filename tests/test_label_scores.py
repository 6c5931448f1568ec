"""Label tasks: a prediction maps to one label or none; accuracy and macro-F1 as PubMedQA reports them."""

from __future__ import annotations

import pytest
import torch

from selfspec.evaluation.metrics import LabelScores, label_scores, map_label

LABELS = ("yes", "no", "maybe")


@pytest.mark.parametrize(
    ("prediction", "label"),
    [
        ("yes", "yes"),
        ("No.", "no"),
        ("Maybe", "maybe"),
        ("Yes, the trial shows a benefit.", "yes"),
        ("No. There is no evidence that yes-men exist.", "no"),  # the first sentence decides
        ("The answer is no.", "no"),
        ("Yes, no, or maybe.", None),  # a hedge names every label: no label
        ("yes or no", None),
        ("The study was randomised.", None),
        ("", None),
        ("Nobody knows; yesterday it rained.", None),  # whole words only
        ("Based on the abstract the answer would be... \nyes", "yes"),
    ],
)
def test_map_label(prediction: str, label: str | None) -> None:
    assert map_label(prediction, LABELS) == label


def test_label_scores_match_a_hand_computed_confusion() -> None:
    gold = ["yes", "yes", "yes", "no", "no", "maybe"]
    predicted = ["yes", "yes", "no", "no", None, "yes"]
    accuracy, macro = label_scores(gold, predicted, LABELS)
    # yes: tp 2 fp 1 fn 1 -> 4/6; no: tp 1 fp 1 fn 1 -> 2/4; maybe: tp 0 fn 1 -> 0
    assert accuracy == pytest.approx(3 / 6)
    assert macro == pytest.approx((4 / 6 + 2 / 4 + 0) / 3)


def test_always_yes_earns_accuracy_but_little_macro_f1() -> None:
    gold = ["yes"] * 6 + ["no"] * 3 + ["maybe"]
    accuracy, macro = label_scores(gold, ["yes"] * 10, LABELS)
    assert accuracy == pytest.approx(0.6)
    assert macro == pytest.approx((2 * 6 / (2 * 6 + 4)) / 3)  # F1(yes) only; no and maybe score 0


def test_metric_equals_the_pure_function_and_sums_across_updates() -> None:
    preds = ["Yes.", "no", "Yes, no, or maybe.", "maybe so", "No, it did not."]
    gold = [["yes"], ["no"], ["maybe"], ["no"], ["no"]]
    metric = LabelScores(LABELS)
    metric.update(preds[:2], gold[:2])
    metric.update(preds[2:], gold[2:])
    expected = label_scores([g[0] for g in gold], [map_label(p, LABELS) for p in preds], LABELS)
    assert torch.allclose(metric.compute(), torch.tensor(expected, dtype=torch.float64))
