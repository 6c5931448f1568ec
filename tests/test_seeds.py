"""The seed loader: every malformed file gives exact ``path:line: field: message`` lines."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from selfspec.check_seeds_cli import main
from selfspec.errors import SeedFileError
from selfspec.seeds import Seed, load_seeds, parse_seed_bytes

OK = '{"instruction": "Name the organ.", "input": "", "output": "liver"}'


def _line(**fields: object) -> str:
    return json.dumps(fields)


def _json_error(text: str) -> str:
    """The json module's own message (its wording changed in Python 3.13)."""
    try:
        json.loads(text)
    except json.JSONDecodeError as err:
        return err.msg
    raise AssertionError("valid JSON")


# (case id, file name, file bytes, expected problems with "P" standing for the path)
MALFORMED: list[tuple[str, str, bytes, list[str]]] = [
    ("empty file", "s.jsonl", b"", ["P:1: file: empty; expected JSON Lines or a JSON list of seeds"]),
    ("blank lines only", "s.jsonl", b"\n \n\t\n", ["P:1: file: empty; expected JSON Lines or a JSON list of seeds"]),
    ("BOM only", "s.jsonl", b"\xef\xbb\xbf", ["P:1: file: empty; expected JSON Lines or a JSON list of seeds"]),
    ("empty JSON list", "s.json", b"[]", ["P:1: file: holds no seeds; expected at least one record"]),
    (
        "invalid JSON line",
        "s.jsonl",
        f'{OK}\n{{"instruction": "a"\n'.encode(),
        ["P:2: json: Expecting ',' delimiter (column 20)"],
    ),
    (
        "truncated last line",
        "s.jsonl",
        f"{OK}\n{OK[:30]}".encode(),
        ["P:2: json: Unterminated string starting at (column 17)"],
    ),
    (
        "non-UTF-8 byte",
        "s.jsonl",
        b'{"instruction": "caf\xe9 au lait", "input": "", "output": "b"}\n',
        ["P:1: encoding: not valid UTF-8 (byte 0xe9 at column 21); save the file as UTF-8"],
    ),
    (
        "latin-1 file",
        "s.jsonl",
        f"{OK}\n".encode() + b'{"instruction": "na\xefve", "input": "", "output": "x"}\n',
        ["P:2: encoding: not valid UTF-8 (byte 0xef at column 20); save the file as UTF-8"],
    ),
    (
        "missing instruction",
        "s.jsonl",
        _line(input="", output="b").encode(),
        ["P:1: instruction: missing required field"],
    ),
    ("missing input", "s.jsonl", _line(instruction="a", output="b").encode(), ["P:1: input: missing required field"]),
    ("missing output", "s.jsonl", _line(instruction="a", input="").encode(), ["P:1: output: missing required field"]),
    (
        "empty instruction",
        "s.jsonl",
        _line(instruction="", input="", output="b").encode(),
        ["P:1: instruction: empty; write the instruction"],
    ),
    (
        "blank output",
        "s.jsonl",
        _line(instruction="a", input="x", output="  \n").encode(),
        ["P:1: output: empty; write the output"],
    ),
    (
        "instruction is a number",
        "s.jsonl",
        _line(instruction=3, input="", output="b").encode(),
        ["P:1: instruction: expected a string, got number"],
    ),
    (
        "input is null",
        "s.jsonl",
        _line(instruction="a", input=None, output="b").encode(),
        ["P:1: input: expected a string, got null"],
    ),
    (
        "output is a list",
        "s.jsonl",
        _line(instruction="a", input="", output=["b"]).encode(),
        ["P:1: output: expected a string, got list"],
    ),
    (
        "task is empty",
        "s.jsonl",
        _line(instruction="a", input="", output="b", task="").encode(),
        ["P:1: task: empty; write the task"],
    ),
    (
        "task is a number",
        "s.jsonl",
        _line(instruction="a", input="", output="b", task=7).encode(),
        ["P:1: task: expected a string, got number"],
    ),
    (
        "id is a boolean",
        "s.jsonl",
        _line(instruction="a", input="", output="b", id=True).encode(),
        ["P:1: id: expected a string, got boolean"],
    ),
    (
        "duplicate id",
        "s.jsonl",
        "\n".join(
            [
                _line(instruction="a", input="", output="b", id="x"),
                OK,
                _line(instruction="c", input="", output="d", id="x"),
            ]
        ).encode(),
        ["P:3: id: duplicate id 'x' (first used on line 1)"],
    ),
    (
        "duplicate numeric and string id",
        "s.jsonl",
        "\n".join(
            [_line(instruction="a", input="", output="b", id=5), _line(instruction="c", input="", output="d", id="5")]
        ).encode(),
        ["P:2: id: duplicate id '5' (first used on line 1)"],
    ),
    ("record is a list", "s.jsonl", f'{OK}\n["a", "b"]\n'.encode(), ["P:2: record: expected a JSON object, got list"]),
    (
        "record is a string",
        "s.jsonl",
        f'{OK}\n"just text"\n'.encode(),
        ["P:2: record: expected a JSON object, got string"],
    ),
    ("record is a number", "s.jsonl", b"42\n", ["P:1: record: expected a JSON object, got number"]),
    (
        "misspelt field",
        "s.jsonl",
        _line(instruction="a", input="", ouput="b").encode(),
        ["P:1: ouput: unknown field; did you mean 'output'?", "P:1: output: missing required field"],
    ),
    (
        "unknown field",
        "s.jsonl",
        _line(instruction="a", input="", output="b", zzz=1).encode(),
        ["P:1: zzz: unknown field; expected one of instruction, input, output, task, id"],
    ),
    (
        "JSON list with trailing comma",
        "s.json",
        f"[\n  {OK},\n]\n".encode(),
        [f"P:3: json: {_json_error(f'[{OK},]')} (column 1)"],
    ),
    ("JSON list not closed", "s.json", f"[\n  {OK}\n".encode(), ["P:3: json: Expecting ',' delimiter (column 1)"]),
    (
        "JSON list element not an object",
        "s.json",
        f'[\n  {OK},\n  "oops"\n]'.encode(),
        ["P:3: record: expected a JSON object, got string"],
    ),
    (
        "pretty JSON list, bad element on line 6",
        "s.json",
        json.dumps([json.loads(OK), {"instruction": "a", "input": ""}], indent=2).encode(),
        ["P:7: output: missing required field"],
    ),
    (
        "duplicate id in a JSON list",
        "s.json",
        json.dumps([{**json.loads(OK), "id": "q"}, {**json.loads(OK), "id": "q"}], indent=1).encode(),
        ["P:8: id: duplicate id 'q' (first used on line 2)"],
    ),
    (
        "one pretty-printed object",
        "s.json",
        json.dumps(json.loads(OK), indent=2).encode(),
        ["P:1: file: one multi-line JSON object; expected one object per line (JSON Lines) or a JSON list of objects"],
    ),
    (
        "self-instruct: instances not a list",
        "s.jsonl",
        _line(instruction="a", instances="x").encode(),
        ["P:1: instances: expected a list of {input, output} objects, got string"],
    ),
    (
        "self-instruct: instances empty",
        "s.jsonl",
        _line(instruction="a", instances=[]).encode(),
        ["P:1: instances: empty list; give at least one {input, output} object"],
    ),
    (
        "self-instruct: instance without output",
        "s.jsonl",
        _line(instruction="a", instances=[{"input": "x", "output": "y"}, {"input": "z"}]).encode(),
        ["P:1: instances[1].output: missing required field"],
    ),
    (
        "self-instruct: instance not an object",
        "s.jsonl",
        _line(instruction="a", instances=["x"]).encode(),
        ["P:1: instances[0]: expected an object, got string"],
    ),
    (
        "self-instruct: is_classification not boolean",
        "s.jsonl",
        _line(instruction="a", instances=[{"input": "", "output": "y"}], is_classification="yes").encode(),
        ["P:1: is_classification: expected true or false, got string"],
    ),
    (
        "self-instruct: unknown instance field",
        "s.jsonl",
        _line(instruction="a", instances=[{"input": "", "output": "y", "label": 1}]).encode(),
        ["P:1: instances[0].label: unknown field; expected one of input, output"],
    ),
    (
        "mixture, every problem reported in line order",
        "s.jsonl",
        "\n".join(
            [
                _line(instruction="a", input="", output="b", id="d"),
                "{broken",
                "",
                '{"instruction": "\xff", "input": "", "output": "x"}',
                _line(instruction="", input=1, output="b", id="d"),
                _line(instruction="a", instances=[]),
            ]
        ).encode("latin-1"),
        [
            "P:2: json: Expecting property name enclosed in double quotes (column 2)",
            "P:4: encoding: not valid UTF-8 (byte 0xff at column 18); save the file as UTF-8",
            "P:5: instruction: empty; write the instruction",
            "P:5: input: expected a string, got number",
            "P:6: instances: empty list; give at least one {input, output} object",
        ],
    ),
]


@pytest.mark.parametrize(("name", "filename", "content", "expected"), MALFORMED, ids=[c[0] for c in MALFORMED])
def test_malformed_file_lists_every_problem(
    tmp_path: Path, name: str, filename: str, content: bytes, expected: list[str]
) -> None:
    path = tmp_path / filename
    path.write_bytes(content)
    before = sorted(tmp_path.rglob("*"))
    with pytest.raises(SeedFileError) as info:
        load_seeds(path)
    assert info.value.problems == [line.replace("P:", f"{path}:", 1) for line in expected]
    assert sorted(tmp_path.rglob("*")) == before  # nothing written


def test_at_least_thirty_malformed_cases() -> None:
    assert len(MALFORMED) >= 30


def test_check_seeds_command_exit_status(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good, bad = tmp_path / "good.jsonl", tmp_path / "bad.jsonl"
    good.write_text(OK + "\n")
    bad.write_text('{"instruction": "a"}\n')
    assert main([str(good)]) == 0
    assert main([str(good), str(bad)]) == 2
    err = capsys.readouterr().err.splitlines()
    assert err == [f"{bad}:1: input: missing required field", f"{bad}:1: output: missing required field"]


def test_missing_file_and_directory(tmp_path: Path) -> None:
    with pytest.raises(SeedFileError, match=r"missing\.jsonl: file: no such file"):
        load_seeds(tmp_path / "missing.jsonl")
    with pytest.raises(SeedFileError, match="is a directory"):
        load_seeds(tmp_path)


def test_jsonl_with_bom_blank_lines_and_default_ids() -> None:
    data = ("\ufeff" + OK + "\n\n" + _line(instruction="b", input="x", output="y", task="qa", id=9) + "\n").encode()
    seeds, problems = parse_seed_bytes(data, "s.jsonl")
    assert problems == []
    assert seeds == [Seed("Name the organ.", "", "liver", None, "line-1"), Seed("b", "x", "y", "qa", "9")]


def test_json_list_gets_line_numbers_of_elements() -> None:
    text = json.dumps([json.loads(OK), json.loads(OK)], indent=2)
    seeds, problems = parse_seed_bytes(text.encode(), "s.json")
    assert problems == []
    assert [s.id for s in seeds] == ["line-2", "line-7"]


def test_self_instruct_instances_become_seeds() -> None:
    record = {
        "id": "t",
        "instruction": "Sort.",
        "is_classification": True,
        "instances": [{"input": "b a", "output": "a b"}, {"input": "d c", "output": "c d"}],
    }
    seeds, problems = parse_seed_bytes(json.dumps(record).encode(), "s.jsonl")
    assert problems == []
    assert seeds == [
        Seed("Sort.", "b a", "a b", "classification", "t#1"),
        Seed("Sort.", "d c", "c d", "classification", "t#2"),
    ]


def test_real_self_instruct_seed_tasks(shared_data: Path) -> None:
    path = shared_data / "self_instruct_seed_tasks.jsonl"
    records = [json.loads(line) for line in path.read_text().splitlines()]
    seeds = load_seeds(path)
    assert len(records) == 175
    assert len(seeds) == sum(len(r["instances"]) for r in records)
    assert len({s.id for s in seeds}) == len(seeds)
    first = records[0]
    assert seeds[0].instruction == first["instruction"] and seeds[0].output == first["instances"][0]["output"]


def test_real_alpaca_records_load(shared_data: Path) -> None:
    seeds = load_seeds(shared_data / "alpaca_1k.jsonl")
    assert len(seeds) == 999
    assert any(s.input == "" for s in seeds) and any(s.input for s in seeds)


def test_shipped_example_seeds_are_valid(example_seeds: Path) -> None:
    seeds = load_seeds(example_seeds)
    assert len(seeds) >= 12
    assert len({s.task for s in seeds}) >= 8
