"""An adapter put on a base it was not trained on, or an incomplete adapter folder, is refused in one line
(naming the adapter and both bases) with exit status 2 by every entry point that takes an adapter,
before any adapter weight is loaded (no PyTorch size-mismatch traceback)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from selfspec.cli import run
from selfspec.experts_cli import main as experts_main
from selfspec.export_cli import main as export_main
from selfspec.modeling.adapters import LoraSettings, add_lora, check_adapter_for_base, load_base, write_adapter_meta
from selfspec.modeling.builtin import TinyLlamaSpec, build_tiny_llama
from selfspec.modeling.compat import shape_problem
from selfspec.rounds_cli import main as rounds_main

REPO = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def wide_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny Llama twice as wide as ``tiny_model_dir``: same architecture, other shapes."""
    return build_tiny_llama(tmp_path_factory.mktemp("wide"), TinyLlamaSpec(hidden_size=128, intermediate_size=256))


@pytest.fixture(scope="module")
def foreign_adapter(wide_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A LoRA adapter of the wide model (untrained: its shapes are what matters), exported like selfspec does."""
    out = tmp_path_factory.mktemp("foreign") / "adapter"
    model = add_lora(load_base(str(wide_model_dir), "none"), LoraSettings())
    model.save_pretrained(str(out))
    write_adapter_meta(out, {"template": "alpaca", "base_model": str(wide_model_dir), "quantization": "none"})
    return out


def _one_line(capsys: pytest.CaptureFixture[str]) -> str:
    """The one error line (progress lines such as ``selfspec: data: ...`` may come before it)."""
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "Traceback" not in err, err
    return errors[0]


def _assert_names_both(line: str, adapter: Path, trained_on: Path, loaded: str) -> None:
    assert str(adapter) in line and repr(str(trained_on)) in line and repr(loaded) in line, line
    assert "does not fit" in line and "Traceback" not in line


def _fit_args(base: Path, adapter: Path, out: Path) -> list[str]:
    return [
        "--model.base_model", str(base), "--model.quantization", "none", "--model.adapter", str(adapter),
        "--data.seeds_path", str(REPO / "data/seeds/example.jsonl"), "--data.val_fraction", "0.25",
        "--trainer.max_steps", "1", "--trainer.logger", "false", "--trainer.enable_checkpointing", "false",
        "--trainer.default_root_dir", str(out),
    ]  # fmt: skip


@pytest.mark.parametrize("subcommand", ["fit", "validate", "test"])
def test_lightning_subcommands_refuse_a_foreign_adapter(
    subcommand: str,
    tiny_model_dir: Path,
    wide_model_dir: Path,
    foreign_adapter: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert run([subcommand, *_fit_args(tiny_model_dir, foreign_adapter, tmp_path)]) == 2
    _assert_names_both(_one_line(capsys), foreign_adapter, wide_model_dir, str(tiny_model_dir))


def test_experts_refuse_a_foreign_adapter(
    tiny_model_dir: Path,
    wide_model_dir: Path,
    foreign_adapter: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    args = ["--adapters.wide", str(foreign_adapter), "--base_model", str(tiny_model_dir)]
    args += ["--expert", "wide", "--prompt", "Hi"]
    assert run(args, experts_main) == 2
    line = _one_line(capsys)
    _assert_names_both(line, foreign_adapter, wide_model_dir, str(tiny_model_dir))


def test_export_refuses_a_foreign_adapter(
    tiny_model_dir: Path,
    wide_model_dir: Path,
    foreign_adapter: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    args = ["--adapter", str(foreign_adapter), "--base_model", str(tiny_model_dir), "--output", str(tmp_path / "m")]
    assert run(args, export_main) == 2
    _assert_names_both(_one_line(capsys), foreign_adapter, wide_model_dir, str(tiny_model_dir))
    assert not (tmp_path / "m").exists()


@pytest.mark.parametrize("key", ["model.adapter", "data.generation.response_adapter"])
def test_rounds_refuses_a_foreign_adapter_before_any_step(
    key: str,
    tiny_model_dir: Path,
    wide_model_dir: Path,
    foreign_adapter: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    *sections, name = key.split(".")
    fit: dict = {"model": {"base_model": str(tiny_model_dir)}, "data": {"generation": {}}}
    part = fit
    for section in sections:
        part = part[section]
    part[name] = str(foreign_adapter)
    (tmp_path / "fit.yaml").write_text(yaml.safe_dump(fit))
    args = ["--fit_config", str(tmp_path / "fit.yaml"), "--suite", str(REPO / "data/eval/example/suite.yaml")]
    assert run([*args, "--root", str(tmp_path / "runs")], rounds_main) == 2
    line = _one_line(capsys)
    _assert_names_both(line, foreign_adapter, wide_model_dir, str(tiny_model_dir))
    assert not (tmp_path / "runs" / "rounds" / "lineage.json").exists()


@pytest.mark.parametrize(
    ("remove", "message"),
    [
        ("adapter_model.safetensors", "no adapter_model.safetensors there"),
        ("adapter_config.json", "no adapter_config.json there (not a PEFT adapter directory)"),
    ],
)
def test_an_incomplete_adapter_folder_is_one_line(
    remove: str,
    message: str,
    tiny_model_dir: Path,
    two_adapters: dict[str, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    adapter = shutil.copytree(two_adapters["bio"], tmp_path / "adapter")
    (adapter / remove).unlink()
    assert run(["validate", *_fit_args(tiny_model_dir, adapter, tmp_path)]) == 2
    line = _one_line(capsys)
    assert str(adapter) in line and message in line, line


def test_a_fitting_adapter_passes_the_check(tiny_model_dir: Path, two_adapters: dict[str, Path]) -> None:
    check_adapter_for_base(two_adapters["bio"], str(tiny_model_dir))  # raises if refused


@pytest.mark.parametrize(
    ("adapter", "problem"),
    [
        ({"base_model.model.q.lora_A.weight": (8, 64), "base_model.model.q.lora_B.weight": (32, 8)}, None),
        ({"base_model.model.q.lora_A.weight": (8, 128)}, "q has 64 inputs here, the adapter expects 128"),
        ({"base_model.model.q.lora_B.weight": (64, 8)}, "q has 32 outputs here, the adapter expects 64"),
        ({"base_model.model.k.lora_A.weight": (8, 64)}, "it adapts k, which this model does not have"),
    ],
)
def test_shape_problem(adapter: dict[str, tuple[int, ...]], problem: str | None) -> None:
    assert shape_problem({"q": (64, 32)}, adapter) == problem
