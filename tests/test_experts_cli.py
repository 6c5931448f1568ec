"""``selfspec-experts``, called in-process: answers as JSON lines, and one-line errors with exit status 2."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from selfspec.cli import run
from selfspec.errors import ConfigError, RequestFileError
from selfspec.experts import check_names
from selfspec.experts_cli import main, parse_requests
from selfspec.modeling.compat import common_base, common_template, describe_adapter

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _run(args: list[str]) -> int:
    return run(args, main)


def _adapter_args(adapters: dict[str, Path]) -> list[str]:
    return [arg for name, path in adapters.items() for arg in (f"--adapters.{name}", str(path))]


def _edited_copy(adapter: Path, dest: Path, **meta: str) -> Path:
    shutil.copytree(adapter, dest)
    record = json.loads((dest / "selfspec_adapter.json").read_text())
    (dest / "selfspec_adapter.json").write_text(json.dumps({**record, **meta}))
    return dest


def test_one_prompt_prints_one_json_line(two_adapters: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    args = [*_adapter_args(two_adapters), "--expert", "bio", "--prompt", "List two diseases.", "--max_new_tokens", "6"]
    assert _run(args) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 1
    row = json.loads(lines[0])
    assert row["expert"] == "bio" and row["instruction"] == "List two diseases." and isinstance(row["output"], str)


def test_prompts_file_mixes_experts_and_writes_answers_in_order(two_adapters: dict[str, Path], tmp_path: Path) -> None:
    requests = [
        {"id": "q1", "instruction": "What is insulin?"},
        {"id": "q2", "instruction": "What is a bond?", "expert": "fin"},
        {"id": "q3", "instruction": "Say hello.", "expert": None},
    ]
    prompts = tmp_path / "prompts.jsonl"
    prompts.write_text("".join(json.dumps(r) + "\n" for r in requests))
    out = tmp_path / "answers.jsonl"
    args = [*_adapter_args(two_adapters), "--expert", "bio", "--prompts_file", str(prompts), "--output", str(out)]
    assert _run([*args, "--max_new_tokens", "6"]) == 0
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [(r["id"], r["expert"]) for r in rows] == [("q1", "bio"), ("q2", "fin"), ("q3", None)]


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("missing", "error: adapter 'law' ({path}): no such directory"),
        ("not_peft", "error: adapter 'law' ({path}): no adapter_config.json there (not a PEFT adapter directory)"),
        ("other_base", "error: adapter 'law' ({path}) was trained on base model 'org/other-model', but adapter 'bio'"),
        (
            "other_template",
            "error: adapter 'law' ({path}) was trained with prompt template 'chatml', but adapter 'bio'",
        ),
        ("unknown_expert", "error: --expert 'tax': no such adapter; given: bio, law"),
    ],
)
def test_bad_adapters_are_one_line_errors_with_exit_2(
    case: str, message: str, two_adapters: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    law = tmp_path / "law"
    if case == "not_peft":
        law.mkdir()
    elif case == "other_base":
        _edited_copy(two_adapters["fin"], law, base_model="org/other-model")
    elif case == "other_template":
        _edited_copy(two_adapters["fin"], law, template="chatml")
    elif case == "unknown_expert":
        law = two_adapters["fin"]
    expert = "tax" if case == "unknown_expert" else "bio"
    args = ["--adapters.bio", str(two_adapters["bio"]), "--adapters.law", str(law), "--expert", expert]
    assert _run([*args, "--prompt", "hi"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    assert err.startswith(message.format(path=law)), err


@pytest.mark.parametrize(
    ("adapters", "message"),
    [({}, "no adapters given"), ({"law.v2": "x"}, "adapter name 'law.v2': use letters"), ({"9": "x"}, "name '9'")],
)
def test_adapter_names_must_suit_peft(adapters: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        check_names(adapters)


def test_bad_prompts_file_lists_every_bad_line() -> None:
    text = '{"instruction": "ok"}\nnot json\n{"input": "x"}\n\n{"instruction": "y", "expert": 3}\n'
    with pytest.raises(RequestFileError) as caught:
        parse_requests(text, "p.jsonl", None)
    assert [p.split(": ")[0] for p in caught.value.problems] == ["p.jsonl:2", "p.jsonl:3", "p.jsonl:5"]
    assert "instruction: must be a non-empty string" in caught.value.problems[1]


def test_requests_default_to_the_command_line_expert_unless_they_name_one() -> None:
    text = '{"instruction": "a"}\n{"instruction": "b", "expert": null}\n{"instruction": "c", "expert": "fin"}\n'
    assert [r.expert for r in parse_requests(text, "p.jsonl", "bio")] == ["bio", None, "fin"]


def test_prompt_and_prompts_file_are_exclusive(
    two_adapters: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    assert _run(_adapter_args(two_adapters)) == 2
    assert "Give exactly one of --prompt and --prompts_file" in capsys.readouterr().err


def test_compatibility_is_read_from_the_records(two_adapters: dict[str, Path], tmp_path: Path) -> None:
    infos = [describe_adapter(path, name) for name, path in two_adapters.items()]
    assert common_template(infos) == "alpaca"
    assert common_base(infos) == infos[0].base_model
    moved = str(tmp_path)  # another name for the base is announced, not refused
    assert common_base(infos, moved) == moved


@pytest.mark.parametrize("command", ["experts", "export"])
def test_help_documents_every_option(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    import inspect

    from docstring_parser import parse

    from selfspec import experts_cli, export_cli

    module = experts_cli if command == "experts" else export_cli
    function = getattr(module, command)
    with pytest.raises(SystemExit) as stop:
        module.main(["--help"])
    assert stop.value.code == 0
    help_text = " ".join(capsys.readouterr().out.split())
    docs = {p.arg_name: p.description or "" for p in parse(inspect.getdoc(function) or "").params}
    for name in inspect.signature(function).parameters:
        assert f"--{name} " in help_text, name
        assert " ".join(docs[name].split()[:4]) in help_text, f"--{name} is undocumented"
