"""Evaluation tasks and suites: loading, field maps, and one ``path:line: field: message`` per problem."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from selfspec.evaluation.suite import load_suite
from selfspec.evaluation.tasks import EvalRecord, FieldMap, TaskFileError, parse_task_jsonl

REPO = Path(__file__).resolve().parents[1]
EXAMPLE_SUITE = REPO / "data" / "eval" / "example" / "suite.yaml"


def test_example_suite_loads_every_task() -> None:
    tasks = load_suite(EXAMPLE_SUITE)
    # `demos: 3`: the first 3 records of each file are the demonstration pool, the rest are scored
    assert [(t.name, t.kind, len(t.demos), len(t.records)) for t in tasks] == [
        ("yesno", "label", 3, 9),
        ("ner", "extraction", 3, 7),
        ("summary", "free_text", 3, 5),
    ]
    ner = tasks[1].demos[0]
    assert ner.instruction.startswith("List the chemicals")  # the task-level instruction fills records
    assert ner.answers == ("rheumatoid arthritis, methotrexate, folic acid",) and ner.id == "ner1"
    assert tasks[1].records[0].id == "ner4" and tasks[0].labels == ("yes", "no")


def test_demonstration_pool_from_a_file_and_explicit_labels(tmp_path: Path) -> None:
    row = {"instruction": "Q?", "input": "ctx", "answers": ["Yes"]}
    (tmp_path / "t.jsonl").write_text(json.dumps(row) + "\n" + json.dumps({**row, "answers": ["no"]}) + "\n")
    (tmp_path / "d.jsonl").write_text(json.dumps({**row, "answers": ["maybe"]}) + "\n")
    suite = tmp_path / "suite.yaml"
    suite.write_text('- {name: t, kind: label, path: t.jsonl, demos: d.jsonl, labels: ["yes", "no", "maybe"]}\n')
    (task,) = load_suite(suite)
    assert (len(task.records), len(task.demos), task.labels) == (2, 1, ("yes", "no", "maybe"))
    assert task.demo_source == str(tmp_path / "d.jsonl")


@pytest.mark.parametrize(
    ("entry", "problem"),
    [
        ("demos: 0", "demos: expected a JSON Lines file or a number of records to hold apart, got 0"),
        ("demos: 2", "demos: holding apart 2 records leaves none to score"),
        ("demos: missing.jsonl", "demos: cannot read"),
        ('labels: ["yes"]', "labels: record 'line-2' answers 'no', not one of ['yes']"),
        ("labels: [yes, no]", "labels: expected a non-empty list of strings (YAML reads yes/no as booleans: quote"),
        ("labels: []", "labels: expected a non-empty list of strings"),
    ],
)
def test_bad_demos_and_labels_name_the_suite_line(tmp_path: Path, entry: str, problem: str) -> None:
    (tmp_path / "t.jsonl").write_text(
        '{"instruction": "Q?", "answers": "yes"}\n{"instruction": "R?", "answers": "no"}\n'
    )
    suite = tmp_path / "suite.yaml"
    suite.write_text(f"- name: t\n  kind: label\n  path: t.jsonl\n  {entry}\n")
    with pytest.raises(TaskFileError) as err:
        load_suite(suite)
    assert problem in str(err.value) and f"{suite}:" in str(err.value)


def test_task_records_accept_strings_lists_and_default_ids() -> None:
    data = b'{"instruction": "Q?", "answers": "yes"}\n\n{"instruction": "R?", "input": "ctx", "answers": ["a", "b"]}\n'
    records, problems = parse_task_jsonl(data, "t.jsonl")
    assert problems == []
    assert records == [
        EvalRecord("Q?", "", ("yes",), "line-1"),
        EvalRecord("R?", "ctx", ("a", "b"), "line-3"),
    ]


def test_malformed_task_file_reports_every_problem_with_path_and_line(tmp_path: Path) -> None:
    lines = [
        '{"instruction": "ok", "answers": ["x"], "id": 1}',
        "not json",
        '{"instruction": "", "answers": ["x"]}',
        '{"instruction": "q", "answer": "x"}',
        '{"instruction": "q", "answers": [3]}',
        '{"instruction": "q", "answers": ["x"], "id": 1}',
        '["a list"]',
        '{"instruction": "q", "answers": ["", " "]}',
    ]
    _, problems = parse_task_jsonl("\n".join(lines).encode(), "bad.jsonl")
    assert problems == [
        "bad.jsonl:2: json: Expecting value (column 1)",
        "bad.jsonl:3: instruction: empty; write the instruction",
        "bad.jsonl:4: answers: missing required field; did you mean 'answer'? (or map it under fields: in the suite)",
        "bad.jsonl:5: answers: expected a string or a list of strings",
        "bad.jsonl:6: id: duplicate id '1' (first at bad.jsonl:1)",
        "bad.jsonl:7: record: expected a JSON object, got list",
        "bad.jsonl:8: answers: no non-empty gold answer; give at least one",
    ]


def test_bad_utf8_and_empty_files(tmp_path: Path) -> None:
    _, problems = parse_task_jsonl(b'{"instruction": "q", "answers": "a"}\n{"instruction": "\xff"}\n', "t.jsonl")
    assert problems == ["t.jsonl:2: encoding: not valid UTF-8 (byte 0xff); save the file as UTF-8"]
    assert parse_task_jsonl(b"\n\n", "e.jsonl")[1] == [
        "e.jsonl:1: file: holds no records; expected one JSON object per line"
    ]


def _write_suite(tmp_path: Path, text: str) -> Path:
    (tmp_path / "ok.jsonl").write_text('{"instruction": "q", "answers": "a"}\n')
    suite = tmp_path / "suite.yaml"
    suite.write_text(text)
    return suite


def test_malformed_suite_reports_path_and_line(tmp_path: Path) -> None:
    suite = _write_suite(
        tmp_path,
        "- name: good\n"
        "  kind: label\n"
        "  path: ok.jsonl\n"
        "- name: bad kind\n"
        "  kind: multiple_choice\n"
        "  path: ok.jsonl\n"
        "  limt: 3\n"
        "- name: good\n"
        "  kind: label\n"
        "  path: ok.jsonl\n"
        "- name: nosource\n"
        "  kind: label\n"
        "- name: missing\n"
        "  kind: free_text\n"
        "  path: missing.jsonl\n",
    )
    with pytest.raises(TaskFileError) as err:
        load_suite(suite)
    assert err.value.problems[:5] == [
        f"{suite}:7: limt: unknown field; did you mean 'limit'?",
        f"{suite}:4: name: expected a name of letters, digits, '_', '.', '-'",
        f"{suite}:5: kind: expected one of label, extraction, free_text, got 'multiple_choice'",
        f"{suite}:8: name: duplicate task name 'good' (first on line 1)",
        f"{suite}:11: path: give exactly one of path (a JSON Lines file) or dataset",
    ]
    assert err.value.problems[5].startswith(f"{suite}:13: path: cannot read {tmp_path / 'missing.jsonl'}")


def test_task_file_problems_name_the_task_file_not_the_suite(tmp_path: Path) -> None:
    (tmp_path / "bad.jsonl").write_text('{"instruction": "q", "answers": "a"}\n{"instruction": "q"}\n')
    suite = tmp_path / "suite.yaml"
    suite.write_text("- {name: t, kind: label, path: bad.jsonl}\n")
    with pytest.raises(TaskFileError, match=r"bad\.jsonl:2: answers: missing required field"):
        load_suite(suite)


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("name: t\nkind: label\n", ":1: suite: expected a YAML list of tasks (- name: ..., kind: ..., path: ...)"),
        ("- name: t\n  kind: [label\n", ":3: yaml: expected ',' or ']', but got '<stream end>'"),
        ("- just a string\n", ":1: task: expected a mapping with name, kind and path (or dataset)"),
    ],
)
def test_suite_shape_errors(tmp_path: Path, text: str, problem: str) -> None:
    with pytest.raises(TaskFileError) as err:
        load_suite(_write_suite(tmp_path, text))
    assert err.value.problems == [f"{tmp_path / 'suite.yaml'}{problem}"]


def test_hugging_face_dataset_with_a_field_map(tmp_path: Path) -> None:
    rows = [
        {"question": "Who?", "context": "Marie Curie won twice.", "answers": {"text": ["Marie Curie", "Curie"]}},
        {"question": "When?", "context": "In 1903.", "answers": {"text": ["1903"]}},
    ]
    (tmp_path / "squad.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    suite = _write_suite(
        tmp_path,
        "- name: squad\n"
        "  kind: extraction\n"
        f"  dataset: {{path: json, data_files: {tmp_path / 'squad.jsonl'}, split: train}}\n"
        "  fields: {instruction: question, input: context, answers: answers.text}\n"
        "  limit: 1\n",
    )
    (task,) = load_suite(suite)
    assert task.records == (EvalRecord("Who?", "Marie Curie won twice.", ("Marie Curie", "Curie"), "row-0"),)
    assert task.source.startswith("dataset json[train]")


def test_field_map_dotted_lookup_reports_missing_columns() -> None:
    data = b'{"q": "Who?", "ans": {"txt": ["x"]}}\n'
    fields = FieldMap(instruction="q", answers="ans.text")
    _, problems = parse_task_jsonl(data, "t.jsonl", fields)
    assert problems == ["t.jsonl:1: ans.text: missing required field"]
