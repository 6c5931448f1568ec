"""The tiny world's tokenizer: byte-level BPE (no unknown token, ever) trained on the world's text.

The vocabulary is large enough that every invented name and prompt-template word is one token,
which is what lets a 4-layer model copy a name from a passage in one step.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerFast


def train_tokenizer(texts: Iterable[str], vocab_size: int) -> PreTrainedTokenizerFast:
    """Byte-level BPE over ``texts`` (pairs seen at least twice); BOS is prepended to every encoding."""
    from selfspec.modeling.builtin import train_bpe_tokenizer

    return train_bpe_tokenizer(texts, vocab_size, min_frequency=2)
