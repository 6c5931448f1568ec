"""Evaluation suites: a YAML list of tasks, each a JSON Lines file or a Hugging Face dataset.

```yaml
- name: pubmedqa            # used in metric keys (val/pubmedqa/f1)
  kind: label               # label | extraction | free_text
  path: pubmedqa.jsonl      # relative to this file
- name: squad
  kind: extraction
  dataset: {path: json, data_files: squad.jsonl, split: train}   # datasets.load_dataset arguments
  fields: {instruction: question, input: context, answers: answers.text}
  limit: 200                # first N records only
- name: pubmedqa_dev_demos
  kind: label
  path: pubmedqa.jsonl
  demos: pubmedqa_demos.jsonl   # k-shot demonstrations come from this file (same fields) ...
  # demos: 8                    # ... or from the first 8 records, held apart (never scored)
  labels: ["yes", "no", "maybe"]  # a label task's labels (quoted: YAML reads yes/no as booleans);
                                  # default: its distinct gold answers
```
k-shot demonstrations never come out of the scored records, so every shots setting scores the
same items; a task without ``demos`` can only be evaluated 0-shot.
Problems are reported all at once as ``path:line: field: message``; nothing loads a model.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import yaml

from selfspec.evaluation.normalize import normalize_answer
from selfspec.evaluation.tasks import (
    TASK_KINDS,
    EvalRecord,
    FieldMap,
    Task,
    TaskFileError,
    parse_task_jsonl,
    records_from_rows,
    task_labels,
)

SPEC_KEYS = ("name", "kind", "path", "dataset", "fields", "instruction", "limit", "demos", "labels")
DATASET_KEYS = ("path", "name", "split", "data_files")
NAME_PATTERN = re.compile(r"^[A-Za-z0-9_.-]+$")


@dataclass(frozen=True)
class TaskSpec:
    """One suite entry, validated; ``path`` (resolved) or ``dataset`` (load_dataset kwargs) is set."""

    name: str
    kind: str
    where: str
    path: Path | None = None
    dataset: tuple[tuple[str, Any], ...] = ()  # sorted (key, value) pairs: hashable, unlike the YAML's dict
    fields: FieldMap = FieldMap()
    instruction: str | None = None
    limit: int | None = None
    demos: Path | int | None = None
    labels: tuple[str, ...] = ()


def load_suite(path: str | Path) -> list[Task]:
    """Read a suite file and every task it names; raise :class:`TaskFileError` listing every problem."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise TaskFileError([f"{path}:1: file: cannot be read ({err})"]) from None
    specs, problems = parse_suite_text(text, str(path), path.parent)
    tasks = []
    for spec in specs:
        task, task_problems = _load_task(spec)
        problems.extend(task_problems)
        if task is not None:
            tasks.append(task)
    if problems:
        raise TaskFileError(problems)
    return tasks


def parse_suite_text(text: str, path: str, base: Path) -> tuple[list[TaskSpec], list[str]]:
    """Validate a suite's YAML text; relative task paths resolve against ``base``."""
    try:
        root = yaml.compose(text)  # nodes, not values: they keep each key's line for the problem lines
    except yaml.YAMLError as err:
        line = err.problem_mark.line + 1 if getattr(err, "problem_mark", None) else 1  # marks count from 0
        return [], [f"{path}:{line}: yaml: {getattr(err, 'problem', None) or err}"]
    if not isinstance(root, yaml.SequenceNode) or not root.value:
        return [], [f"{path}:1: suite: expected a YAML list of tasks (- name: ..., kind: ..., path: ...)"]
    specs: list[TaskSpec] = []
    problems: list[str] = []
    seen: dict[str, str] = {}
    for node in root.value:
        spec, spec_problems = _spec(node, path, base)
        problems.extend(spec_problems)
        if spec is not None and spec.name in seen:
            problems.append(f"{spec.where}: name: duplicate task name {spec.name!r} (first on line {seen[spec.name]})")
        elif spec is not None:
            seen[spec.name] = spec.where.rsplit(":", 1)[-1]
            specs.append(spec)
    return specs, problems


def _spec(node: yaml.Node, path: str, base: Path) -> tuple[TaskSpec | None, list[str]]:
    where = f"{path}:{node.start_mark.line + 1}"
    if not isinstance(node, yaml.MappingNode):
        return None, [f"{where}: task: expected a mapping with name, kind and path (or dataset)"]
    lines = {key.value: f"{path}:{key.start_mark.line + 1}" for key, _ in node.value}
    entry = yaml.safe_load(yaml.serialize(node))  # the node back to plain values, read as safe_load would
    problems = _unknown(entry, SPEC_KEYS, lines, "")
    name, kind = entry.get("name"), entry.get("kind")
    if not isinstance(name, str) or not NAME_PATTERN.match(name):
        problems.append(f"{lines.get('name', where)}: name: expected a name of letters, digits, '_', '.', '-'")
    if kind not in TASK_KINDS:
        problems.append(f"{lines.get('kind', where)}: kind: expected one of {', '.join(TASK_KINDS)}, got {kind!r}")
    source = _source(entry, lines, where, base, problems)
    field_map = _field_map(entry.get("fields"), lines.get("fields", where), problems)
    instruction, limit = entry.get("instruction"), entry.get("limit")
    if instruction is not None and not (isinstance(instruction, str) and instruction.strip()):
        problems.append(f"{lines['instruction']}: instruction: expected a non-empty string")
    # bool is an int in Python; `limit: yes` would otherwise read as 1.
    if limit is not None and (not isinstance(limit, int) or isinstance(limit, bool) or limit < 1):
        problems.append(f"{lines['limit']}: limit: expected a positive integer, got {limit!r}")
    demos = _demos(entry.get("demos"), lines.get("demos", where), base, problems)
    labels = _labels(entry.get("labels"), kind, lines.get("labels", where), problems)
    if problems:
        return None, problems
    return TaskSpec(name, kind, where, *source, field_map, instruction, limit, demos, labels), []


def _demos(value: Any, where: str, base: Path, problems: list[str]) -> Path | int | None:
    if value is None or isinstance(value, str):  # a file, relative to the suite like `path`
        return None if value is None else base / value
    if isinstance(value, int) and not isinstance(value, bool) and value >= 1:
        return value
    problems.append(f"{where}: demos: expected a JSON Lines file or a number of records to hold apart, got {value!r}")
    return None


def _labels(value: Any, kind: Any, where: str, problems: list[str]) -> tuple[str, ...]:
    if value is None:
        return ()
    if kind != "label":
        problems.append(f"{where}: labels: only a label task has labels (kind is {kind!r})")
    elif not isinstance(value, list) or not value or not all(isinstance(v, str) and v.strip() for v in value):
        hint = (
            ' (YAML reads yes/no as booleans: quote them, ["yes", "no"])'
            if isinstance(value, list) and any(isinstance(v, bool) for v in value)
            else ""
        )
        problems.append(f"{where}: labels: expected a non-empty list of strings{hint}")
    else:
        return tuple(value)
    return ()


def _source(
    entry: dict[str, Any], lines: dict[str, str], where: str, base: Path, problems: list[str]
) -> tuple[Path | None, tuple[tuple[str, Any], ...]]:
    file, dataset = entry.get("path"), entry.get("dataset")
    if (file is None) == (dataset is None):
        problems.append(f"{where}: path: give exactly one of path (a JSON Lines file) or dataset")
        return None, ()
    if file is not None:
        if not isinstance(file, str):
            problems.append(f"{lines['path']}: path: expected a file path string")
            return None, ()
        return base / file, ()
    if not isinstance(dataset, dict) or not isinstance(dataset.get("path"), str):
        problems.append(f"{lines['dataset']}: dataset: expected a mapping with at least path (load_dataset's)")
        return None, ()
    problems.extend(_unknown(dataset, DATASET_KEYS, {}, "dataset.", lines["dataset"]))
    return None, tuple(sorted(dataset.items()))  # sorted: the same arguments in any order are one spec


def _field_map(value: Any, where: str, problems: list[str]) -> FieldMap:
    if value is None:
        return FieldMap()
    known = tuple(f.name for f in fields(FieldMap))
    if not isinstance(value, dict):
        problems.append(f"{where}: fields: expected a mapping of {', '.join(known)} to column names")
        return FieldMap()
    problems.extend(_unknown(value, known, {}, "fields.", where))
    if any(not isinstance(v, str) for v in value.values()):
        problems.append(f"{where}: fields: column names must be strings")
        return FieldMap()
    return FieldMap(**{k: v for k, v in value.items() if k in known})


def _unknown(
    entry: dict[str, Any], known: tuple[str, ...], lines: dict[str, str], prefix: str, where: str = ""
) -> list[str]:
    problems = []
    for key in entry:
        if key not in known:
            close = difflib.get_close_matches(str(key), known, n=1)
            hint = f"did you mean {close[0]!r}?" if close else f"expected one of {', '.join(known)}"
            problems.append(f"{lines.get(key, where)}: {prefix}{key}: unknown field; {hint}")
    return problems


def _load_task(spec: TaskSpec) -> tuple[Task | None, list[str]]:
    if spec.path is not None:
        records, problems, source = _file_records(spec.path, spec)
    else:
        records, problems, source = _dataset_records(spec)
    demos: list[EvalRecord] = []
    demo_source = ""
    if isinstance(spec.demos, Path):
        demos, demo_problems, demo_source = _file_records(spec.demos, spec, "demos")
        problems.extend(demo_problems)
    elif isinstance(spec.demos, int):  # held apart before `limit`, so the scored items stay the same
        demos, records, demo_source = records[: spec.demos], records[spec.demos :], f"first {spec.demos} of {source}"
        if not records:
            problems.append(f"{spec.where}: demos: holding apart {spec.demos} records leaves none to score")
    # Demonstrations count too: a label that only a demonstration shows is still a label the model may answer.
    labels = spec.labels or (task_labels([*demos, *records]) if spec.kind == "label" else ())
    problems.extend(_unlabelled(records, labels, spec) if spec.kind == "label" else [])
    if problems:
        return None, problems
    limited = tuple(records[: spec.limit] if spec.limit else records)
    kind: Any = spec.kind
    return Task(spec.name, kind, limited, source, tuple(demos), demo_source, labels), []


def _file_records(path: Path, spec: TaskSpec, field: str = "path") -> tuple[list, list[str], str]:
    try:
        data = path.read_bytes()
    except OSError as err:
        return [], [f"{spec.where}: {field}: cannot read {path} ({err.strerror})"], str(path)
    records, problems = parse_task_jsonl(data, str(path), spec.fields, spec.instruction)
    return records, problems, str(path)


def _unlabelled(records: Sequence[EvalRecord], labels: tuple[str, ...], spec: TaskSpec) -> list[str]:
    known = {normalize_answer(label) for label in labels}
    return [
        f"{spec.where}: labels: record {r.id!r} answers {r.answers[0]!r}, not one of {list(labels)}"
        for r in records
        if normalize_answer(r.answers[0]) not in known
    ][:5]  # a wrong label list would flag most records: five name the problem without flooding the terminal


def _dataset_records(spec: TaskSpec) -> tuple[list, list[str], str]:
    import datasets  # heavy (pyarrow, fsspec): imported only for a suite that uses a dataset

    kwargs = dict(spec.dataset)
    source = f"dataset {kwargs['path']}[{kwargs.get('split', 'train')}]"
    try:
        # load_dataset without a split returns a DatasetDict; "train" is what a plain JSON file has.
        rows = datasets.load_dataset(**{"split": "train", **kwargs})
    except Exception as err:  # datasets raises many types (FileNotFoundError, ConnectionError, ValueError...)
        return [], [f"{spec.where}: dataset: cannot load {kwargs}: {err}"], source
    triples = ((f"{source} row {i}", f"row-{i}", row) for i, row in enumerate(rows))
    records, problems = records_from_rows(triples, spec.fields, spec.instruction)
    return records, problems, source
