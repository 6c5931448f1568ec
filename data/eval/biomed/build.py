"""Rebuild the biomedical demo data from the converted benchmark files (see PROVENANCE.md here).

    python data/eval/biomed/build.py ../shared/data/biomed

Deterministic: the same source files give byte-identical outputs. PubMedQA PQA-L (500 labelled
items outside the official test split) is shuffled once with a fixed seed and cut into the table's
test slice, a dev slice for choosing settings, a demonstration pool, and the rest, whose abstracts
(without question or label) become the BM25 retrieval corpus ``data/corpus/pubmedqa_abstracts.jsonl``.
NCBI disease: the test slice from the test split; the dev slice and the demonstration pool from the
dev split (disjoint). Not imported by selfspec.
"""

from __future__ import annotations

import json
import random
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
CORPUS = HERE.parent.parent / "corpus" / "pubmedqa_abstracts.jsonl"
SEED = 14
SIZES = {"test": 100, "dev": 50, "demos": 8}
CORPUS_SIZE = 200  # abstracts; the other 142 left over stay unshipped to keep the repository small


def read(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def write(path: Path, rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")


def cut(rows: list[dict], sizes: dict[str, int]) -> tuple[dict[str, list[dict]], list[dict]]:
    """Consecutive slices of a seeded shuffle, and what is left."""
    rows = rows[:]
    random.Random(SEED).shuffle(rows)
    out, start = {}, 0
    for name, n in sizes.items():
        out[name], start = rows[start : start + n], start + n
    return out, rows[start:]


def abstract(row: dict) -> dict:
    text = row["input"].removeprefix("Abstract: ").rsplit("\nQuestion: ", 1)[0]
    return {"id": f"pubmed-{row['id']}", "text": text}


def main(source: Path) -> None:
    pubmedqa, rest = cut(read(source / "pubmedqa_pqal_dev.jsonl"), SIZES)
    for name, rows in pubmedqa.items():
        write(HERE / f"pubmedqa_{name}.jsonl", rows)
    write(CORPUS, [abstract(r) for r in rest[:CORPUS_SIZE]])
    test, _ = cut(read(source / "ncbi_disease_test.jsonl"), {"test": SIZES["test"]})
    dev, _ = cut(read(source / "ncbi_disease_dev.jsonl"), {"dev": SIZES["dev"], "demos": SIZES["demos"]})
    for name, rows in {**test, **dev}.items():
        write(HERE / f"ncbi_disease_{name}.jsonl", rows)


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else HERE.parents[3] / "shared" / "data" / "biomed")
