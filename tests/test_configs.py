"""Every shipped config parses and instantiates through the CLI, without loading any weights."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import yaml

from selfspec.cli import build_cli
from selfspec.data.module import SelfSpecDataModule
from selfspec.specialist import SpecialistModule

ROOT = Path(__file__).resolve().parents[1] / "configs"
# A config is a YAML mapping; evaluation suites kept beside their configs (configs/<domain>/suite.yaml)
# are YAML lists of tasks and are parsed by tests/test_domain_seeds.py instead.
CONFIGS = sorted(p for p in ROOT.rglob("*.yaml") if isinstance(yaml.safe_load(p.read_text()), dict))


def test_there_are_configs() -> None:
    names = {p.relative_to(p.parents[1]).as_posix() if p.parent.name != "configs" else p.name for p in CONFIGS}
    assert {"quickstart.yaml", "gpu/single.yaml", "gpu/ddp.yaml", "gpu/fsdp.yaml"} <= names


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


def test_every_yaml_under_configs_is_a_config_or_a_suite() -> None:
    # A config that is not a mapping (a typo, an empty file) must fail here, not drop out unseen.
    others = set(ROOT.rglob("*.yaml")) - set(CONFIGS)
    assert sorted(p.relative_to(ROOT).as_posix() for p in others if p.name != "suite.yaml") == []


@pytest.mark.parametrize("config", CONFIGS, ids=[p.relative_to(ROOT).as_posix() for p in CONFIGS])
def test_config_instantiates_without_loading_weights(config: Path) -> None:
    cli = build_cli(["--config", str(config), *_on_this_machine(config)], run=False)
    assert isinstance(cli.model, SpecialistModule) and cli.model.model is None
    assert isinstance(cli.datamodule, SelfSpecDataModule) and not cli.datamodule.train_examples
    assert cli.datamodule.hparams.base_model == cli.model.hparams.base_model
