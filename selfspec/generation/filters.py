"""Instruction filters (docs/method.md step 3): pure decisions, one drop counter per filter.

Order matters only for the counts (an item is charged to the first filter that drops it); the
kept set is the same whatever the order, except that novelty is checked last because it is the
only stateful, costly one (kept items join its pool).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from selfspec.generation.novelty import NoveltyIndex, rouge_tokens
from selfspec.generation.records import Candidate

BLOCKLIST = (
    "image",
    "images",
    "graph",
    "graphs",
    "picture",
    "pictures",
    "file",
    "files",
    "map",
    "maps",
    "draw",
    "plot",
    "go to",
    "video",
    "audio",
    "music",
    "flowchart",
    "diagram",
)

FILTER_NAMES = ("word_count", "blocklist", "bad_start", "contamination", "duplicate", "novelty")


@dataclass(frozen=True)
class FilterSettings:
    """Which brainstormed instructions are kept (Alpaca / Self-Instruct filters).

    Args:
        min_words: Instructions with fewer words are dropped (the paper drops <= 3 words).
        max_words: Instructions with more words are dropped.
        blocklist: Words (whole words, any case) that mark a task a text model cannot do.
        rouge_threshold: Drop an instruction whose ROUGE-L F-measure against any seed or kept
            instruction exceeds this.
        ngram: Length of the word n-grams checked against the evaluation files (contamination of an
            instruction + input here; of a response when the dataset is assembled).
    """

    min_words: int = 4
    max_words: int = 150
    blocklist: tuple[str, ...] = BLOCKLIST
    rouge_threshold: float = 0.7
    ngram: int = 13  # the n-gram length of GPT-3's contamination analysis: long enough to be no coincidence


def word_count_ok(instruction: str, settings: FilterSettings) -> bool:
    return settings.min_words <= len(instruction.split()) <= settings.max_words


def blocklist_pattern(words: Iterable[str]) -> re.Pattern[str]:
    """One case-insensitive regex matching any blocked word or phrase as whole words."""
    return re.compile(r"\b(?:" + "|".join(re.escape(w) for w in words) + r")\b", re.IGNORECASE)


def starts_badly(instruction: str) -> bool:
    """Empty, or starting with punctuation or a non-ASCII character."""
    text = instruction.lstrip()
    # Alpaca's filter: a leading symbol is mostly list debris, a non-ASCII letter mostly another language.
    return not text or not text[0].isascii() or not text[0].isalnum()


def dedup_key(candidate: Candidate) -> str:
    # White space normalised, so a task retyped with other spacing is a duplicate; the NUL keeps
    # (instruction, input) pairs apart whose concatenations happen to be equal.
    return " ".join(candidate.instruction.split()) + "\x00" + " ".join(candidate.input.split())


def ngrams(text: str, n: int) -> set[tuple[str, ...]]:
    """Word n-grams of the normalised text (rouge tokens: lowercase alphanumerics)."""
    tokens = rouge_tokens(text)
    return {tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1)}


def contaminated(text: str, eval_ngrams: set[tuple[str, ...]], n: int) -> bool:
    """``text`` shares a word n-gram with the evaluation files (their n-grams: ``eval_ngrams``)."""
    # Without evaluation files there is nothing to leak into: skip tokenising the text.
    return bool(eval_ngrams) and not ngrams(text, n).isdisjoint(eval_ngrams)


class InstructionFilter:
    """Stateful filter over a stream of candidates; ``counts`` says how many each filter dropped.

    Args:
        settings: Filter thresholds.
        pool: Instructions a candidate must be novel against (the seeds); kept ones join it.
        eval_ngrams: n-grams of the evaluation files; a candidate sharing one is dropped.
    """

    def __init__(self, settings: FilterSettings, pool: Iterable[str], eval_ngrams: set[tuple[str, ...]]) -> None:
        self.settings = settings
        self.blocked = blocklist_pattern(settings.blocklist) if settings.blocklist else None
        self.novelty = NoveltyIndex(settings.rouge_threshold)
        self.novelty.extend(pool)
        self.eval_ngrams = eval_ngrams
        self.seen: set[str] = set()
        self.counts = dict.fromkeys(FILTER_NAMES, 0)

    def reason_to_drop(self, candidate: Candidate) -> str | None:
        """The first filter that rejects ``candidate``, or None (then it is kept and joins the pool)."""
        # The cheap filters that need no pool go first. The order also decides under which filter an item
        # that fails several is counted in the funnel, so it is fixed.
        reason = self._stateless_reason(candidate)
        if reason is None and dedup_key(candidate) in self.seen:
            reason = "duplicate"
        if reason is None and self.novelty.too_similar(candidate.instruction):
            reason = "novelty"
        if reason is not None:
            self.counts[reason] += 1
            return reason
        # Only a kept item joins the pool: a dropped one must not make a later item look like a copy.
        self.seen.add(dedup_key(candidate))
        self.novelty.add(candidate.instruction)
        return None

    def _stateless_reason(self, candidate: Candidate) -> str | None:
        if not word_count_ok(candidate.instruction, self.settings):
            return "word_count"
        if self.blocked is not None and self.blocked.search(candidate.instruction):
            return "blocklist"
        if starts_badly(candidate.instruction):
            return "bad_start"
        if contaminated(f"{candidate.instruction} {candidate.input}", self.eval_ngrams, self.settings.ngram):
            return "contamination"
        return None
