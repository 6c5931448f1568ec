"""``selfspec predict``: the generation units spread over the processes of a Lightning strategy.

Each process takes every ``world``-th unit: brainstorm rounds in waves of ``world`` rounds (after
each wave every process replays the same finished shards through the filters and so takes the
same decision to go on or stop), then response chunks. Units are the very ones a single process
runs, so the dataset is the same; the processes share the cache folder (one machine, or a shared
file system across nodes). ``selfspec.callbacks.GenerationWriter`` assembles the dataset on rank 0.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from selfspec.generation.cache import is_complete, read_shard
from selfspec.generation.filters import Candidate
from selfspec.generation.pipeline import FilterReplay, GenerationRun


def run_share(run: GenerationRun, rank: int, world: int, barrier: Callable[[], None]) -> list[Candidate]:
    """Generate this process's units of both stages; returns the kept instructions (same on all ranks)."""
    instructions = _instructions(run, rank, world, barrier)
    if not is_complete(run.plan.dataset_dir):
        for c in range(rank, run.num_chunks(instructions), world):
            run.respond_chunk(c, instructions)
    barrier()  # every chunk is on disk before any process leaves
    return instructions


def _instructions(run: GenerationRun, rank: int, world: int, barrier: Callable[[], None]) -> list[Candidate]:
    if is_complete(run.plan.instructions_dir):
        return run.instructions()
    replay, budget = FilterReplay(run.plan), run.plan.brainstorm.max_rounds
    for start in range(0, budget, world):
        wave = range(start, min(start + world, budget))
        if start + rank in wave:
            run.brainstorm_round(start + rank)
        barrier()
        for k in wave:  # the order and the stopping point of a single-process run
            if replay.done:
                break
            replay.feed(_shard(run, k))
        if replay.done:
            break
    return run.finish_instructions(replay)  # identical bytes from every rank, written atomically


def _shard(run: GenerationRun, k: int) -> dict[str, Any]:
    shard = read_shard(run.round_path(k))
    if shard is None:
        raise RuntimeError(f"{run.round_path(k)} is missing after the barrier; is the cache folder shared?")
    return shard


def predict_generation(module: Any, batch: Any) -> dict[str, Any]:
    """``predict_step`` body: run this rank's share with a model on the module's device."""
    from selfspec.generation.models import model_generator_factory

    trainer = module.trainer
    plan = trainer.datamodule.plan
    run = GenerationRun(plan, model_generator_factory(plan, module.device))
    instructions = run_share(run, trainer.global_rank, trainer.world_size, trainer.strategy.barrier)
    return {"rank": trainer.global_rank, "instructions": len(instructions), "model_calls": run.model_calls}


def work_items(world_size: int) -> list[int]:
    """One item per process: the predict loop calls ``predict_step`` exactly once on each rank."""
    return list(range(world_size))


def first(batch: list[int]) -> int:
    return batch[0]
