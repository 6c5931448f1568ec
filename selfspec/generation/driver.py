"""Glue between the data module / CLI and a generation run."""

from __future__ import annotations

import logging
from typing import Any

from selfspec.errors import ConfigError
from selfspec.generation.cache import is_complete, read_jsonl
from selfspec.generation.plan import GenerationPlan
from selfspec.seeds import Seed

log = logging.getLogger(__name__)


def is_predicting(datamodule: Any) -> bool:
    trainer = getattr(datamodule, "trainer", None)
    return trainer is not None and trainer.predicting


def prepare_generated(datamodule: Any) -> None:
    """Validate the generation inputs; outside ``predict``, run whatever stage is missing (one process)."""
    from selfspec.generation.models import model_generator_factory
    from selfspec.generation.pipeline import GenerationRun

    plan: GenerationPlan = datamodule.plan
    if not plan.num_instructions:
        raise ConfigError("selfspec predict generates data: set --data.num_instructions (the paper: 5000)")
    plan.check_files()
    if is_predicting(datamodule):
        _require_writer(datamodule.trainer)
        return  # selfspec predict spreads the work over its processes (see generation/distributed.py)
    GenerationRun(plan, model_generator_factory(plan)).dataset()


def _require_writer(trainer: Any) -> None:
    from selfspec.callbacks.generation_writer import GenerationWriter

    if not any(isinstance(c, GenerationWriter) for c in trainer.callbacks):
        raise ConfigError(
            "selfspec predict generates data and needs the writer callback: add "
            "`- class_path: selfspec.callbacks.GenerationWriter` under trainer.callbacks"
        )


def load_generated(plan: GenerationPlan) -> list[Seed]:
    """The finished generated dataset as training examples (``Seed`` triplets)."""
    folder = plan.dataset_dir
    if not is_complete(folder):
        raise ConfigError(
            f"generated data {folder} is not finished; it is made by prepare_data (selfspec fit) or "
            "`selfspec predict` with the same --data options"
        )
    return [Seed(r["instruction"], r["input"], r["output"], None, r["id"]) for r in read_jsonl(folder / "data.jsonl")]


def as_hf_dataset(folder: Any) -> Any:
    """A finished generated dataset as a ``datasets.Dataset`` (the same rows as ``data.jsonl``)."""
    from pathlib import Path

    from datasets import Dataset

    return Dataset.from_list(read_jsonl(Path(folder) / "data.jsonl"))
