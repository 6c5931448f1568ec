"""Knowledge infusion (docs/method.md step 5): BM25 over a domain corpus with bm25s, index cached by content.

A corpus is a JSONL file (``{"id"?, "text"}`` per line; ``title`` + ``abstract`` also work), a text
file or folder of text files (one passage per non-empty paragraph), or a dataset saved with
``datasets.save_to_disk`` (a ``text`` column). The index is built once and kept under
``<cache_dir>/bm25/<corpus hash>/``.
"""

from __future__ import annotations

import json
import logging
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from selfspec.errors import ConfigError
from selfspec.fingerprints import content_hash

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Passage:
    id: str
    text: str


@dataclass(frozen=True)
class Hit:
    id: str
    score: float
    text: str


def load_corpus(path: str | Path) -> list[Passage]:
    """Passages of the corpus at ``path``; a missing or empty corpus is a ConfigError naming the flag."""
    path = Path(path)
    if not path.exists():
        raise ConfigError(f"--data.generation.retrieval_corpus={str(path)!r}: no such file or directory")
    if path.is_dir() and (path / "dataset_info.json").is_file():  # what save_to_disk writes; checked before *.txt
        passages = _from_hf_dataset(path)
    elif path.is_dir():
        passages = [p for f in sorted(path.rglob("*.txt")) for p in _from_text(f)]  # sorted: ids stable everywhere
    elif path.suffix == ".jsonl":
        passages = _from_jsonl(path)
    else:
        passages = _from_text(path)
    if not passages:
        raise ConfigError(f"--data.generation.retrieval_corpus={str(path)!r}: no passages found")
    return passages


def _from_jsonl(path: Path) -> list[Passage]:
    passages = []
    for line_no, line in enumerate(_read_text(path).splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as err:
            raise ConfigError(f"{path}:{line_no}: json: {err.msg} (column {err.colno})") from None
        if not isinstance(row, dict):
            raise ConfigError(f"{path}:{line_no}: record: expected a JSON object with a `text` string")
        # PubMed dumps have title + abstract and no text; a given text wins.
        parts = [row.get(k) for k in ("text",)] if "text" in row else [row.get("title"), row.get("abstract")]
        if any(p is not None and not isinstance(p, str) for p in parts):
            raise ConfigError(f"{path}:{line_no}: text: expected a string")
        text = " ".join(p for p in parts if p)
        if not text.strip():
            raise ConfigError(f"{path}:{line_no}: text: missing or empty (give `text`, or `title`/`abstract`)")
        passages.append(Passage(str(row.get("id", f"{path.name}:{line_no}")), text))
    return passages


def _from_text(path: Path) -> list[Passage]:
    paragraphs = _read_text(path).split("\n\n")  # a blank line ends a passage; wrapped lines stay together
    return [Passage(f"{path.name}:{i}", p.strip()) for i, p in enumerate(paragraphs) if p.strip()]


def _read_text(path: Path) -> str:
    data = path.read_bytes()
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as err:
        line = data.count(b"\n", 0, err.start) + 1
        raise ConfigError(f"{path}:{line}: encoding: not valid UTF-8; save the corpus as UTF-8") from None


def _from_hf_dataset(path: Path) -> list[Passage]:
    from datasets import load_from_disk

    dataset = load_from_disk(str(path))
    if "text" not in dataset.column_names:
        raise ConfigError(f"--data.generation.retrieval_corpus={str(path)!r}: the dataset has no `text` column")
    ids = dataset["id"] if "id" in dataset.column_names else [str(i) for i in range(len(dataset))]
    return [Passage(str(i), t) for i, t in zip(ids, dataset["text"], strict=True) if t]


class Retriever:
    """BM25 top-k search over one corpus (English stop words removed).

    Args:
        corpus_path: The corpus (see the module docstring).
        cache_dir: Where indices are kept, one folder per corpus content hash.
        passages: ``load_corpus(corpus_path)`` when the caller already has it (read once per run).
        corpus_hash: ``content_hash(corpus_path)`` when the caller already has it (hashed once per run).
    """

    def __init__(
        self,
        corpus_path: str | Path,
        cache_dir: str | Path,
        passages: list[Passage] | None = None,
        corpus_hash: str | None = None,
    ) -> None:
        import bm25s

        self.passages = load_corpus(corpus_path) if passages is None else passages
        # 16 hex digits (64 bits): ample for the few corpora of one cache, and a short folder name.
        index_dir = Path(cache_dir) / "bm25" / (corpus_hash or content_hash(corpus_path))[:16]
        if (index_dir / "params.index.json").is_file():  # the folder is renamed into place whole: present = complete
            self.index = bm25s.BM25.load(str(index_dir))
        else:
            log.info("retrieval: indexing %d passages of %s", len(self.passages), corpus_path)
            self.index = bm25s.BM25()
            tokens = bm25s.tokenize([p.text for p in self.passages], stopwords="en", show_progress=False)
            self.index.index(tokens, show_progress=False)  # a tqdm bar is noise in a log file
            _save_atomically(self.index, index_dir)

    def search(self, queries: Sequence[str], k: int) -> list[list[Hit]]:
        """The ``k`` best passages per query (fewer when the corpus is smaller), best first."""
        import bm25s

        # bm25s cannot return more passages than the corpus has.
        k = min(k, len(self.passages))
        tokens = bm25s.tokenize(list(queries), stopwords="en", show_progress=False)
        # One thread: bm25s's pool would compete with torch's threads in the same generation step.
        docs, scores = self.index.retrieve(tokens, k=k, show_progress=False, n_threads=1)
        return [
            [
                # Rounded: the score is written into data.jsonl, whose bytes must not vary in the last float bits.
                Hit(self.passages[d].id, round(float(s), 6), self.passages[d].text)
                for d, s in zip(row, srow, strict=True)
            ]
            for row, srow in zip(docs.tolist(), scores.tolist(), strict=True)
        ]


def _save_atomically(index: object, index_dir: Path) -> None:
    # bm25s writes several files; write them into a temporary folder and rename it into place.
    index_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".bm25-", dir=index_dir.parent))
    index.save(str(tmp))  # type: ignore[attr-defined]
    try:
        tmp.rename(index_dir)
    except OSError:  # another process finished first: keep theirs
        shutil.rmtree(tmp, ignore_errors=True)
