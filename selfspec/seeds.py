"""Seed files: the handful of human-written domain examples everything else grows from.

Two record shapes are accepted, in JSON Lines or in one JSON list (mixed freely):

* selfspec/Alpaca triplets ``{instruction, input, output, task?, id?}``; ``input`` may be the
  empty string (a task without input), ``instruction`` and ``output`` may not;
* Self-Instruct seed tasks ``{instruction, instances: [{input, output}], id?, name?,
  is_classification?, task?}``; each instance becomes one seed.

Validation is a pure function of the file's bytes that reports *every* problem at once, one
line each, as ``path:line: field: message``. Loading never writes anything.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from selfspec.errors import SeedFileError

TRIPLET_FIELDS = ("instruction", "input", "output", "task", "id")
SELF_INSTRUCT_FIELDS = ("instruction", "instances", "id", "name", "is_classification", "task")
INSTANCE_FIELDS = ("input", "output")


@dataclass(frozen=True)
class Seed:
    """One human-written example.

    Args:
        instruction: What the task asks for.
        input: Context for the instruction; empty for tasks without input.
        output: The correct response.
        task: Task type (``qa``, ``ner``, ...), or None when the file gives none.
        id: Unique within its file: the given id, or ``line-<n>`` when none is given.
    """

    instruction: str
    input: str
    output: str
    task: str | None
    id: str


def load_seeds(path: str | Path) -> list[Seed]:
    """Read and validate a seed file; raise :class:`SeedFileError` listing every problem."""
    path = Path(path)
    if path.is_dir():
        raise SeedFileError([f"{path}: file: is a directory; expected a .jsonl or .json seed file"])
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise SeedFileError([f"{path}: file: no such file"]) from None
    except OSError as err:
        raise SeedFileError([f"{path}: file: cannot be read ({err.strerror})"]) from None
    seeds, problems = parse_seed_bytes(data, str(path))
    if problems:
        raise SeedFileError(problems)
    return seeds


def parse_seed_bytes(data: bytes, path: str) -> tuple[list[Seed], list[str]]:
    """Validate a seed file's content; returns the seeds and the problems (empty when valid)."""
    text, problems = _decode(data, path)
    if not text.strip():
        return [], [*problems, f"{path}:1: file: empty; expected JSON Lines or a JSON list of seeds"]
    seeds: list[Seed] = []
    first_line_of_id: dict[str, int] = {}
    for line, record in _records(text, path, problems):
        record_seeds, record_problems = _validate_record(record, path, line)
        problems.extend(record_problems)
        for seed in record_seeds:
            if seed.id in first_line_of_id:
                problems.append(
                    f"{path}:{line}: id: duplicate id {seed.id!r} (first used on line {first_line_of_id[seed.id]})"
                )
            else:  # the first record keeps the id; later ones are reported, never silently renamed
                first_line_of_id[seed.id] = line
                seeds.append(seed)
    if not seeds and not problems:
        problems.append(f"{path}:1: file: holds no seeds; expected at least one record")
    problems.sort(key=_line_of)  # encoding problems are found in a first pass: merge them into file order
    return seeds, problems


def _line_of(problem: str) -> int:
    # Problems read "path:line: ..."; path itself may contain ':' so split from the right side
    # of the first ": " that follows the line number.
    head = problem.split(": ", 1)[0]
    number = head.rsplit(":", 1)[-1]
    return int(number) if number.isdigit() else 0


def _decode(data: bytes, path: str) -> tuple[str, list[str]]:
    """UTF-8 (a leading BOM is fine); each undecodable line is reported and then replaced."""
    data = data.removeprefix(b"\xef\xbb\xbf")  # editors on Windows write a BOM; json.loads refuses it
    problems = []
    for number, raw in enumerate(data.split(b"\n"), start=1):
        try:
            raw.decode("utf-8")
        except UnicodeDecodeError as err:
            problems.append(
                f"{path}:{number}: encoding: not valid UTF-8 (byte 0x{raw[err.start]:02x} at "
                f"column {err.start + 1}); save the file as UTF-8"
            )
    # Replaced, not dropped: the other records are still parsed, so one run reports every problem.
    return data.decode("utf-8", errors="replace"), problems


def _records(text: str, path: str, problems: list[str]) -> Iterator[tuple[int, Any]]:
    """Yield ``(line, record)``: one per JSONL line, or one per element of a JSON list."""
    stripped = text.lstrip()
    if stripped.startswith("["):
        yield from _list_records(text, path, problems)
        return
    if stripped.startswith("{") and "\n" in stripped.strip():
        # A pretty-printed single object would otherwise give one JSON error per line.
        try:
            json.loads(text)
        except json.JSONDecodeError:
            pass
        else:
            problems.append(
                f"{path}:1: file: one multi-line JSON object; expected one object per line "
                "(JSON Lines) or a JSON list of objects"
            )
            return
    for number, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        try:
            yield number, json.loads(line)
        except json.JSONDecodeError as err:
            problems.append(f"{path}:{number}: json: {err.msg} (column {err.colno})")


def _list_records(text: str, path: str, problems: list[str]) -> Iterator[tuple[int, Any]]:
    try:
        json.loads(text)
    except json.JSONDecodeError as err:
        problems.append(f"{path}:{err.lineno}: json: {err.msg} (column {err.colno})")
        return
    # The list is valid JSON; walk it again element by element to learn each start line.
    decoder = json.JSONDecoder()
    pos = text.index("[") + 1
    while True:
        pos = _skip_space_and_comma(text, pos)
        if text[pos] == "]":
            return
        record, end = decoder.raw_decode(text, pos)
        yield text.count("\n", 0, pos) + 1, record
        pos = end


def _skip_space_and_comma(text: str, pos: int) -> int:
    while text[pos] in " \t\r\n,":
        pos += 1
    return pos


def _validate_record(record: Any, path: str, line: int) -> tuple[list[Seed], list[str]]:
    where = f"{path}:{line}"
    if not isinstance(record, dict):
        return [], [f"{where}: record: expected a JSON object, got {_json_type(record)}"]
    if "instances" in record:  # the one field only a Self-Instruct task has
        return _validate_self_instruct(record, where, line)
    problems = _unknown_fields(record, TRIPLET_FIELDS, where)
    instruction = _text(record, "instruction", where, problems)
    input_ = _text(record, "input", where, problems, allow_empty=True)
    output = _text(record, "output", where, problems)
    task = _optional_text(record, "task", where, problems)
    seed_id = _optional_id(record, "id", where, problems) or f"line-{line}"
    if problems:
        return [], problems
    assert instruction is not None and input_ is not None and output is not None  # no problems: all read
    return [Seed(instruction, input_, output, task, seed_id)], []


def _validate_self_instruct(record: dict[str, Any], where: str, line: int) -> tuple[list[Seed], list[str]]:
    problems = _unknown_fields(record, SELF_INSTRUCT_FIELDS, where)
    instruction = _text(record, "instruction", where, problems)
    task = _optional_text(record, "task", where, problems)
    base_id = (
        _optional_id(record, "id", where, problems) or _optional_text(record, "name", where, problems) or f"line-{line}"
    )
    is_classification = record.get("is_classification", False)
    if not isinstance(is_classification, bool):
        problems.append(f"{where}: is_classification: expected true or false, got {_json_type(is_classification)}")
    elif task is None and is_classification:
        task = "classification"
    pairs = _instances(record["instances"], where, problems)
    if problems:
        return [], problems
    assert instruction is not None
    # One instance keeps the task's own id; several get "#1", "#2", ... so each seed's id stays unique.
    if len(pairs) == 1:
        return [Seed(instruction, pairs[0][0], pairs[0][1], task, base_id)], []
    return [Seed(instruction, inp, out, task, f"{base_id}#{k}") for k, (inp, out) in enumerate(pairs, 1)], []


def _instances(instances: Any, where: str, problems: list[str]) -> list[tuple[str, str]]:
    if not isinstance(instances, list):
        problems.append(
            f"{where}: instances: expected a list of {{input, output}} objects, got {_json_type(instances)}"
        )
        return []
    if not instances:
        problems.append(f"{where}: instances: empty list; give at least one {{input, output}} object")
    pairs = []
    for k, instance in enumerate(instances):
        field = f"instances[{k}]"
        if not isinstance(instance, dict):
            problems.append(f"{where}: {field}: expected an object, got {_json_type(instance)}")
            continue
        before = len(problems)
        problems.extend(_unknown_fields(instance, INSTANCE_FIELDS, where, prefix=f"{field}."))
        inp = _text(instance, "input", where, problems, allow_empty=True, prefix=f"{field}.")
        out = _text(instance, "output", where, problems, prefix=f"{field}.")
        if len(problems) == before and inp is not None and out is not None:
            pairs.append((inp, out))
    return pairs


def _text(
    record: dict[str, Any],
    key: str,
    where: str,
    problems: list[str],
    *,
    allow_empty: bool = False,
    prefix: str = "",
) -> str | None:
    if key not in record:
        problems.append(f"{where}: {prefix}{key}: missing required field")
        return None
    value = record[key]
    if not isinstance(value, str):
        problems.append(f"{where}: {prefix}{key}: expected a string, got {_json_type(value)}")
        return None
    if not allow_empty and not value.strip():
        problems.append(f"{where}: {prefix}{key}: empty; write the {key}")
        return None
    return value


def _optional_text(record: dict[str, Any], key: str, where: str, problems: list[str]) -> str | None:
    if record.get(key) is None:
        return None
    return _text(record, key, where, problems)


def _optional_id(record: dict[str, Any], key: str, where: str, problems: list[str]) -> str | None:
    value = record.get(key)
    # Self-Instruct files number their tasks; an id is compared as text. bool is an int: not an id.
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return _optional_text(record, key, where, problems)


def _unknown_fields(record: dict[str, Any], known: tuple[str, ...], where: str, prefix: str = "") -> list[str]:
    problems = []
    for key in record:
        if key in known:
            continue
        close = difflib.get_close_matches(key, known, n=1)
        hint = f"did you mean {close[0]!r}?" if close else f"expected one of {', '.join(known)}"
        problems.append(f"{where}: {prefix}{key}: unknown field; {hint}")
    return problems


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):  # before int: bool is a subclass of int
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, list):
        return "list"
    if isinstance(value, dict):
        return "object"
    return "string"
