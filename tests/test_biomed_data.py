"""The shipped biomedical demo data: suites load, slices are disjoint, build.py reproduces them."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from selfspec.evaluation.suite import load_suite

REPO = Path(__file__).resolve().parents[1]
BIOMED = REPO / "data" / "eval" / "biomed"
CORPUS = REPO / "data" / "corpus" / "pubmedqa_abstracts.jsonl"
SHARED = REPO.parent / "shared" / "data" / "biomed"


def _rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def _grams(text: str, n: int = 13) -> set[tuple[str, ...]]:
    words = re.findall(r"\w+", text.lower())
    return {tuple(words[i : i + n]) for i in range(len(words) - n + 1)}


def test_table_and_dev_suites_score_disjoint_items_with_their_own_demonstration_pools() -> None:
    table, dev = load_suite(BIOMED / "suite.yaml"), load_suite(BIOMED / "dev_suite.yaml")
    assert [(t.name, t.kind, len(t.records), len(t.demos)) for t in table] == [
        ("pubmedqa", "label", 40, 8),  # limit: 40 of the file's 100 (the README run's 15-minute budget)
        ("ncbi_disease", "extraction", 40, 8),
    ]
    assert table[0].labels == ("yes", "no", "maybe") and [len(t.records) for t in dev] == [50, 50]
    for a, b in zip(table, dev, strict=True):
        ids = [{r.id for r in records} for records in (a.records, b.records, a.demos)]
        assert not ids[0] & ids[1] and not ids[0] & ids[2] and not ids[1] & ids[2]


def test_no_evaluation_item_shares_a_13_gram_with_the_corpus_the_seeds_or_another_slice() -> None:
    files = sorted(BIOMED.glob("*.jsonl"))
    grams = {f.name: set().union(*(_grams(r["input"]) for r in _rows(f))) for f in files}
    corpus = set().union(*(_grams(r["text"]) for r in _rows(CORPUS)))
    seeds = set().union(
        *(
            _grams(f"{s['instruction']} {s['input']} {s['output']}")
            for s in _rows(REPO / "data/seeds/biomedicine.jsonl")
        )
    )
    for name, found in grams.items():
        assert not found & corpus and not found & seeds, name
        assert all(not found & grams[other] for other in grams if other != name), name


def test_shipped_files_stay_small() -> None:
    sizes = [f.stat().st_size for f in [*BIOMED.glob("*.jsonl"), CORPUS]]
    assert sum(sizes) < 600_000


@pytest.mark.skipif(not SHARED.is_dir(), reason=f"the converted benchmark files are not at {SHARED}")
def test_build_reproduces_the_shipped_files(tmp_path: Path) -> None:
    before = {f: f.read_bytes() for f in [*BIOMED.glob("*.jsonl"), CORPUS]}
    subprocess.run([sys.executable, str(BIOMED / "build.py"), str(SHARED)], check=True)
    assert {f: f.read_bytes() for f in before} == before
