"""Instruction filters; the ROUGE-L novelty filter decides exactly like rouge_score, on real instructions."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from benchmarks.novelty_filter import perturb, reference
from selfspec.generation.filters import Candidate, FilterSettings, InstructionFilter, ngrams
from selfspec.generation.novelty import NoveltyIndex, lcs_length, rouge_l_f, rouge_tokens


@pytest.mark.parametrize(
    ("instruction", "reason"),
    [
        ("Too short here", "word_count"),  # 3 words: the paper drops <= 3
        ("Name four common asthma triggers.", None),
        (" ".join(["word"] * 151), "word_count"),
        ("Draw the structure of caffeine please.", "blocklist"),
        ("Describe the image of the cell below.", "blocklist"),
        ("Explain how to Go To the nearest clinic.", "blocklist"),
        ("Mapping genes to pathways is hard, explain why.", None),  # "map" only as a whole word
        ('"Quote" the main finding of the abstract.', "bad_start"),
        ("Élaborez la réponse à la question posée.", "bad_start"),
        ("1. List three enzymes of glycolysis.", None),  # digits are ASCII alphanumerics
    ],
)
def test_stateless_filters(instruction: str, reason: str | None) -> None:
    filt = InstructionFilter(FilterSettings(), [], set())
    assert filt.reason_to_drop(Candidate(instruction, "")) == reason
    if reason:
        assert filt.counts[reason] == 1 and sum(filt.counts.values()) == 1


def test_duplicates_novelty_and_counts() -> None:
    filt = InstructionFilter(FilterSettings(), ["Answer the biomedical question with yes or no."], set())
    verdicts = [
        filt.reason_to_drop(Candidate(i, x))
        for i, x in [
            ("Answer this biomedical question with yes or no.", ""),  # near-copy of the seed
            ("Summarise the clinical note in two sentences.", "note A"),
            ("Summarise the clinical note in two sentences.", "note A"),  # exact duplicate
            ("Summarise the clinical  note in two sentences.", "note B"),  # new input, same instruction
            ("Extract every chemical named in the abstract.", ""),
        ]
    ]
    assert verdicts == ["novelty", None, "duplicate", "novelty", None]
    assert filt.counts == {
        "word_count": 0,
        "blocklist": 0,
        "bad_start": 0,
        "contamination": 0,
        "duplicate": 1,
        "novelty": 2,
    }


def test_contamination_13_gram() -> None:
    passage = "the patient was given fifty milligrams of metformin twice a day for three months before the trial"
    filt = InstructionFilter(FilterSettings(), [], ngrams(passage, 13))
    leak = Candidate("Summarise the treatment described in the note.", passage[20:].upper())
    near = Candidate("Summarise the treatment of this patient given.", " ".join(passage.split()[:12]))
    assert filt.reason_to_drop(leak) == "contamination"
    assert filt.reason_to_drop(near) is None  # 12 shared words are not 13


@pytest.mark.parametrize("text", ["", "!!!", "Hello, World!", "Ünïcode naïve café", "x_y z-1 ǅ İstanbul", "a\tb\nc"])
def test_tokens_match_rouge_score(text: str) -> None:
    from rouge_score.tokenizers import DefaultTokenizer

    assert rouge_tokens(text) == DefaultTokenizer(use_stemmer=False).tokenize(text)


def test_lcs_matches_the_dynamic_programme() -> None:
    from rouge_score.rouge_scorer import _lcs_table

    rng = random.Random(0)
    for _ in range(500):
        a = [rng.randrange(6) for _ in range(rng.randrange(1, 90))]
        b = [rng.randrange(6) for _ in range(rng.randrange(1, 90))]
        assert lcs_length(a, b) == _lcs_table(a, b)[-1][-1]


def test_fmeasure_matches_rouge_score_bit_for_bit() -> None:
    from rouge_score.rouge_scorer import _score_lcs

    for m in range(1, 30):
        for n in range(1, 30):
            for lcs in range(min(m, n) + 1):
                target, pred = list(range(m)), list(range(lcs)) + [-1 - i for i in range(n - lcs)]
                assert rouge_l_f(lcs, m, n) == _score_lcs(target, pred).fmeasure


def real_candidates(shared_data: Path, n: int, seed: int, max_words: int = 10_000) -> tuple[list[str], list[str]]:
    """Self-Instruct seed instructions as the pool; real instructions and perturbed copies as candidates."""
    seeds = [json.loads(x)["instruction"] for x in (shared_data / "self_instruct_seed_tasks.jsonl").open()]
    real = [
        json.loads(x)["instruction"]
        for name in ("alpaca_1k", "mixed_prompts_900", "self_instruct_user_oriented")
        for x in (shared_data / f"{name}.jsonl").open()
    ]
    real = [r for r in real if len(r.split()) <= max_words]
    rng = random.Random(seed)
    vocab = [w for t in real[:200] for w in t.split()]
    candidates = [
        rng.choice(real) if rng.random() < 0.5 else perturb(rng.choice(real + seeds), rng, vocab) for _ in range(n)
    ]
    return seeds, candidates


def test_reference_shortcut_is_the_scorer() -> None:
    from rouge_score import rouge_scorer

    scorer = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=False)
    pairs = [("Answer the question.", "answer THE question!"), ("a b c d", "d c b a"), ("", "x"), ("x y", "y x y")]
    for a, b in pairs:
        assert reference([b], [a], 0.5) == [scorer.score(a, b)["rougeL"].fmeasure <= 0.5]


@pytest.mark.parametrize(
    ("size", "max_words"),
    [(400, 60), pytest.param(1000, 150, marks=pytest.mark.slow)],  # slow: up to the word filter's 150 words
)
def test_novelty_decisions_identical_to_rouge_score_on_real_instructions(
    shared_data: Path, size: int, max_words: int
) -> None:
    pool, candidates = real_candidates(shared_data, size, seed=size, max_words=max_words)
    index = NoveltyIndex(0.7)
    index.extend(pool)
    ours = []
    for candidate in candidates:
        keep = not index.too_similar(candidate)
        ours.append(keep)
        if keep:
            index.add(candidate)
    expected = reference(pool, candidates)
    assert ours == expected
    assert size / 8 < sum(expected) < size - size / 8  # both decisions occur often
