"""Response prompts (docs/method.md steps 4-5): role preamble, seed demonstrations, optional passages.

Pure text functions. Demonstrations are separated by ``SEPARATOR``; generation stops at its first
line, so the model answers exactly one task. Demonstrations are chosen per *group* of consecutive
items with an RNG seeded by (seed, group), so an item's prompt depends on its index and the group
size only, never on which other items exist. ``group_size=1`` (the default) is the paper's
per-item choice; with ``ResponseSettings.shared_demonstrations`` a group is a generation batch,
whose prompts then begin with the same preamble and demonstrations and ``BatchGenerator``
computes that prefix's KV cache once (on a CPU the prompt dominates the cost).
"""

from __future__ import annotations

import random
from collections.abc import Sequence

from selfspec.errors import ConfigError
from selfspec.seeds import Seed

# '###' between the demonstrations and before the open task (the Self-Instruct layout); stopping
# at it ends the answer before the model starts writing another task of its own.
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
    # Each passage on one line: its own blank lines or "###" lines would read as the end of the task.
    numbered = "\n".join(f"[{i}] {' '.join(p.split())}" for i, p in enumerate(passages, start=1))
    return f"Background knowledge:\n{numbered}\n\n"


def render_response_prompt(
    preamble: str, demos: Sequence[Seed], instruction: str, input: str, passages: Sequence[str] = ()
) -> str:
    """Preamble, the demonstrations with their outputs, then the task to answer (after any passages)."""
    blocks = [render_task(d.instruction, d.input, d.output) for d in demos]
    query = (render_passages(passages) if passages else "") + render_task(instruction, input)
    return preamble.rstrip() + "\n\n" + SEPARATOR.join([*blocks, query])


def pick_demonstrations(seeds: Sequence[Seed], k: int, seed: int, item: int, group_size: int = 1) -> list[Seed]:
    """``k`` distinct seeds for item ``item``, shared by its group of ``group_size`` items; pure in (seed, group)."""
    if len(seeds) < k:
        raise ConfigError(
            f"{len(seeds)} seeds cannot give {k} demonstrations per response; add seeds or lower "
            "--data.generation.responses.demonstrations"
        )
    # A string seed: random.Random hashes it itself (sha512), the same in every process, whereas
    # Python's hash() of a str differs between processes.
    return random.Random(f"{seed}-response-{item // group_size}").sample(list(seeds), k)


def demonstration_groups(indices: range, group_size: int) -> list[range]:
    """``indices`` cut where the demonstration group changes (item // group_size), in order."""
    # A chunk need not begin on a group boundary: its first index opens a (partial) group.
    starts = [i for i in indices if i == indices.start or i % group_size == 0]
    if not starts:
        return []
    return [range(a, b) for a, b in zip(starts, [*starts[1:], indices.stop], strict=True)]


def clean_response(text: str) -> str:
    # Only the surrounding white space goes: the answer is trained on as the model wrote it.
    return text.strip()
