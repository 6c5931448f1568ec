"""The ``selfspec`` command, called in-process as a user would call it."""

from __future__ import annotations

import inspect
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from selfspec.cli import run as run_cli
from selfspec.data.module import SelfSpecDataModule
from selfspec.modeling.adapters import LoraSettings
from selfspec.specialist import SpecialistModule

REPO = Path(__file__).resolve().parents[1]
QUICKSTART = REPO / "configs" / "tiny_llama.yaml"


def _files(root: Path) -> list[Path]:
    return sorted(p.relative_to(root) for p in root.rglob("*"))


def test_help_lists_the_subcommands(capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli(["--help"]) == 0
    out = capsys.readouterr().out
    assert all(name in out for name in ("fit", "validate", "test", "predict"))
    assert "domain expert" in out


def _documented(cls: type) -> dict[str, str]:
    from docstring_parser import parse

    doc = parse(inspect.getdoc(cls.__init__) if cls is not LoraSettings else inspect.getdoc(cls) or "")
    return {p.arg_name: p.description or "" for p in doc.params}


@pytest.mark.parametrize(
    ("prefix", "cls"), [("model", SpecialistModule), ("data", SelfSpecDataModule), ("model.lora", LoraSettings)]
)
def test_fit_help_documents_every_option(prefix: str, cls: type, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli(["fit", "--help"]) == 0
    help_text = " ".join(capsys.readouterr().out.split())
    docs = _documented(cls)
    params = [p for p in inspect.signature(cls).parameters if p != "self"]
    assert params and set(params) <= set(docs), f"undocumented arguments: {set(params) - set(docs)}"
    for name in params:
        if cls is SpecialistModule and name == "lora":
            continue  # a group: its fields are checked on their own
        linked = f"--> {prefix}.{name}" in help_text
        assert linked or f"--{prefix}.{name} " in help_text, f"--{prefix}.{name} missing from fit --help"
        words = " ".join(docs[name].split()[:4]).replace("``", "")
        assert words.replace("``", "") in help_text.replace("``", ""), f"doc of {prefix}.{name} missing"


def test_fit_trains_and_saves_resolved_config_beside_outputs(
    tmp_path: Path, tiny_model_dir: Path, example_seeds: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    args = [
        "fit",
        "--config",
        str(QUICKSTART),
        "--model.base_model",
        str(tiny_model_dir),
        "--data.seeds_path",
        str(example_seeds),
        "--trainer.max_epochs",
        "1",
    ]
    assert run_cli(args) == 0
    run = tmp_path / "lightning_logs" / "tiny_llama" / "version_0"
    names = {p.name for p in run.iterdir()}
    assert {"config.yaml", "metrics.csv", "summary.json", "hparams.yaml"} <= names
    assert any(n.startswith("events.out.tfevents") for n in names)
    config = yaml.safe_load((run / "config.yaml").read_text())
    assert config["model"]["base_model"] == str(tiny_model_dir)  # data.base_model is linked to it
    assert config["model"]["quantization"] == "nf4" and config["model"]["lora"]["r"] == 8
    assert "train/loss" in (run / "metrics.csv").read_text().splitlines()[0]
    saved = (run / "config.yaml").read_bytes()
    assert run_cli(args) == 0  # a second run gets its own directory and leaves the first alone
    assert (run.parent / "version_1" / "config.yaml").is_file()
    assert (run / "config.yaml").read_bytes() == saved
    # ... and its own checkpoints (no last-v1.ckpt beside the first run's last.ckpt)
    assert (run / "checkpoints" / "last.ckpt").is_file() and (
        run.parent / "version_1" / "checkpoints" / "last.ckpt"
    ).is_file()
    assert not list(tmp_path.rglob("last-v*.ckpt"))


def test_bad_seed_file_exits_2_with_every_problem_and_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"instruction": "a", "input": "", "output": ""}\nnot json\n{"instruction": "b"}\n')
    before = _files(tmp_path)
    assert run_cli(["fit", "--config", str(QUICKSTART), "--data.seeds_path", str(bad)]) == 2
    assert capsys.readouterr().err.splitlines()[-4:] == [
        f"{bad}:1: output: empty; write the output",
        f"{bad}:2: json: Expecting value (column 1)",
        f"{bad}:3: input: missing required field",
        f"{bad}:3: output: missing required field",
    ]
    assert _files(tmp_path) == before


def test_unreachable_model_exits_2_before_writing_anything(
    tmp_path: Path, example_seeds: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    code = run_cli(
        [
            "fit",
            "--config",
            str(QUICKSTART),
            "--data.seeds_path",
            str(example_seeds),
            "--model.base_model",
            "meta-llama/Llama-2-7b-hf",
        ]
    )
    assert code == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert re.match(r"error: base_model 'meta-llama/Llama-2-7b-hf' is not a local directory", err)
    assert _files(tmp_path) == []


@pytest.mark.parametrize(
    ("flag", "value", "message"),
    [
        ("--model.lora.r", "0", "--model.lora.r must be a positive integer, got 0"),
        ("--model.lora.dropout", "1.5", "--model.lora.dropout must be in [0, 1), got 1.5"),
        ("--data.val_fraction", "1.0", "--data.val_fraction must be in [0, 1), got 1.0"),
        ("--data.batch_size", "0", "--data.batch_size must be at least 1, got 0"),
    ],
)
def test_bad_option_value_names_the_flag(
    flag: str,
    value: str,
    message: str,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(tmp_path)
    assert run_cli(["fit", "--config", str(QUICKSTART), flag, value]) == 2
    assert capsys.readouterr().err.strip().splitlines()[-1] == f"error: {message}"
    assert _files(tmp_path) == []


def test_console_script_is_installed() -> None:
    script = Path(sys.executable).with_name("selfspec")
    result = subprocess.run([str(script), "fit", "--help"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 and "--data.seeds_path" in result.stdout
