"""ROUGE-L novelty filter: selfspec's NoveltyIndex vs the reference loop (Alpaca / Self-Instruct).

Instructions are real ones from ../shared/data (Alpaca, LLaMA-Factory demo prompts, Self-Instruct
user-oriented), sampled and lightly perturbed (word drops, insertions, swaps, case changes) to
reach the sizes, with the 175 Self-Instruct seed instructions as the starting pool. Only texts of
4 to ``--max-words`` words are used (default 40: brainstormed instructions are asked to be 1-2
sentences; the pipeline's own word filter stops at 150). The reference's cost grows with the
square of the text length, so long prompts would make its 5K run take the better part of an hour.

The reference is Alpaca's ``generate_instruction.py`` loop: every instruction tokenised once with
``RougeScorer(["rougeL"])``'s own tokenizer, then ``rouge_scorer._score_lcs`` against every item of
the pool (that is what ``scorer.score`` computes, without re-tokenising each pair), keep when no
F-measure exceeds 0.7. Both run in this process, one after the other, on the same list.

    python benchmarks/novelty_filter.py                 # reference at 1K, 2K, 5K; ours also at 10K
    python benchmarks/novelty_filter.py --sizes 1000 --reference-sizes 1000   # quick look

Prints a table, then (last line) JSON with ``identical`` (all reference decisions equal ours) and
``ratio`` (reference seconds / our seconds at the largest size with a reference run).
"""

from __future__ import annotations

import argparse
import json
import random
import time
from pathlib import Path

from selfspec.generation.novelty import NoveltyIndex

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
SOURCES = ("alpaca_1k", "mixed_prompts_900", "self_instruct_user_oriented")


def load_real(max_words: int) -> tuple[list[str], list[str]]:
    def instructions(name: str) -> list[str]:
        lines = (SHARED / f"{name}.jsonl").read_text(encoding="utf-8").splitlines()
        return [json.loads(x)["instruction"] for x in lines if x.strip()]

    real = [t for name in SOURCES for t in instructions(name) if 4 <= len(t.split()) <= max_words]
    return instructions("self_instruct_seed_tasks"), real


def perturb(text: str, rng: random.Random, vocab: list[str]) -> str:
    """One to three word drops, insertions, swaps or upper-cased replacements (tests use it too)."""
    words = text.split()
    for _ in range(rng.randrange(1, 4)):
        op = rng.randrange(4)
        if op == 0 and len(words) > 1:
            words.pop(rng.randrange(len(words)))
        elif op == 1:
            words.insert(rng.randrange(len(words) + 1), rng.choice(vocab))
        elif op == 2 and len(words) > 1:
            i = rng.randrange(len(words) - 1)
            words[i], words[i + 1] = words[i + 1], words[i]
        elif words:
            words[rng.randrange(len(words))] = rng.choice(vocab).upper()
    return " ".join(words)


def build(n: int, real: list[str], seed: int = 0) -> list[str]:
    """``n`` candidates: each real instruction once (shuffled), then perturbed copies of random ones."""
    rng = random.Random(seed)
    vocab = [w for t in real for w in t.split()]
    base = rng.sample(real, min(n, len(real)))
    return base + [perturb(rng.choice(real), rng, vocab) for _ in range(n - len(base))]


def ours(pool: list[str], candidates: list[str]) -> list[bool]:
    index = NoveltyIndex(0.7)
    index.extend(pool)
    keeps = []
    for text in candidates:
        keep = not index.too_similar(text)
        keeps.append(keep)
        if keep:
            index.add(text)
    return keeps


def reference(pool: list[str], candidates: list[str], threshold: float = 0.7) -> list[bool]:
    """Alpaca's loop: each candidate against every pool item with rouge_score's LCS scorer.

    ``RougeScorer(["rougeL"]).score(a, b)`` is ``_score_lcs(tokenize(a), tokenize(b))``; texts are
    tokenised once (as Alpaca does) with the scorer's own tokenizer. tests/test_filters.py uses it too.
    """
    from rouge_score import rouge_scorer

    scorer = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=False)
    tokens = [scorer._tokenizer.tokenize(p) for p in pool]
    keeps = []
    for text in candidates:
        new = scorer._tokenizer.tokenize(text)
        keep = all(rouge_scorer._score_lcs(new, p).fmeasure <= threshold for p in tokens)
        keeps.append(keep)
        if keep:
            tokens.append(new)
    return keeps


def timed(fn, *args):  # type: ignore[no-untyped-def]
    started = time.perf_counter()
    result = fn(*args)
    return result, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 2000, 5000, 10000])
    parser.add_argument("--reference-sizes", type=int, nargs="+", default=[1000, 2000, 5000])
    parser.add_argument("--max-words", type=int, default=40)
    args = parser.parse_args()
    pool, real = load_real(args.max_words)
    rows, identical = [], True
    print(f"{'n':>6} {'kept':>6} {'ours s':>9} {'reference s':>12} {'ratio':>8} identical")
    for n in args.sizes:
        candidates = build(n, real)
        keeps, ours_s = timed(ours, pool, candidates)
        row = {"n": n, "kept": sum(keeps), "ours_s": round(ours_s, 3)}
        if n in args.reference_sizes:
            expected, ref_s = timed(reference, pool, candidates)
            same = expected == keeps
            identical &= same
            row |= {"reference_s": round(ref_s, 3), "ratio": round(ref_s / ours_s, 1), "identical": same}
        rows.append(row)
        ref = f"{row['reference_s']:>12.2f} {row['ratio']:>8.1f} {row['identical']}" if "ratio" in row else " " * 12
        print(f"{n:>6} {row['kept']:>6} {ours_s:>9.2f} {ref}", flush=True)
    measured = [r for r in rows if "ratio" in r]
    last = measured[-1] if measured else {}
    summary = {"benchmark": "novelty_filter", "n": last.get("n"), "identical": identical and bool(measured)}
    print(json.dumps(summary | {"max_words": args.max_words, "rows": rows, "ratio": last.get("ratio")}))


if __name__ == "__main__":
    main()
