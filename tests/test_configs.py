"""Every shipped config parses and instantiates through the CLI, without loading any weights."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import yaml

from selfspec.cli import build_cli
from selfspec.data.module import SelfSpecDataModule
from selfspec.specialist import SpecialistModule

REPO = Path(__file__).resolve().parents[1]
ALL = sorted((REPO / "configs").rglob("*.yaml"))


def _kind(path: Path) -> str:
    """``rounds`` (selfspec-rounds), ``suite`` (an evaluation suite: a list of tasks) or ``cli`` (selfspec)."""
    content = yaml.safe_load(path.read_text())
    if isinstance(content, list):
        return "suite"
    return "rounds" if "fit_config" in content else "cli"


CONFIGS = [p for p in ALL if _kind(p) == "cli"]
ROUNDS = [p for p in ALL if _kind(p) == "rounds"]
SUITES = [p for p in ALL if _kind(p) == "suite"]


def test_there_are_configs() -> None:
    names = {p.relative_to(REPO / "configs").as_posix() for p in ALL}
    assert {"quickstart.yaml", "tiny_llama.yaml", "gpu/single.yaml", "gpu/ddp.yaml", "gpu/fsdp.yaml"} <= names


def _on_this_machine(config: Path) -> list[str]:
    """GPU configs are instantiated on the CPU when no GPU is present; everything else as written."""
    trainer = yaml.safe_load(config.read_text()).get("trainer", {})
    if trainer.get("accelerator") != "gpu" or torch.cuda.is_available():
        return []
    overrides = ["--trainer.accelerator", "cpu", "--trainer.devices", "1"]
    if "FSDPStrategy" in str(trainer.get("strategy")):
        # The strategy section parses and instantiates; Lightning then refuses FSDP on a CPU.
        with pytest.raises(ValueError, match="requires a GPU accelerator"):
            build_cli(["--config", str(config), *overrides], run=False)
        overrides += ["--trainer.strategy", "auto"]
    return overrides


@pytest.mark.parametrize("config", CONFIGS, ids=[p.relative_to(REPO / "configs").as_posix() for p in CONFIGS])
def test_config_instantiates_without_loading_weights(config: Path) -> None:
    cli = build_cli(["--config", str(config), *_on_this_machine(config)], run=False)
    assert isinstance(cli.model, SpecialistModule) and cli.model.model is None
    assert isinstance(cli.datamodule, SelfSpecDataModule) and not cli.datamodule.train_examples
    assert cli.datamodule.hparams.base_model == cli.model.hparams.base_model


@pytest.mark.parametrize("config", ROUNDS, ids=[p.relative_to(REPO / "configs").as_posix() for p in ROUNDS])
def test_rounds_config_parses_and_names_files_that_exist(config: Path) -> None:
    from selfspec.rounds_cli import parse

    settings, _, _ = parse(["--config", str(config)])
    settings.check()
    assert (REPO / settings.fit_config).is_file() and (REPO / settings.suite).is_file()
    assert (REPO / settings.fit_config) in CONFIGS  # and the fit config itself instantiates (above)


@pytest.mark.parametrize("suite", SUITES, ids=[p.relative_to(REPO / "configs").as_posix() for p in SUITES])
def test_suite_config_parses_without_loading_its_data(suite: Path) -> None:
    from selfspec.evaluation.suite import parse_suite_text

    specs, problems = parse_suite_text(suite.read_text(), str(suite), suite.parent)
    assert specs and not problems
