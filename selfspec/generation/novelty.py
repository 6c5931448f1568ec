"""ROUGE-L novelty filter: the same keep/drop decisions as ``rouge_score``, much faster.

The reference (Self-Instruct / Alpaca) scores every candidate against every instruction in the
pool with ``RougeScorer(["rougeL"]).score`` and drops it when any F-measure exceeds 0.7. That is
O(pool) pure-Python LCS tables per candidate. Here:

* text is tokenised exactly like rouge_score's default tokenizer (no stemming) and mapped to ints;
* an inverted index gives, for the whole pool at once (numpy), the multiset overlap of each pool
  item with the candidate; LCS <= overlap, so ``2 * overlap / (m + n)`` bounds the F-measure from
  above and rules out almost every pool item without any LCS;
* the few survivors get an exact bit-parallel LCS (Hyyrö 2004), and their F-measure is computed with
  the very float operations rouge_score uses, so a score on the 0.7 boundary decides the same way.
"""

from __future__ import annotations

import re
from array import array
from collections import Counter
from collections.abc import Iterable

import numpy as np

_NON_ALNUM = re.compile(r"[^a-z0-9]+")
_SPACES = re.compile(r"\s+")
_VALID = re.compile(r"^[a-z0-9]+$")
# The bound is compared with a margin so that float rounding in it can never skip a pool item
# whose exact F-measure is above the threshold; the exact check below decides.
_BOUND_MARGIN = 1e-9


def rouge_tokens(text: str) -> list[str]:
    """rouge_score's default tokenizer without stemming: lowercase, non-[a-z0-9] runs to spaces, split."""
    tokens = _SPACES.split(_NON_ALNUM.sub(" ", text.lower()))
    return [t for t in tokens if _VALID.match(t)]


def lcs_length(a: list[int], b: list[int]) -> int:
    """Length of the longest common subsequence, bit-parallel over ``a`` (one big-int step per item of ``b``)."""
    if not a or not b:
        return 0
    masks: dict[int, int] = {}
    for i, token in enumerate(a):
        masks[token] = masks.get(token, 0) | (1 << i)
    full = (1 << len(a)) - 1
    v = full  # one bit per item of a; a zero bit marks a match on the current LCS (Hyyrö's row vector)
    for token in b:
        u = v & masks.get(token, 0)
        v = ((v + u) | (v - u)) & full  # the carry of v + u moves each match to the leftmost usable position
    return len(a) - v.bit_count()


def rouge_l_f(lcs: int, target_len: int, prediction_len: int) -> float:
    """F-measure with rouge_score's exact float operations (precision, recall, then 2PR/(P+R))."""
    if not target_len or not prediction_len:
        return 0.0
    precision = lcs / prediction_len
    recall = lcs / target_len
    return 2 * precision * recall / (precision + recall) if precision + recall > 0 else 0.0


class NoveltyIndex:
    """A growing pool of instructions; ``too_similar`` asks whether a candidate's ROUGE-L F > threshold.

    Args:
        threshold: A candidate is too similar when its F-measure against any pool item exceeds this.
    """

    def __init__(self, threshold: float = 0.7) -> None:
        self.threshold = threshold
        self.vocab: dict[str, int] = {}
        self.items: list[list[int]] = []
        self.lengths = array("i")  # int32 array, viewed by numpy without a copy in too_similar
        # token id -> (pool item ids, count of the token in that item), appended as items arrive
        self.postings_items: list[array] = []
        self.postings_counts: list[array] = []

    def __len__(self) -> int:
        return len(self.items)

    def _ids(self, text: str, grow: bool) -> list[int]:
        ids = []
        for token in rouge_tokens(text):
            if token not in self.vocab:
                if not grow:
                    ids.append(-1)  # unseen token: matches nothing in the pool
                    continue
                self.vocab[token] = len(self.vocab)
                self.postings_items.append(array("i"))
                self.postings_counts.append(array("i"))
            ids.append(self.vocab[token])
        return ids

    def add(self, text: str) -> None:
        """Put ``text`` into the pool."""
        ids = self._ids(text, grow=True)
        item = len(self.items)
        self.items.append(ids)
        self.lengths.append(len(ids))
        for token, count in Counter(ids).items():
            self.postings_items[token].append(item)
            self.postings_counts[token].append(count)

    def extend(self, texts: Iterable[str]) -> None:
        for text in texts:
            self.add(text)

    def too_similar(self, text: str) -> bool:
        """True when some pool item has ROUGE-L F-measure > threshold with ``text``."""
        # grow=False: a candidate's unseen tokens match no pool item; adding them to the vocabulary would
        # only grow the index for a text that may be dropped.
        ids = self._ids(text, grow=False)
        if not ids or not self.items:
            return False
        overlap = self._overlaps(Counter(t for t in ids if t >= 0))
        lengths = np.frombuffer(self.lengths, dtype=np.int32)
        # Upper bound of each pool item's F-measure, shape (pool,); clip: an empty pool item must not divide by 0.
        bound = 2.0 * overlap / (lengths + len(ids)).clip(min=1)
        for item in np.flatnonzero(bound > self.threshold - _BOUND_MARGIN).tolist():
            pool_ids = self.items[item]
            if rouge_l_f(lcs_length(ids, pool_ids), len(ids), len(pool_ids)) > self.threshold:
                return True
        return False

    def _overlaps(self, counts: Counter[int]) -> np.ndarray:
        """Multiset overlap sum_t min(count_candidate(t), count_item(t)) for every pool item. (pool,)"""
        overlap = np.zeros(len(self.items), dtype=np.int32)
        for token, count in counts.items():
            items = np.frombuffer(self.postings_items[token], dtype=np.int32)
            item_counts = np.frombuffer(self.postings_counts[token], dtype=np.int32)
            overlap[items] += np.minimum(item_counts, count)
        return overlap
