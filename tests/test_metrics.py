"""Answer metrics: hand-computed tables, distributed state merging, and cross-checks on real text
against independent implementations (the official SQuAD v1.1 F1, Google's ``rouge_score``)."""

from __future__ import annotations

import collections
import json
import random
import re
import string
from pathlib import Path

import pytest

from selfspec.evaluation.metrics import (
    ExactMatch,
    RougeL,
    TokenF1,
    exact_match,
    rouge_l,
    score_example,
    token_f1,
)
from selfspec.evaluation.normalize import expand_golds, normalize_answer


@pytest.mark.parametrize(
    ("text", "normalized"),
    [
        ("The Cat, the hat.", "cat hat"),
        ("  An apple a day  ", "apple day"),
        ("theory-of-mind", "theoryofmind"),  # punctuation is deleted, not replaced by a space
        ("Another THE", "another"),  # 'an' inside a word stays
        ("", ""),
    ],
)
def test_normalize_answer(text: str, normalized: str) -> None:
    assert normalize_answer(text) == normalized


@pytest.mark.parametrize(
    ("prediction", "gold", "f1"),
    [
        ("the cat sat", "a cat sat down", 0.8),  # p = 2/2, r = 2/3
        ("a b c d", "c d e f", 4 / 7),  # 'a' is an article: p = 2/3, r = 2/4
        ("yes yes no", "yes no no", 2 / 3),  # multiset overlap counts 'yes' once, 'no' once
        ("Paris.", "paris", 1.0),
        ("", "paris", 0.0),
        ("the", "a", 0.0),  # nothing left after normalisation
        ("London", "Paris", 0.0),
    ],
)
def test_token_f1_table(prediction: str, gold: str, f1: float) -> None:
    assert token_f1(prediction, gold) == pytest.approx(f1)


@pytest.mark.parametrize(
    ("prediction", "gold", "em"),
    [("The Answer!", "answer", 1.0), ("answers", "answer", 0.0), ("yes", "Yes.", 1.0), ("", "no", 0.0)],
)
def test_exact_match_table(prediction: str, gold: str, em: float) -> None:
    assert exact_match(prediction, gold) == em


@pytest.mark.parametrize(
    ("prediction", "gold", "rouge"),
    [
        ("the cat sat on the mat", "a cat sat on a mat", 4 / 6),  # LCS cat sat on mat; no article removal
        ("police killed the gunman", "the gunman police killed", 0.5),
        ("a b", "a b", 1.0),
        ("x", "y", 0.0),
    ],
)
def test_rouge_l_table(prediction: str, gold: str, rouge: float) -> None:
    assert rouge_l(prediction, gold) == pytest.approx(rouge, abs=1e-6)


@pytest.mark.parametrize(
    ("answers", "golds"),
    [
        (["yes"], ["yes"]),
        (["aspirin, ibuprofen"], ["aspirin, ibuprofen", "aspirin", "ibuprofen"]),
        (["a, b", "b"], ["a, b", "a", "b"]),
        (["1,000"], ["1,000"]),  # a comma without a space is part of the answer
    ],
)
def test_expand_golds(answers: list[str], golds: list[str]) -> None:
    assert expand_golds(answers) == golds


def test_scores_are_the_max_over_gold_answers() -> None:
    # vs 'aspirin ibuprofen' (whole string): p = 2/3, r = 1 -> 0.8; vs 'aspirin': p = 1/3, r = 1 -> 0.5
    assert score_example("aspirin and ibuprofen", ["aspirin, ibuprofen"]).f1 == pytest.approx(0.8)
    scores = score_example("Ibuprofen.", ["aspirin, ibuprofen"])
    assert (scores.f1, scores.em, scores.rouge_l) == (1.0, 1.0, pytest.approx(1.0))
    assert score_example("no", ["yes", "maybe"]).f1 == 0.0


def test_metric_objects_average_over_updates() -> None:
    metric = TokenF1()
    metric.update(["the cat sat", "Paris"], [["a cat sat down"], ["London", "paris"]])
    metric.update(["London"], [["Paris"]])
    assert metric.compute().item() == pytest.approx((0.8 + 1.0 + 0.0) / 3)
    em = ExactMatch()
    em.update(["yes", "no", "maybe"], [["Yes"], ["yes"], ["maybe, perhaps"]])
    assert em.compute().item() == pytest.approx(2 / 3)
    with pytest.raises(ValueError, match="2 predictions but 1 answer lists"):
        em.update(["a", "b"], [["a"]])


@pytest.mark.parametrize("metric_cls", [TokenF1, ExactMatch, RougeL])
def test_states_merged_across_processes_equal_one_process(metric_cls: type) -> None:
    preds = ["the cat sat", "Paris", "London", "yes", "a b c d"]
    golds = [["a cat sat down"], ["paris"], ["Paris"], ["yes, no"], ["c d e f"]]
    whole, rank0, rank1 = metric_cls(), metric_cls(), metric_cls()
    whole.update(preds, golds)
    rank0.update(preds[:2], golds[:2])  # an uneven split, as DistributedSampler may give
    rank1.update(preds[2:], golds[2:])
    rank0.merge_state(rank1)  # the same sum reduction dist_reduce_fx="sum" performs
    assert rank0.compute().item() == pytest.approx(whole.compute().item())
    assert int(rank0.count) == len(preds)


# ---- cross-check against independent implementations, on real third-party text -------------------


def _squad_normalize(s: str) -> str:
    # Verbatim logic of the official SQuAD v1.1 evaluate-v1.1.py normalize_answer.
    def remove_articles(text: str) -> str:
        return re.sub(r"\b(a|an|the)\b", " ", text)

    def white_space_fix(text: str) -> str:
        return " ".join(text.split())

    def remove_punc(text: str) -> str:
        exclude = set(string.punctuation)
        return "".join(ch for ch in text if ch not in exclude)

    return white_space_fix(remove_articles(remove_punc(s.lower())))


def _squad_f1(prediction: str, ground_truth: str) -> float:
    prediction_tokens = _squad_normalize(prediction).split()
    ground_truth_tokens = _squad_normalize(ground_truth).split()
    common = collections.Counter(prediction_tokens) & collections.Counter(ground_truth_tokens)
    num_same = sum(common.values())
    if num_same == 0:
        return 0
    precision = 1.0 * num_same / len(prediction_tokens)
    recall = 1.0 * num_same / len(ground_truth_tokens)
    return (2 * precision * recall) / (precision + recall)


def _squad_em(prediction: str, ground_truth: str) -> float:
    return float(_squad_normalize(prediction) == _squad_normalize(ground_truth))


def _squad_max(metric_fn, prediction: str, ground_truths: list[str]) -> float:  # type: ignore[no-untyped-def]
    return max(metric_fn(prediction, gt) for gt in ground_truths)


def _real_pairs(shared_data: Path, n: int = 1200) -> list[tuple[str, list[str]]]:
    """(prediction, gold answers) from real Alpaca outputs: exact, cut, perturbed, or another record's."""
    outputs = []
    for line in (shared_data / "alpaca_1k.jsonl").read_text(encoding="utf-8").splitlines():
        words = json.loads(line)["output"].split()
        if words:
            outputs.append(" ".join(words[:40]))  # answer-sized references
    rng = random.Random(1234)
    pairs = []
    for k in range(n):
        gold = outputs[k % len(outputs)]
        words = gold.split()
        kind = k % 5
        if kind == 0:
            prediction = gold
        elif kind == 1:
            prediction = " ".join(words[: rng.randint(1, len(words))])
        elif kind == 2:
            prediction = " ".join(w for w in words if rng.random() < 0.6) + " " + rng.choice(outputs)[:60]
        elif kind == 3:
            prediction = rng.choice(outputs)
        else:
            prediction = " ".join(rng.sample(words, len(words))).upper()
        answers = [gold] if k % 3 else [gold, rng.choice(outputs)]
        pairs.append((prediction, answers))
    return pairs


def _independent_golds(answers: list[str]) -> list[str]:
    # The paper's rule, written separately: a ", "-separated gold string counts each part (and itself).
    return [piece for a in answers for piece in ([a, *a.split(", ")] if ", " in a else [a])]


def test_token_f1_matches_official_squad_v11_on_real_pairs(shared_data: Path) -> None:
    pairs = _real_pairs(shared_data)
    assert len(pairs) >= 1000
    f1_ours = [max(token_f1(p, g) for g in expand_golds(a)) for p, a in pairs]
    f1_ref = [_squad_max(_squad_f1, p, _independent_golds(a)) for p, a in pairs]
    em_ours = [max(exact_match(p, g) for g in expand_golds(a)) for p, a in pairs]
    em_ref = [_squad_max(_squad_em, p, _independent_golds(a)) for p, a in pairs]
    assert f1_ours == pytest.approx(f1_ref, abs=1e-12)
    assert em_ours == em_ref
    # The pairs exercise the whole range, not just 0 and 1.
    strictly_between = sum(0.0 < f < 1.0 for f in f1_ref)
    assert strictly_between > 300 and f1_ref.count(0.0) > 20 and sum(em_ref) > 200
    metric = TokenF1()
    metric.update([p for p, _ in pairs], [a for _, a in pairs])
    assert metric.compute().item() == pytest.approx(sum(f1_ref) / len(f1_ref), abs=1e-9)


def test_rouge_l_matches_google_rouge_score_on_real_pairs(shared_data: Path) -> None:
    rouge_scorer = pytest.importorskip("rouge_score.rouge_scorer")
    scorer = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=False)
    pairs = _real_pairs(shared_data, n=300)
    ours = [rouge_l(p, a[0]) for p, a in pairs]
    reference = [scorer.score(a[0], p)["rougeL"].fmeasure for p, a in pairs]
    assert ours == pytest.approx(reference, abs=1e-5)
    assert sum(0.0 < r < 1.0 for r in reference) > 100
