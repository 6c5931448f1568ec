"""The records one generation stage writes and the next reads, with their one reader and writer.

Stage by stage (``docs/method.md`` steps 2-5):

- ``BrainstormRound``: one brainstorm round, ``prompts_per_round`` ``BrainstormedPrompt`` rows (what was
  shown, the raw sample, the parsed items). The filter replay reads these back.
- kept instructions (``instructions.jsonl``): ``Candidate`` rows, in the order the filters kept them.
- ``ResponseChunk``: the ``Response`` rows of one slice of the kept instructions.
- ``Example`` (``data.jsonl``): a finished training example.

The records are frozen dataclasses; ``to_json`` writes the very dicts earlier versions wrote (the
cache keeps its bytes), and ``read_record`` / ``read_rows`` turn a missing or renamed field into an
error that names the file and the field, instead of a ``KeyError`` on the next resume. The layout is
versioned by ``FORMAT_VERSION``, which enters every cache fingerprint: a folder of the cache only ever
holds records of the version in its name, so the shards themselves carry no version field.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Protocol, Self, TypeVar

from selfspec.errors import SelfSpecError
from selfspec.io import atomic_write_json, atomic_write_text

# Bump when the prompt layout, a record's fields or what a stage keeps changes.
# 2: model directories by content, batch size in the key, responses checked for contamination.
FORMAT_VERSION = 2


class RecordError(SelfSpecError):
    """A cached record lacks a field or has one of the wrong type: the file and the field are named."""


@dataclass(frozen=True)
class Candidate:
    """A brainstormed task (instruction + optional input), parsed; the filters keep or drop it."""

    instruction: str
    input: str

    def to_json(self) -> dict[str, Any]:
        return {"instruction": self.instruction, "input": self.input}

    @classmethod
    def from_json(cls, row: dict[str, Any]) -> Self:
        return cls(row["instruction"], row["input"])


@dataclass(frozen=True)
class BrainstormedPrompt:
    """One brainstorm prompt of a round and what the model wrote for it.

    Args:
        seed_ids: The seeds shown, in prompt order.
        sample_seed: The sampling seed of this prompt (derived from the run seed, round and position).
        raw: The model's continuation, as generated (kept so an unreadable sample can be inspected).
        new_tokens: Tokens generated; equal to ``max_new_tokens`` when the model was cut off.
        truncated: Whether the last item was dropped because the token limit cut it.
        items: The parsed ``(instruction, input)`` pairs, in order.
        unparsed: Pieces of ``raw`` that did not parse as an item.
        passage_ids: Corpus passages shown before the seeds; ``None`` when grounding is off (the field is
            then absent from the file, as before grounding existed).
    """

    seed_ids: list[str]
    sample_seed: int
    raw: str
    new_tokens: int
    truncated: bool
    items: list[tuple[str, str]]
    unparsed: list[str]
    passage_ids: list[str] | None = None

    def to_json(self) -> dict[str, Any]:
        row = asdict(self)
        row["items"] = [list(item) for item in self.items]  # JSON has no tuples; lists are what old shards hold
        if self.passage_ids is None:
            del row["passage_ids"]
        return row

    @classmethod
    def from_json(cls, row: dict[str, Any]) -> Self:
        items = [(instruction, input) for instruction, input in row["items"]]  # unpacking checks each is a pair
        return cls(
            row["seed_ids"], row["sample_seed"], row["raw"], row["new_tokens"], row["truncated"], items,
            row["unparsed"], row.get("passage_ids"),
        )  # fmt: skip

    @property
    def candidates(self) -> list[Candidate]:
        return [Candidate(instruction, input) for instruction, input in self.items]


@dataclass(frozen=True)
class BrainstormRound:
    """Brainstorm round ``round``: the unit of work, caching and resume of the instruction stage."""

    round: int
    prompts: list[BrainstormedPrompt]

    def to_json(self) -> dict[str, Any]:
        return {"round": self.round, "prompts": [p.to_json() for p in self.prompts]}

    @classmethod
    def from_json(cls, row: dict[str, Any]) -> Self:
        return cls(row["round"], [BrainstormedPrompt.from_json(p) for p in row["prompts"]])


@dataclass(frozen=True)
class PassageRef:
    """A retrieved passage as a response row keeps it: its corpus id and BM25 score (not its text)."""

    id: str
    score: float


@dataclass(frozen=True)
class Response:
    """The answer to kept instruction number ``index``.

    Args:
        index: Position in the kept instructions (fixes the example id ``gen-<index>``).
        instruction: The instruction answered.
        input: Its input (may be empty).
        output: The cleaned response; empty when the model wrote nothing usable.
        raw: The response as generated.
        passages: The passages shown in the prompt, best first.
    """

    index: int
    instruction: str
    input: str
    output: str
    raw: str
    passages: list[PassageRef]

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, row: dict[str, Any]) -> Self:
        passages = [PassageRef(p["id"], p["score"]) for p in row["passages"]]
        return cls(row["index"], row["instruction"], row["input"], row["output"], row["raw"], passages)


@dataclass(frozen=True)
class ResponseChunk:
    """Response chunk ``chunk``: a fixed slice of the kept instructions, answered greedily."""

    chunk: int
    rows: list[Response]

    def to_json(self) -> dict[str, Any]:
        return {"chunk": self.chunk, "rows": [r.to_json() for r in self.rows]}

    @classmethod
    def from_json(cls, row: dict[str, Any]) -> Self:
        return cls(row["chunk"], [Response.from_json(r) for r in row["rows"]])


@dataclass(frozen=True)
class Example:
    """A finished training example, one line of ``data.jsonl``."""

    id: str
    instruction: str
    input: str
    output: str
    passages: list[PassageRef]

    @classmethod
    def of(cls, response: Response) -> Self:
        # Six digits keep the ids in file order when sorted as text (up to a million examples).
        return cls(
            f"gen-{response.index:06d}", response.instruction, response.input, response.output, response.passages
        )

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, row: dict[str, Any]) -> Self:
        passages = [PassageRef(p["id"], p["score"]) for p in row["passages"]]
        return cls(row["id"], row["instruction"], row["input"], row["output"], passages)


class Record(Protocol):
    def to_json(self) -> dict[str, Any]: ...


R = TypeVar("R")
Parse = Callable[[dict[str, Any]], R]  # a record's ``from_json``


def write_record(path: Path, record: Record) -> None:
    """One record as a pretty, key-sorted JSON file, written atomically (a shard of the cache)."""
    atomic_write_json(path, record.to_json())


def read_record(path: Path, parse: Parse[R]) -> R | None:
    """The record in ``path`` (``parse``: its class's ``from_json``), or ``None`` when the file is not
    there (the unit is then generated)."""
    if not path.is_file():
        return None
    return _parse(path, parse, json.loads(path.read_text(encoding="utf-8")))


def write_rows(path: Path, rows: list[Any]) -> None:
    """Records as JSON Lines, keys sorted, so equal data gives equal bytes."""
    # ensure_ascii=False: domain text (Greek letters, accents) stays readable and the bytes stay as before.
    text = "".join(json.dumps(r.to_json(), sort_keys=True, ensure_ascii=False) + "\n" for r in rows)
    atomic_write_text(path, text)


def read_rows(path: Path, parse: Parse[R]) -> list[R]:
    """Every record of a JSON Lines file written by ``write_rows`` (blank lines skipped)."""
    lines = path.read_text(encoding="utf-8").splitlines()
    return [_parse(path, parse, json.loads(line), n) for n, line in enumerate(lines, 1) if line.strip()]


def _parse(path: Path, parse: Parse[R], row: Any, line: int | None = None) -> R:
    where = f"{path}:{line}" if line else str(path)
    try:
        return parse(row)
    except KeyError as err:  # from_json indexes row[...]: a missing field surfaces as KeyError
        raise RecordError(f"{where}: missing field {err}; delete the folder to generate it again") from None
    except (TypeError, ValueError, AttributeError) as err:
        raise RecordError(f"{where}: unreadable record ({err}); delete the folder to generate it again") from None
