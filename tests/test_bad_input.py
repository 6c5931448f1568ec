"""Everything a user hands selfspec, malformed: one line per problem, naming the file (and line or
field) and what to change; the commands exit 2 and write nothing.

Each table row is ``(file name, content, expected fragments)``: every fragment must appear in the one
line, which must start with the file's path. Pure validators run where one exists (seeds, suites,
task and evaluation files, prompts files, corpora, adapters, model paths, eval reports); configs go
through ``selfspec.cli.run`` in-process, parse errors only, so the table stays fast.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from selfspec.cli import run as run_cli
from selfspec.errors import SelfSpecError

REPO = Path(__file__).resolve().parents[1]
SEED = '{"instruction": "Name a drug.", "input": "", "output": "Aspirin"}'

SEEDS = [
    ("empty.jsonl", "", [":1: file: empty"]),
    ("blank.jsonl", "\n\n", [":1: file: empty"]),
    ("list.jsonl", "[]", [":1: file: holds no seeds"]),
    ("notjson.jsonl", "not json\n", [":1: json: Expecting value"]),
    ("trunc.jsonl", '{"instruction": "a"\n', [":1: json:"]),
    ("array.jsonl", "[1]\n", [":1: record: expected a JSON object, got number"]),
    ("string.jsonl", '"a seed"\n', [":1: record: expected a JSON object, got string"]),
    ("noinstr.jsonl", '{"input": "", "output": "x"}\n', [":1: instruction: missing required field"]),
    ("noout.jsonl", '{"instruction": "a", "input": ""}\n', [":1: output: missing required field"]),
    ("noinput.jsonl", '{"instruction": "a", "output": "b"}\n', [":1: input: missing required field"]),
    ("emptyout.jsonl", '{"instruction": "a", "input": "", "output": " "}\n', [":1: output: empty; write the output"]),
    ("emptyinstr.jsonl", '{"instruction": "", "input": "", "output": "b"}\n', [":1: instruction: empty"]),
    ("numout.jsonl", '{"instruction": "a", "input": "", "output": 3}\n', [":1: output: expected a string, got number"]),
    ("listin.jsonl", '{"instruction": "a", "input": [], "output": "b"}\n', [":1: input: expected a string, got list"]),
    (
        "typo.jsonl",
        '{"instruction": "a", "input": "", "output": "b", "inptu": ""}\n',
        [":1: inptu: unknown field; did"],
    ),
    ("task.jsonl", '{"instruction": "a", "input": "", "output": "b", "task": 5}\n', [":1: task: expected a string"]),
    ("dupid.jsonl", f'{SEED[:-1]}, "id": "x"}}\n{SEED[:-1]}, "id": "x"}}\n', [":2: id: duplicate id 'x'"]),
    ("badutf8.jsonl", b'{"instruction": "\xff", "input": "", "output": "b"}\n', [":1: encoding: not valid UTF-8"]),
    ("inst.jsonl", '{"instruction": "a", "instances": {}}\n', [":1: instances: expected a list"]),
    ("inst0.jsonl", '{"instruction": "a", "instances": []}\n', [":1: instances: empty list"]),
    ("inst1.jsonl", '{"instruction": "a", "instances": [{"input": ""}]}\n', [":1: instances[0].output: missing"]),
    ("inst2.jsonl", '{"instruction": "a", "instances": [3]}\n', [":1: instances[0]: expected an object"]),
    (
        "isclass.jsonl",
        '{"instruction": "a", "instances": [{"input": "", "output": "b"}], "is_classification": 1}\n',
        [":1: is_classification: expected true or false"],
    ),
    ("pretty.jsonl", '{\n "instruction": "a",\n "input": "",\n "output": "b"\n}\n', [":1: file: one multi-line"]),
    ("badlist.json", '[{"instruction": "a"},\n', [":2: json:"]),
]

SUITE_TASK = '{"instruction": "q", "answers": ["a"]}\n'
SUITES = [
    ("empty.yaml", "", [":1: suite: expected a YAML list"]),
    ("map.yaml", "name: t\n", [":1: suite: expected a YAML list"]),
    ("yamlerr.yaml", "- name: [t\n", [":2: yaml:"]),
    ("scalar.yaml", "- just a string\n", [":1: task: expected a mapping"]),
    ("noname.yaml", "- {kind: label, path: t.jsonl}\n", [":1: name: expected a name"]),
    ("badname.yaml", "- {name: 'a b', kind: label, path: t.jsonl}\n", [":1: name: expected a name of letters"]),
    ("kind.yaml", "- name: t\n  kind: labels\n  path: t.jsonl\n", [":2: kind: expected one of label"]),
    ("nosource.yaml", "- {name: t, kind: label}\n", [":1: path: give exactly one of path"]),
    ("both.yaml", "- {name: t, kind: label, path: t.jsonl, dataset: {path: x}}\n", [":1: path: give exactly one"]),
    ("pathnum.yaml", "- name: t\n  kind: label\n  path: 3\n", [":3: path: expected a file path string"]),
    ("dataset.yaml", "- name: t\n  kind: label\n  dataset: x\n", [":3: dataset: expected a mapping"]),
    ("dskey.yaml", "- name: t\n  kind: label\n  dataset: {path: x, splt: a}\n", [":3: dataset.splt: unknown field"]),
    (
        "unknown.yaml",
        "- name: t\n  kind: label\n  path: t.jsonl\n  limt: 3\n",
        [":4: limt: unknown field; did you mean"],
    ),
    (
        "limit.yaml",
        "- name: t\n  kind: label\n  path: t.jsonl\n  limit: 0\n",
        [":4: limit: expected a positive integer"],
    ),
    ("instr.yaml", "- name: t\n  kind: label\n  path: t.jsonl\n  instruction: ''\n", [":4: instruction: expected a"]),
    ("fields.yaml", "- name: t\n  kind: label\n  path: t.jsonl\n  fields: x\n", [":4: fields: expected a mapping"]),
    ("fkey.yaml", "- name: t\n  kind: label\n  path: t.jsonl\n  fields: {answer: a}\n", [":4: fields.answer: unknown"]),
    ("fval.yaml", "- name: t\n  kind: label\n  path: t.jsonl\n  fields: {answers: 3}\n", [":4: fields: column names"]),
    (
        "dup.yaml",
        "- {name: t, kind: label, path: t.jsonl}\n- {name: t, kind: label, path: t.jsonl}\n",
        [":2: name: duplicate task name 't'"],
    ),
]

TASKS = [
    ("empty.jsonl", "", [":1: file: holds no records"]),
    ("json.jsonl", "{bad\n", [":1: json:"]),
    ("list.jsonl", "[1]\n", [":1: record: expected a JSON object"]),
    ("noanswers.jsonl", '{"instruction": "q", "answer": "a"}\n', [":1: answers: missing required field; did you mean"]),
    ("noinstr.jsonl", '{"answers": "a"}\n', [":1: instruction: missing required field"]),
    ("instrnum.jsonl", '{"instruction": 1, "answers": "a"}\n', [":1: instruction: expected a string"]),
    ("emptyinstr.jsonl", '{"instruction": " ", "answers": "a"}\n', [":1: instruction: empty"]),
    ("inputnum.jsonl", '{"instruction": "q", "input": 2, "answers": "a"}\n', [":1: input: expected a string"]),
    ("answersnum.jsonl", '{"instruction": "q", "answers": 3}\n', [":1: answers: expected a string or a list"]),
    ("answersmix.jsonl", '{"instruction": "q", "answers": ["a", 3]}\n', [":1: answers: expected a string or a list"]),
    ("answersempty.jsonl", '{"instruction": "q", "answers": [" "]}\n', [":1: answers: no non-empty gold answer"]),
    (
        "dupid.jsonl",
        '{"instruction": "q", "answers": "a", "id": 1}\n{"instruction": "r", "answers": "b", "id": 1}\n',
        [":2: id: duplicate id '1'"],
    ),
    ("utf8.jsonl", b'{"instruction": "q", "answers": "\xfe"}\n', [":1: encoding: not valid UTF-8"]),
]

PROMPTS = [
    ("json.jsonl", "nope\n", [":1: not JSON"]),
    ("list.jsonl", "[1]\n", [":1: expected a JSON object"]),
    ("noinstr.jsonl", '{"input": "x"}\n', [":1: instruction: must be a non-empty string"]),
    ("emptyinstr.jsonl", '{"instruction": ""}\n', [":1: instruction: must be a non-empty string"]),
    ("inputnum.jsonl", '{"instruction": "q", "input": 1}\n', [":1: input: must be a string"]),
    ("expertnum.jsonl", '{"instruction": "q", "expert": 1}\n', [":1: expert: must be an adapter name or null"]),
    ("second.jsonl", '{"instruction": "q"}\n{"instruction": 2}\n', [":2: instruction:"]),
    ("empty.jsonl", "\n", [": no requests in the file"]),
]

CORPORA = [
    ("json.jsonl", '{"text": "a"}\nnot json\n', [":2: json:"]),
    ("list.jsonl", "[1, 2]\n", [":1: record: expected a JSON object"]),
    ("notext.jsonl", '{"id": 1}\n', [":1: text: missing or empty"]),
    ("emptytext.jsonl", '{"text": "  "}\n', [":1: text: missing or empty"]),
    ("numtext.jsonl", '{"text": 5}\n', [":1: text: expected a string"]),
    ("utf8.jsonl", b'{"text": "a"}\n{"text": "\xff"}\n', [":2: encoding: not valid UTF-8"]),
    ("utf8.txt", b"a passage\n\n\xff\n", [":3: encoding: not valid UTF-8"]),
    ("blank.txt", "\n\n\n", ["no passages found"]),
    ("empty.jsonl", "", ["no passages found"]),
]

REPORTS = [
    ("json.json", "{", ["not an evaluation report"]),
    ("norows.json", '{"meta": {}}', ["not an evaluation report"]),
    ("list.json", "[]", ["not an evaluation report"]),
]


def _problems(call: Callable[[], object]) -> list[str]:
    """The lines a validator reports: its returned problems, or its error's lines."""
    try:
        result = call()
    except SelfSpecError as err:
        return str(err).splitlines()
    problems = result[1] if isinstance(result, tuple) else []
    return list(problems)


def _check(lines: list[str], path: Path, fragments: list[str]) -> None:
    assert len(lines) == 1, f"expected one line for {path.name}, got {lines}"
    line = lines[0]
    assert str(path) in line, f"{line!r} does not name {path}"
    for fragment in fragments:
        assert fragment in line, f"{fragment!r} not in {line!r}"


def _write(tmp_path: Path, name: str, content: str | bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    return path


@pytest.mark.parametrize(("name", "content", "fragments"), SEEDS, ids=[c[0] for c in SEEDS])
def test_seed_files(tmp_path: Path, name: str, content: str | bytes, fragments: list[str]) -> None:
    from selfspec.seeds import load_seeds

    path = _write(tmp_path, name, content)
    _check(_problems(lambda: load_seeds(path)), path, fragments)


@pytest.mark.parametrize(("name", "content", "fragments"), SUITES, ids=[c[0] for c in SUITES])
def test_suites(tmp_path: Path, name: str, content: str, fragments: list[str]) -> None:
    from selfspec.evaluation.suite import load_suite

    _write(tmp_path, "t.jsonl", SUITE_TASK)
    path = _write(tmp_path, name, content)
    _check(_problems(lambda: load_suite(path)), path, fragments)


@pytest.mark.parametrize(("name", "content", "fragments"), TASKS, ids=[c[0] for c in TASKS])
def test_task_and_evaluation_files(tmp_path: Path, name: str, content: str | bytes, fragments: list[str]) -> None:
    from selfspec.evaluation.suite import load_suite

    path = _write(tmp_path, name, content)
    suite = _write(tmp_path, "suite.yaml", f"- {{name: t, kind: label, path: {name}}}\n")
    _check(_problems(lambda: load_suite(suite)), path, fragments)


@pytest.mark.parametrize(("name", "content", "fragments"), PROMPTS, ids=[c[0] for c in PROMPTS])
def test_prompts_files(tmp_path: Path, name: str, content: str, fragments: list[str]) -> None:
    from selfspec.experts_cli import parse_requests

    path = _write(tmp_path, name, content)
    _check(_problems(lambda: parse_requests(content, str(path), None)), path, fragments)


@pytest.mark.parametrize(("name", "content", "fragments"), CORPORA, ids=[c[0] for c in CORPORA])
def test_corpora(tmp_path: Path, name: str, content: str | bytes, fragments: list[str]) -> None:
    from selfspec.generation.retrieval import load_corpus

    path = _write(tmp_path, name, content)
    _check(_problems(lambda: load_corpus(path)), path, fragments)


@pytest.mark.parametrize(("name", "content", "fragments"), REPORTS, ids=[c[0] for c in REPORTS])
def test_evaluation_reports(
    tmp_path: Path, name: str, content: str, fragments: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    from selfspec.eval_chart_cli import main

    path = _write(tmp_path, name, content)
    assert main([str(path), "--out", str(tmp_path / "chart.png")]) == 2
    _check(capsys.readouterr().err.splitlines(), path, fragments)
    assert not (tmp_path / "chart.png").exists()


def _adapter_dir(tmp_path: Path, case: str) -> Path:
    path = tmp_path / "adapter"
    if case == "missing":
        return path
    path.mkdir()
    if case in ("no weights", "bad json"):
        (path / "adapter_config.json").write_text("{" if case == "bad json" else json.dumps({"r": 8}))
    if case == "bad json":
        (path / "adapter_model.safetensors").write_bytes(b"")
    if case == "a file":
        path.rmdir()
        path.write_text("x")
    return path


@pytest.mark.parametrize(
    ("case", "fragment"),
    [
        ("missing", "no such directory"),
        ("empty", "no adapter_config.json there"),
        ("no weights", "no adapter_model.safetensors there"),
        ("bad json", "unreadable adapter record"),
        ("a file", "no such directory"),
    ],
)
def test_adapters(tmp_path: Path, case: str, fragment: str) -> None:
    from selfspec.modeling.compat import describe_adapter

    path = _adapter_dir(tmp_path, case)
    _check(_problems(lambda: describe_adapter(path)), path, [fragment])


@pytest.mark.parametrize(
    ("case", "fragment"),
    [("dir", "is a directory without config.json"), ("relative", "no such directory"), ("deep", "no such directory")],
)
def test_model_paths(tmp_path: Path, case: str, fragment: str) -> None:
    from selfspec.modeling.loading import resolve_model_source

    path = {"dir": tmp_path, "relative": tmp_path / "missing", "deep": tmp_path / "a" / "b" / "c"}[case]
    if case == "dir":
        (tmp_path / "weights.bin").write_bytes(b"")
    _check(_problems(lambda: resolve_model_source(str(path))), path, [fragment])


FIT_CONFIGS = [
    ("unknown_group.yaml", "trainerr: {max_epochs: 1}\n", ["trainerr.max_epochs: unknown option"]),
    ("unknown_model.yaml", "model: {lerning_rate: 0.1}\n", ["model.lerning_rate: unknown option"]),
    ("unknown_lora.yaml", "model: {lora: {rr: 8}}\n", ["model.lora.rr: unknown option"]),
    ("unknown_data.yaml", "data: {seed_path: x.jsonl}\n", ["data.seed_path: unknown option"]),
    ("lr_type.yaml", "model: {learning_rate: fast}\n", ["model.learning_rate: expected float"]),
    ("r_type.yaml", "model: {lora: {r: many}}\n", ["model.lora.r: expected int"]),
    ("batch_type.yaml", "data: {batch_size: four}\n", ["data.batch_size: expected int"]),
    ("quant.yaml", "model: {quantization: nf8}\n", ["model.quantization:"]),
    ("overflow.yaml", "data: {overflow: cut}\n", ["data.overflow:"]),
    ("epochs_type.yaml", "trainer: {max_epochs: three}\n", ["trainer.max_epochs:"]),
    ("yaml.yaml", "model: [1, 2\n", [":2: yaml: did not find expected"]),
    ("yaml_tab.yaml", "model:\n\tlearning_rate: 1\n", [": yaml:"]),
]

FIT_VALUES = [
    ("lora_r.yaml", "model: {lora: {r: 0}}\n", ["--model.lora.r must be a positive integer"]),
    ("dropout.yaml", "model: {lora: {dropout: 1.5}}\n", ["--model.lora.dropout must be in [0, 1)"]),
    ("alpha.yaml", "model: {lora: {alpha: 0}}\n", ["--model.lora.alpha must be positive"]),
    ("lr.yaml", "model: {learning_rate: -1}\n", ["--model.learning_rate must be positive"]),
    ("warmup.yaml", "model: {warmup_ratio: 1.0}\n", ["--model.warmup_ratio must be in [0, 1)"]),
    ("ebs.yaml", "model: {effective_batch_size: 0}\n", ["--model.effective_batch_size must be at least 1"]),
    ("val.yaml", "data: {val_fraction: 1.0}\n", ["--data.val_fraction must be in [0, 1)"]),
    ("maxlen.yaml", "data: {max_length: 1}\n", ["--data.max_length must be at least 2"]),
    ("batch.yaml", "data: {batch_size: 0}\n", ["--data.batch_size must be at least 1"]),
    (
        "ninstr.yaml",
        "data: {generation: {num_instructions: -1}}\n",
        ["--data.generation.num_instructions must be >= 0"],
    ),
    ("moved.yaml", "data: {generation_seed: 1}\n", ["data.generation_seed: moved to data.generation.seed"]),
    (
        "renamed_callback.yaml",
        "trainer: {callbacks: [{class_path: selfspec.callbacks.progress.LogProgress}]}\n",
        ["class_path selfspec.callbacks.progress.LogProgress: moved to selfspec.callbacks.progress_bar.LogProgress"],
    ),
]


def _files(root: Path) -> list[Path]:
    return sorted(p.relative_to(root) for p in root.rglob("*"))


@pytest.mark.parametrize(("name", "content", "fragments"), FIT_CONFIGS, ids=[c[0] for c in FIT_CONFIGS])
def test_fit_configs_that_do_not_parse(
    tmp_path: Path,
    name: str,
    content: str,
    fragments: list[str],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(tmp_path)
    path = _write(tmp_path, name, content)
    before = _files(tmp_path)
    assert run_cli(["fit", "--config", str(path), "--print_config"]) == 2
    _check(capsys.readouterr().err.strip().splitlines(), path, fragments)
    assert _files(tmp_path) == before


@pytest.mark.parametrize(("name", "content", "fragments"), FIT_VALUES, ids=[c[0] for c in FIT_VALUES])
def test_fit_configs_with_impossible_values(
    tmp_path: Path,
    name: str,
    content: str,
    fragments: list[str],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(tmp_path)
    path = _write(tmp_path, name, content)
    before = _files(tmp_path)
    assert run_cli(["fit", "--config", str(path)]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and all(f in lines[0] for f in fragments), lines
    assert _files(tmp_path) == before


ROUNDS_CONFIGS = [
    ("unknown.yaml", "fit_config: f.yaml\nsuite: s.yaml\nround: 2\n", ["round: unknown option"]),
    ("type.yaml", "fit_config: f.yaml\nsuite: s.yaml\nrounds: two\n", ["rounds: expected int"]),
    ("eval.yaml", "fit_config: f.yaml\nsuite: s.yaml\nevaluation: {shot: [0]}\n", ["evaluation.shot: unknown"]),
    ("yaml.yaml", "fit_config: [f.yaml\n", [": yaml:"]),
]


@pytest.mark.parametrize(("name", "content", "fragments"), ROUNDS_CONFIGS, ids=[c[0] for c in ROUNDS_CONFIGS])
def test_rounds_configs(
    tmp_path: Path,
    name: str,
    content: str,
    fragments: list[str],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from selfspec.rounds_cli import main

    monkeypatch.chdir(tmp_path)
    path = _write(tmp_path, name, content)
    before = _files(tmp_path)
    assert run_cli(["--config", str(path)], main) == 2
    _check(capsys.readouterr().err.strip().splitlines(), path, fragments)
    assert _files(tmp_path) == before


def test_the_table_has_at_least_100_cases() -> None:
    tables = (SEEDS, SUITES, TASKS, PROMPTS, CORPORA, REPORTS, FIT_CONFIGS, FIT_VALUES, ROUNDS_CONFIGS)
    assert sum(len(t) for t in tables) + 5 + 3 >= 100  # + adapters + model paths
