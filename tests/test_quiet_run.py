"""The main job's steps print no warning a user has to think about.

``selfspec-rounds`` runs a fit (self-generated data, QLoRA, checkpoints, adapter export) and a
validate with ``DomainEvaluation`` per step; here both run in-process, with the configs the driver
builds (``selfspec.rounds.steps``), on the tiny model. Every ``warnings.warn`` (with Python's default
filters: deprecation notices are hidden from users outside ``__main__``) and every log record of
WARNING or above from the libraries fails the test unless ``selfspec.noise`` lists it, in which case
the filters installed by the command must have dropped it already. The output also holds one table
per evaluation (no Lightning metric box in fractions) and no ``data:`` line during the evaluation.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from generation_kit import ScriptedBrainstormer

import selfspec.generation.models as models
from selfspec.cli import run as run_cli
from selfspec.evaluation.runner import EvalSettings
from selfspec.rounds.steps import eval_step_config, fit_step_config

REPO = Path(__file__).resolve().parents[1]
LIBRARIES = ("", "transformers", "lightning", "lightning.pytorch", "lightning.fabric", "bitsandbytes", "peft", "torch")


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def records() -> Iterator[list[logging.LogRecord]]:
    handler = _Records()
    for name in LIBRARIES:  # transformers and Lightning do not propagate to the root logger
        logging.getLogger(name).addHandler(handler)
    yield handler.records
    for name in LIBRARIES:
        logging.getLogger(name).removeHandler(handler)


def _fit_config(tmp_path: Path, model: Path) -> dict:
    return {
        "seed_everything": 0,
        "trainer": {"accelerator": "cpu", "devices": 1, "max_epochs": 1, "log_every_n_steps": 1},
        "model": {"base_model": str(model), "quantization": "nf4", "effective_batch_size": 4},
        "data": {
            "seeds_path": str(REPO / "data" / "seeds" / "example.jsonl"),
            "batch_size": 4,
            "val_fraction": 0.0,  # the quickstart's choice: no empty validation loader warning
            "generation": {
                "num_instructions": 6,
                "cache_dir": str(tmp_path / "generated"),
                "brainstorm": {"prompts_per_round": 2, "max_new_tokens": 32},
                "responses": {"max_new_tokens": 8, "chunk_size": 4},
            },
        },
    }


def _run_step(config: dict, path: Path, subcommand: str) -> int:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(config))
    return run_cli([subcommand, "--config", str(path)])


def test_the_main_jobs_steps_warn_about_nothing(
    tmp_path: Path,
    tiny_model_dir: Path,
    records: list[logging.LogRecord],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.chdir(tmp_path)
    real = models.model_generator_factory
    monkeypatch.setattr(models, "model_generator_factory", lambda plan: lambda a: ScriptedBrainstormer(real(plan)(a)))
    fit = _fit_config(tmp_path, tiny_model_dir)
    run = tmp_path / "logs" / "round_1"
    suite = str(REPO / "data" / "eval" / "example" / "suite.yaml")
    settings = EvalSettings(shots=(0, 2), demo_seeds=(0,), max_new_tokens=4, batch_size=16)
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        for category in (DeprecationWarning, PendingDeprecationWarning, ImportWarning, ResourceWarning):
            warnings.simplefilter("ignore", category)  # Python's defaults outside __main__
        assert _run_step(fit_step_config(fit, run), run / "step_config.yaml", "fit") == 0
        evaluation = eval_step_config(fit, run / "eval", str(run / "adapter"), suite, settings, "round_1")
        assert _run_step(evaluation, run / "eval" / "step_config.yaml", "validate") == 0
    unexpected = [f"{w.category.__name__}: {w.message} ({w.filename}:{w.lineno})" for w in seen]
    unexpected += [f"{r.name}: {r.getMessage()}" for r in records]
    assert unexpected == []
    out = capsys.readouterr()
    printed = out.out + out.err
    assert "Validate metric" not in printed and "Epoch 0/-2" not in printed
    assert printed.count("| task | kind | shots |") <= 1  # the evaluation's own table, once (logged to stderr)
    assert (run / "eval" / "eval.png").is_file() and (run / "adapter" / "adapter_model.safetensors").is_file()
