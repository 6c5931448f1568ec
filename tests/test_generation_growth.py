"""The brainstorm cache grows with the target: a larger ``num_instructions`` continues where a smaller
run stopped, a smaller one reads a prefix; either way the bytes equal a fresh run of that target.

Brainstorm calls are scripted (see generation_kit): deterministic per sampling seed, like the sampler.
"""

from __future__ import annotations

from pathlib import Path

from generation_kit import ScriptedBrainstormer

from selfspec.generation.plan import GenerationPlan
from selfspec.generation.recipe import GenerationRun
from selfspec.generation.settings import BrainstormSettings

FILES = ("instructions.jsonl", "funnel.json", "manifest.json")


def _plan(seeds: Path, cache: Path, n: int, max_rounds: int = 40) -> GenerationPlan:
    brainstorm = BrainstormSettings(prompts_per_round=2, max_rounds=max_rounds)
    return GenerationPlan(
        seeds_path=seeds, base_model="org/hub-model", num_instructions=n, brainstorm=brainstorm, cache_dir=cache
    )


def _instructions(plan: GenerationPlan) -> tuple[dict[str, bytes], int]:
    """The instruction stage's files and the number of brainstorm calls it took."""
    scripted = ScriptedBrainstormer()
    GenerationRun(plan, lambda adapter: scripted).instructions()  # type: ignore[arg-type,return-value]
    return {name: (plan.instructions_dir / name).read_bytes() for name in FILES}, scripted.calls


def test_a_larger_target_continues_and_a_smaller_one_reads_a_prefix(example_seeds: Path, tmp_path: Path) -> None:
    fresh = {n: _instructions(_plan(example_seeds, tmp_path / f"fresh-{n}", n)) for n in (4, 20)}
    assert fresh[4][1] < fresh[20][1]  # the larger target needs more rounds

    grown = tmp_path / "grown"
    small, calls = _instructions(_plan(example_seeds, grown, 4))
    assert (small, calls) == fresh[4]
    large, calls = _instructions(_plan(example_seeds, grown, 20))
    assert large == fresh[20][0] and calls == fresh[20][1] - fresh[4][1]  # only the rounds not yet written
    again, calls = _instructions(_plan(example_seeds, grown, 4, max_rounds=7))
    assert calls == 0  # every round it needs is there
    assert again["instructions.jsonl"] == fresh[4][0]["instructions.jsonl"]  # the budget changes no kept item


def test_the_rounds_folder_is_shared_by_targets_and_budgets_only(example_seeds: Path, tmp_path: Path) -> None:
    plan = _plan(example_seeds, tmp_path, 4)
    same = [_plan(example_seeds, tmp_path, 20), _plan(example_seeds, tmp_path, 4, max_rounds=3)]
    assert {p.rounds_dir for p in same} == {plan.rounds_dir}
    assert len({p.instructions_dir for p in [plan, *same]}) == 3  # what is kept still depends on both
    other = GenerationPlan(
        seeds_path=example_seeds,
        base_model="org/hub-model",
        num_instructions=4,
        seed=1,
        brainstorm=plan.brainstorm,
        cache_dir=tmp_path,
    )
    assert other.rounds_dir != plan.rounds_dir  # the sampling seed decides what the model writes
