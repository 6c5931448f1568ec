"""Response prompts (METHOD steps 4-5): role preamble, seed demonstrations, optional passages.

Pure text functions. Demonstrations are separated by ``SEPARATOR``; generation stops at its first
line, so the model answers exactly one task. Demonstrations are chosen per item with an RNG seeded
by (seed, item index), so an item's prompt never depends on which other items exist.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

from selfspec.errors import ConfigError
from selfspec.seeds import Seed

SEPARATOR = "\n\n###\n\n"
STOP = ("###",)


def render_task(instruction: str, input: str, output: str | None = None) -> str:
    """One task block; ``output=None`` leaves the ``Output:`` slot open for the model."""
    lines = [f"Instruction: {instruction.strip()}"]
    if input.strip():
        lines.append(f"Input: {input.strip()}")
    lines.append("Output:" if output is None else f"Output: {output.strip()}")
    return "\n".join(lines)


def render_passages(passages: Sequence[str]) -> str:
    numbered = "\n".join(f"[{i}] {' '.join(p.split())}" for i, p in enumerate(passages, start=1))
    return f"Background knowledge:\n{numbered}\n\n"


def render_response_prompt(
    preamble: str, demos: Sequence[Seed], instruction: str, input: str, passages: Sequence[str] = ()
) -> str:
    """Preamble, the demonstrations with their outputs, then the task to answer (after any passages)."""
    blocks = [render_task(d.instruction, d.input, d.output) for d in demos]
    query = (render_passages(passages) if passages else "") + render_task(instruction, input)
    return preamble.rstrip() + "\n\n" + SEPARATOR.join([*blocks, query])


def pick_demonstrations(seeds: Sequence[Seed], k: int, seed: int, item: int) -> list[Seed]:
    """``k`` distinct seeds for item ``item``, a pure function of (seed, item)."""
    if len(seeds) < k:
        raise ConfigError(
            f"{len(seeds)} seeds cannot give {k} demonstrations per response; add seeds or lower "
            "--data.responses.demonstrations"
        )
    return random.Random(f"{seed}-response-{item}").sample(list(seeds), k)


def clean_response(text: str) -> str:
    return text.strip()
