"""Every shipped config parses and instantiates through the CLI, without loading any weights."""

from __future__ import annotations

from pathlib import Path

import pytest

from selfspec.cli import build_cli
from selfspec.data.module import SelfSpecDataModule
from selfspec.specialist import SpecialistModule

CONFIGS = sorted((Path(__file__).resolve().parents[1] / "configs").rglob("*.yaml"))


def test_there_are_configs() -> None:
    assert any(p.name == "quickstart.yaml" for p in CONFIGS)


@pytest.mark.parametrize("config", CONFIGS, ids=[p.name for p in CONFIGS])
def test_config_instantiates_without_loading_weights(config: Path) -> None:
    cli = build_cli(["--config", str(config)], run=False)
    assert isinstance(cli.model, SpecialistModule) and cli.model.model is None
    assert isinstance(cli.datamodule, SelfSpecDataModule) and not cli.datamodule.train_examples
    assert cli.datamodule.hparams.base_model == cli.model.hparams.base_model
