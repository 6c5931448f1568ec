"""SQuAD-style answer normalisation and gold-answer expansion: pure text functions."""

from __future__ import annotations

import re
import string
from collections.abc import Iterable

_PUNCTUATION = frozenset(string.punctuation)  # ASCII only, as SQuAD's script: "–" or "’" stay
_ARTICLES = re.compile(r"\b(a|an|the)\b")
GOLD_SEPARATOR = ", "


def normalize_answer(text: str) -> str:
    """Lowercase, drop ASCII punctuation and the articles a/an/the, collapse white space (SQuAD v1.1 order)."""
    text = "".join(ch for ch in text.lower() if ch not in _PUNCTUATION)
    # Articles after punctuation, as SQuAD does: "(the)" loses its parentheses first, then "the".
    return " ".join(_ARTICLES.sub(" ", text).split())


def answer_tokens(text: str) -> list[str]:
    """The tokens token-F1 counts: white-space split of the normalised text."""
    return normalize_answer(text).split()


def expand_golds(answers: Iterable[str]) -> list[str]:
    """Every gold answer: each string, and each part of a string listing several answers with ", ".

    The whole string stays a gold answer too, so a prediction that lists every answer (as an
    NER or relation task asks) still scores 1. Order is kept and duplicates are dropped.
    """
    golds: list[str] = []
    for answer in answers:
        parts = [answer, *answer.split(GOLD_SEPARATOR)] if GOLD_SEPARATOR in answer else [answer]
        for part in parts:
            if part.strip() and part not in golds:  # a list so the order stays; golds are few
                golds.append(part)
    return golds
