"""Instruction brainstorming (docs/method.md step 2): render the enumerated-list prompt, parse the continuation.

Both are pure. The prompt lists ``k`` seed tasks as ``<n>. Instruction: ...`` / ``Input: ...`` and
ends with ``<k+1>. Instruction:``; the model continues the list. With grounding (beyond the paper,
``BrainstormSettings.grounding_passages``) a ``Passages:`` block of domain-corpus passages sits
between the preamble and the list, so the model can write tasks about what they name. Parsing never
raises: what it cannot read is returned as raw text, and the last item is dropped when the model ran
out of tokens in the middle of it. A small model pads items with junk, so an item's input ends at
its first blank line or at the first line that opens another field (``4. Output: ...``, a second
``5. Input: ...``) and loses a short last line ending in ':' ("And another:"); an input that
starts with ``<noinput>`` is empty whatever follows it, and an instruction ends at a field line
too (``Output:`` written before ``Input:``).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from selfspec.generation.records import Candidate
from selfspec.seeds import Seed

NO_INPUT = "<noinput>"
_ITEM = re.compile(r"(?m)^[ \t]*\d+[.)][ \t]*Instruction:")
_INPUT = re.compile(r"(?m)^[ \t]*(?:\d+[.)][ \t]*)?Input:")
# A line opening another field ends the text before it; so does a blank line, for inputs.
_FIELD_LINE = re.compile(r"(?mi)^[ \t]*(?:\d+[.)][ \t]*)?(?:Output|Input|Instruction|Response|Answer)[ \t]*:")
_BLANK_LINE = re.compile(r"\n[ \t]*\n")
# A short last line ending in a colon ("And another:", "Here is the next task:") announces more items.
_CHATTER_TAIL = re.compile(r"\n[ \t]*(?:\S+[ \t]+){0,5}\S*:[ \t]*$")


@dataclass(frozen=True)
class Parsed:
    """What one continuation held: readable items, unreadable chunks, and whether the last was cut."""

    items: list[Candidate] = field(default_factory=list)
    unparsed: list[str] = field(default_factory=list)
    truncated: bool = False


def render_item(number: int, instruction: str, input: str) -> str:
    return f"{number}. Instruction: {instruction.strip()}\n{number}. Input: {input.strip() or NO_INPUT}"


def render_grounding(passages: Sequence[str]) -> str:
    """``Passages:`` then one numbered passage per line (white space collapsed); empty without passages."""
    if not passages:
        return ""
    return "Passages:\n" + "\n".join(f"[{i}] {' '.join(p.split())}" for i, p in enumerate(passages, start=1))


def render_brainstorm_prompt(preamble: str, seeds: Sequence[Seed], passages: Sequence[str] = ()) -> str:
    """Preamble, any grounding passages, the seeds as items 1..k, then the open item k+1 for the model."""
    items = "\n\n".join(render_item(n, s.instruction, s.input) for n, s in enumerate(seeds, start=1))
    grounding = render_grounding(passages)
    head = f"{preamble.rstrip()}\n\n{grounding}\n\n" if grounding else f"{preamble.rstrip()}\n\n"
    return f"{head}{items}\n\n{len(seeds) + 1}. Instruction:"


def parse_continuation(text: str, hit_token_limit: bool) -> Parsed:
    """Items written after the prompt's open ``Instruction:``; the last one is dropped if cut off."""
    chunks = _ITEM.split(text)  # chunk 0 continues the prompt's open item
    # Only a continuation that hit the token limit can end inside an item. Its last chunk is then
    # dropped even when it looks whole: its input may have been cut.
    truncated = hit_token_limit and bool(chunks)
    if truncated:
        chunks = chunks[:-1]
    items, unparsed = [], []
    for chunk in chunks:
        candidate = parse_item(chunk)
        if candidate is None:
            if chunk.strip():
                unparsed.append(chunk)
        else:
            items.append(candidate)
    return Parsed(items, unparsed, truncated)


def parse_item(chunk: str) -> Candidate | None:
    """``<instruction>\\n<n>. Input: <input>`` -> Candidate, or None when there is no input line or instruction.

    Text after the item's fields (other fields, chatter after a blank line or on a last short line
    ending in ':') is not part of it.
    """
    parts = _INPUT.split(chunk, maxsplit=1)
    if len(parts) != 2:
        return None
    instruction = " ".join(_before(_FIELD_LINE, parts[0]).split())
    input = _before(_FIELD_LINE, _before(_BLANK_LINE, parts[1].lstrip(" \t\n"))).rstrip()
    input = _CHATTER_TAIL.sub("", input).strip()
    if not instruction:
        return None
    return Candidate(instruction, "" if input.startswith(NO_INPUT) else input)


def _before(pattern: re.Pattern[str], text: str) -> str:
    """``text`` up to the first match of ``pattern`` (all of it when there is none)."""
    match = pattern.search(text)
    return text if match is None else text[: match.start()]
