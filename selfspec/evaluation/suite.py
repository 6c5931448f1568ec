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
```
Problems are reported all at once as ``path:line: field: message``; nothing loads a model.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import yaml

from selfspec.evaluation.tasks import TASK_KINDS, FieldMap, Task, TaskFileError, parse_task_jsonl, records_from_rows

SPEC_KEYS = ("name", "kind", "path", "dataset", "fields", "instruction", "limit")
DATASET_KEYS = ("path", "name", "split", "data_files")
NAME_PATTERN = re.compile(r"^[A-Za-z0-9_.-]+$")


@dataclass(frozen=True)
class TaskSpec:
    """One suite entry, validated; ``path`` (resolved) or ``dataset`` (load_dataset kwargs) is set."""

    name: str
    kind: str
    where: str
    path: Path | None = None
    dataset: tuple[tuple[str, Any], ...] = ()
    fields: FieldMap = FieldMap()
    instruction: str | None = None
    limit: int | None = None


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
        root = yaml.compose(text)
    except yaml.YAMLError as err:
        line = err.problem_mark.line + 1 if getattr(err, "problem_mark", None) else 1
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
    entry = yaml.safe_load(yaml.serialize(node))
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
    if limit is not None and (not isinstance(limit, int) or isinstance(limit, bool) or limit < 1):
        problems.append(f"{lines['limit']}: limit: expected a positive integer, got {limit!r}")
    if problems:
        return None, problems
    return TaskSpec(name, kind, where, *source, field_map, instruction, limit), []


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
    return None, tuple(sorted(dataset.items()))


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
        try:
            data = spec.path.read_bytes()
        except OSError as err:
            return None, [f"{spec.where}: path: cannot read {spec.path} ({err.strerror})"]
        records, problems = parse_task_jsonl(data, str(spec.path), spec.fields, spec.instruction)
        source = str(spec.path)
    else:
        records, problems, source = _dataset_records(spec)
    if problems:
        return None, problems
    limited = tuple(records[: spec.limit] if spec.limit else records)
    return Task(spec.name, spec.kind, limited, source), []  # type: ignore[arg-type]


def _dataset_records(spec: TaskSpec) -> tuple[list, list[str], str]:
    import datasets

    kwargs = dict(spec.dataset)
    source = f"dataset {kwargs['path']}[{kwargs.get('split', 'train')}]"
    try:
        rows = datasets.load_dataset(**{"split": "train", **kwargs})
    except Exception as err:  # datasets raises many types (FileNotFoundError, ConnectionError, ValueError...)
        return [], [f"{spec.where}: dataset: cannot load {kwargs}: {err}"], source
    triples = ((f"{source} row {i}", f"row-{i}", row) for i, row in enumerate(rows))
    records, problems = records_from_rows(triples, spec.fields, spec.instruction)
    return records, problems, source
