"""The generation recipe, seeds to finished dataset, read top to bottom (``docs/method.md`` steps 2-5, 7).

1. Brainstorm rounds, in waves of ``world`` rounds: process ``rank`` writes round ``start + rank`` of
   each wave, then every process replays the finished rounds, in order, through the filters and so
   takes the same decision to go on or stop. The kept instructions are written once.
2. Response chunks: process ``rank`` answers every ``world``-th chunk of the kept instructions.
3. Rank 0 assembles the chunks into ``data.jsonl`` (responses quoting an evaluation file dropped).

One process (``selfspec fit``'s ``prepare_data``, and through it ``selfspec-rounds``) is the case
``rank=0, world=1`` with no barrier; ``selfspec predict`` runs the same code on every process of any
Lightning strategy, the processes sharing the cache folder. Units are the same whoever runs them,
so the dataset is the same bytes for any number of processes, and a killed run resumes where it
stopped. The units themselves are in ``stages``; the model behind them in ``models``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import selfspec.generation.models as models
from selfspec.errors import ConfigError
from selfspec.generation.cache import is_complete
from selfspec.generation.plan import GenerationPlan
from selfspec.generation.records import Candidate, Example, read_rows
from selfspec.generation.replay import FilterReplay
from selfspec.generation.stages import GeneratorFactory, Units
from selfspec.progress import progress
from selfspec.seeds import Seed

Barrier = Callable[[], None]


def _alone() -> None:
    """The barrier of a single process: there is nobody to wait for."""


class GenerationRun:
    """Runs (or resumes) whatever part of the recipe is missing from the cache.

    Args:
        plan: What to generate.
        make_generator: Builds the generator for the base model (``None``) or base + an adapter; called
            at most once per model, and only when a unit actually has to be generated.
        rank: This process's number among ``world`` processes that share the work (0 of 1: alone).
        world: Number of processes; each waits for the others at ``barrier``.
        barrier: Returns when every process has reached it (``trainer.strategy.barrier``).
    """

    def __init__(
        self,
        plan: GenerationPlan,
        make_generator: GeneratorFactory,
        rank: int = 0,
        world: int = 1,
        barrier: Barrier = _alone,
    ) -> None:
        self.plan = plan
        self.units = Units(plan, make_generator)
        self.rank, self.world, self.barrier = rank, world, barrier

    @property
    def model_calls(self) -> int:
        return self.units.model_calls

    def dataset(self) -> Path:
        """Run whatever is missing; return the finished dataset folder (``data.jsonl`` inside)."""
        out = self.plan.dataset_dir
        if is_complete(out):
            return out
        instructions = self.instructions()
        self._respond(instructions)
        self.barrier()  # every chunk is on disk before rank 0 reads them all
        if self.rank == 0:
            self.units.finish_dataset(instructions)
        self.barrier()  # nobody leaves (and reads data.jsonl) before it is written
        return out

    def instructions(self) -> list[Candidate]:
        """The kept instructions: from the finished stage, else by running/replaying brainstorm rounds."""
        kept = self.units.kept_instructions()
        if kept is not None:
            return kept
        replay, budget = FilterReplay(self.plan), self.plan.brainstorm.max_rounds
        bar = progress(self.plan.num_instructions, "brainstorm", "instructions", disable=self.rank != 0)
        for start in range(0, budget, self.world):
            wave = range(start, min(start + self.world, budget))
            # The last wave can be shorter than the number of processes: a rank past the budget only waits.
            if start + self.rank in wave:
                self.units.brainstorm_round(start + self.rank)
            self.barrier()
            for k in wave:  # in round order: the stopping point does not depend on the number of processes
                if replay.done:
                    break
                replay.feed(self.units.finished_round(k))
            # The bar counts kept instructions, not rounds: the target is in instructions, rounds only spend it.
            bar.update(len(replay.kept) - bar.n)
            bar.set_postfix(replay.postfix() | self.units.speed())
            if replay.done:
                break
        bar.close()
        # Every process writes the same bytes, atomically: no process has to wait for another's file.
        return self.units.finish_instructions(replay)

    def _respond(self, instructions: list[Candidate]) -> None:
        bar = progress(len(instructions), "responses", "responses", disable=self.rank != 0)
        for c in range(self.rank, self.units.num_chunks(instructions), self.world):
            shard = self.units.respond_chunk(c, instructions)
            bar.update(len(shard.rows))
            bar.set_postfix(self.units.speed())
        bar.close()


# --- the three callers: fit's prepare_data, predict's predict_step, and the trained-on data ------


def prepare_generated(plan: GenerationPlan, predicting: bool) -> None:
    """``prepare_data``: validate the generation inputs, then (outside ``predict``) run the recipe alone.

    In ``predict`` each process runs its share from ``predict_step`` (``predict_generation``).
    """
    if not plan.num_instructions:
        raise ConfigError("selfspec predict generates data: set --data.generation.num_instructions (the paper: 5000)")
    plan.check_files()
    if not predicting:
        GenerationRun(plan, models.model_generator_factory(plan)).dataset()


def predict_generation(module: Any, batch: Any) -> dict[str, Any]:
    """``predict_step`` body: run this process's share of the recipe with a model on the module's device."""
    trainer = module.trainer
    plan = trainer.datamodule.plan
    # models.model_generator_factory is looked up at call time: the test kit swaps it for a scripted one.
    factory = models.model_generator_factory(plan, module.device)
    run = GenerationRun(plan, factory, trainer.global_rank, trainer.world_size, trainer.strategy.barrier)
    out = run.dataset()
    return {"rank": trainer.global_rank, "dataset": str(out), "model_calls": run.model_calls}


def work_items(world_size: int) -> list[int]:
    """``predict_dataloader``: one item per process, so ``predict_step`` runs exactly once on each rank."""
    return list(range(world_size))


def first(batch: list[int]) -> int:
    return batch[0]


def load_generated(plan: GenerationPlan) -> list[Seed]:
    """The finished generated dataset as training examples (``Seed`` triplets)."""
    folder = plan.dataset_dir
    if not is_complete(folder):
        raise ConfigError(
            f"generated data {folder} is not finished; it is made by prepare_data (selfspec fit) or "
            "`selfspec predict` with the same --data options"
        )
    examples = read_rows(folder / "data.jsonl", Example.from_json)
    return [Seed(e.instruction, e.input, e.output, None, e.id) for e in examples]


def as_hf_dataset(folder: str | Path) -> Any:
    """A finished generated dataset as a ``datasets.Dataset`` (the same rows as ``data.jsonl``)."""
    from datasets import Dataset  # heavy (pyarrow); only this helper needs it

    examples = read_rows(Path(folder) / "data.jsonl", Example.from_json)
    return Dataset.from_list([e.to_json() for e in examples])
