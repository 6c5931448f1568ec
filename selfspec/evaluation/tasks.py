"""Evaluation tasks: instruction/input/answers records from JSON Lines or a Hugging Face dataset.

A record's fields are found through a ``FieldMap`` (so any data set plugs in with a config only);
dotted names reach into nested columns (``answers.text`` for SQuAD). Validation is a pure
function over rows that reports every problem, one ``path:line: field: message`` line each.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Literal, get_args

from selfspec.errors import SelfSpecError

TaskKind = Literal["label", "extraction", "free_text"]
TASK_KINDS: tuple[str, ...] = get_args(TaskKind)  # one list for the type checker and the suite's validation


class TaskFileError(SelfSpecError):
    """A suite or task file has problems; ``problems`` holds one ``path:line: field: message`` each."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("\n".join(problems))


@dataclass(frozen=True)
class EvalRecord:
    """One evaluation example.

    Args:
        instruction: What the task asks for.
        input: Context for the instruction (may be empty).
        answers: Gold answers; the prediction scores its best match.
        id: Unique within its task (the given id or ``line-<n>`` / ``row-<n>``).
    """

    instruction: str
    input: str
    answers: tuple[str, ...]
    id: str


@dataclass(frozen=True)
class FieldMap:
    """Where a record's fields live in a data set's rows (dotted names reach into nested columns).

    Args:
        instruction: Column of the instruction (a task-level ``instruction`` fills it when absent).
        input: Column of the input; missing means an empty input.
        answers: Column of the gold answers: a string or a list of strings.
        id: Column of a unique id, if any.
    """

    instruction: str = "instruction"
    input: str = "input"
    answers: str = "answers"
    id: str = "id"


@dataclass(frozen=True)
class Task:
    """A named, typed set of records; ``kind`` says what its answers look like.

    Args:
        name: Used in metric keys.
        kind: ``label`` (answers are one of ``labels``), ``extraction`` or ``free_text``.
        records: The scored records.
        source: Where they came from, for messages.
        demos: The pool k-shot demonstrations are drawn from; never scored, so every shots
            setting scores the same ``records``.
        demo_source: Where the pool came from (a file, or held-apart records of ``source``).
        labels: A label task's label set; empty for other kinds.
    """

    name: str
    kind: TaskKind
    records: tuple[EvalRecord, ...]
    source: str
    demos: tuple[EvalRecord, ...] = ()
    demo_source: str = ""
    labels: tuple[str, ...] = ()


def task_labels(records: Iterable[EvalRecord]) -> tuple[str, ...]:
    """A label task's labels when the suite names none: the first gold answers, in first-seen order."""
    # dict.fromkeys, not set: the order is the file's, so prompts listing the labels are reproducible.
    return tuple(dict.fromkeys(r.answers[0].strip() for r in records))


_MISSING = object()  # a sentinel, not None: a column present with value null is a different problem


def lookup(row: Any, dotted: str) -> Any:
    """``row["a"]["b"]`` for ``"a.b"``; ``_MISSING`` when any step is absent."""
    value = row
    for key in dotted.split("."):
        if not isinstance(value, dict) or key not in value:
            return _MISSING
        value = value[key]
    return value


def parse_task_jsonl(
    data: bytes, path: str, fields: FieldMap = FieldMap(), instruction: str | None = None
) -> tuple[list[EvalRecord], list[str]]:
    """Validate a JSON Lines task file's bytes; returns the records and the problems (empty when valid)."""
    problems: list[str] = []
    rows = list(_jsonl_rows(data.removeprefix(b"\xef\xbb\xbf"), path, problems))  # a BOM from Windows editors
    records, row_problems = records_from_rows(rows, fields, instruction)
    problems.extend(row_problems)
    if not rows and not problems:
        problems.append(f"{path}:1: file: holds no records; expected one JSON object per line")
    return records, sorted(problems, key=_line_number)  # encoding and row problems interleave in file order


def _jsonl_rows(data: bytes, path: str, problems: list[str]) -> Iterator[tuple[str, str, Any]]:
    """Yield ``(where, default id, row)`` per non-blank line."""
    for number, raw in enumerate(data.split(b"\n"), start=1):
        where = f"{path}:{number}"
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError as err:
            problems.append(f"{where}: encoding: not valid UTF-8 (byte 0x{raw[err.start]:02x}); save the file as UTF-8")
            continue
        if not line.strip():
            continue
        try:
            yield where, f"line-{number}", json.loads(line)
        except json.JSONDecodeError as err:
            problems.append(f"{where}: json: {err.msg} (column {err.colno})")


def records_from_rows(
    rows: Iterable[tuple[str, str, Any]], fields: FieldMap, instruction: str | None
) -> tuple[list[EvalRecord], list[str]]:
    """Records from ``(where, default id, row)`` triples; every problem is reported, duplicates included."""
    records: list[EvalRecord] = []
    problems: list[str] = []
    first_seen: dict[str, str] = {}
    for where, default_id, row in rows:
        record, row_problems = _record(row, where, default_id, fields, instruction)
        problems.extend(row_problems)
        if record is None:
            continue
        if record.id in first_seen:
            problems.append(f"{where}: {fields.id}: duplicate id {record.id!r} (first at {first_seen[record.id]})")
            continue
        first_seen[record.id] = where
        records.append(record)
    return records, problems


def _record(
    row: Any, where: str, default_id: str, fields: FieldMap, instruction: str | None
) -> tuple[EvalRecord | None, list[str]]:
    if not isinstance(row, dict):
        return None, [f"{where}: record: expected a JSON object, got {type(row).__name__}"]
    problems: list[str] = []
    text = _string(row, fields.instruction, where, problems, default=instruction)
    input_ = _string(row, fields.input, where, problems, default="", allow_empty=True)
    answers = _answers(row, fields.answers, where, problems)
    raw_id = lookup(row, fields.id)
    # Data sets number their rows (int ids); ids are compared as text, and are optional.
    record_id = default_id if raw_id is _MISSING or raw_id is None else str(raw_id)
    if problems or text is None or input_ is None:
        return None, problems
    return EvalRecord(text, input_, answers, record_id), []


def _string(
    row: dict[str, Any],
    field: str,
    where: str,
    problems: list[str],
    default: str | None = None,
    allow_empty: bool = False,
) -> str | None:
    value = lookup(row, field)
    if value is _MISSING or value is None:
        if default is None:
            problems.append(f"{where}: {field}: missing required field{_hint(field, row)}")
        return default
    if not isinstance(value, str):
        problems.append(f"{where}: {field}: expected a string, got {type(value).__name__}")
        return None
    if not allow_empty and not value.strip():
        problems.append(f"{where}: {field}: empty; write the {field}")
        return None
    return value


def _answers(row: dict[str, Any], field: str, where: str, problems: list[str]) -> tuple[str, ...]:
    value = lookup(row, field)
    if value is _MISSING or value is None:
        problems.append(f"{where}: {field}: missing required field{_hint(field, row)}")
        return ()
    values = [value] if isinstance(value, str) else value  # SQuAD-style tasks list several gold answers
    if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
        problems.append(f"{where}: {field}: expected a string or a list of strings")
        return ()
    answers = tuple(v for v in values if v.strip())  # an empty gold answer would make any prediction score 0
    if not answers:
        problems.append(f"{where}: {field}: no non-empty gold answer; give at least one")
    return answers


def _hint(field: str, row: dict[str, Any]) -> str:
    # Match the last part of a dotted name against the row's top-level keys: the usual typo is there.
    close = difflib.get_close_matches(field.split(".")[-1], [str(k) for k in row], n=1)
    return f"; did you mean {close[0]!r}? (or map it under fields: in the suite)" if close else ""


def _line_number(problem: str) -> int:
    # "path:line: ..." where path may itself hold ':'; a dataset's "row N" problems sort first (0).
    head = problem.split(": ", 1)[0]
    number = head.rsplit(":", 1)[-1]
    return int(number) if number.isdigit() else 0
