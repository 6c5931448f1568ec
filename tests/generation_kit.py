"""Test kit for generation: a scripted brainstormer and a real-model generator factory.

The random tiny model never writes a parseable task list (that path is tested on its own: it ends
in a clear error). To test the stages after brainstorming on the real tiny model, the *sampled*
brainstorm calls are answered by ``ScriptedBrainstormer``: a continuation built from real Alpaca
instructions chosen by the item's sampling seed, so it is deterministic per item like the real
sampler. Greedy calls (responses) always go to the real model.
"""

from __future__ import annotations

import json
import random
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from selfspec.decoding.generator import BatchGenerator, Generation, SamplingSettings
from selfspec.generation.brainstorm import render_item
from selfspec.generation.plan import GenerationPlan
from selfspec.generation.stages import GeneratorFactory

# Prompts of the generator tests: short and long, so a batch is left-padded and rows end at different steps.
GENERATOR_PROMPTS = [
    "Answer the question.",
    "List every disease mentioned in the sentence: patients with asthma and eczema",
    "Yes or no?",
    "Summarise the abstract in one sentence. Background: sepsis remains a leading cause of death.",
    "What is the relation between the chemical and the protein?",
    "The patient was treated with metformin for type 2 diabetes and reported nausea.",
    "Classify",
]

ALPACA = Path(__file__).resolve().parents[2] / "shared" / "data" / "alpaca_1k.jsonl"
FALLBACK = [
    ("Name three symptoms of influenza in adults.", ""),
    ("Explain how insulin lowers blood glucose.", ""),
    ("Classify the drug mentioned in the sentence by its class.", "Patients received atorvastatin daily."),
    ("Summarise the abstract in one sentence for a patient.", "Sepsis is a leading cause of death."),
    ("Draw a diagram of the heart.", ""),
    ("Is aspirin an anticoagulant?", ""),
]


def alpaca_pool() -> list[tuple[str, str]]:
    if not ALPACA.is_file():
        return FALLBACK
    rows = [json.loads(line) for line in ALPACA.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [(r["instruction"], r["input"]) for r in rows]


class ScriptedBrainstormer:
    """Answers sampled calls with 3 complete items and a cut-off 4th, picked by the item seed."""

    def __init__(self, delegate: BatchGenerator | None = None) -> None:
        self.pool = alpaca_pool()
        self.delegate = delegate
        self.calls = 0
        self.new_tokens, self.seconds = 0, 0.0

    @property
    def tokens_per_second(self) -> float:
        return 0.0

    def generate(
        self,
        prompts: Sequence[str],
        sampling: SamplingSettings,
        seeds: Sequence[int] | None = None,
        on_batch: Any = None,
    ) -> list[Generation]:
        self.calls += 1
        if not sampling.do_sample:
            assert self.delegate is not None, "greedy calls need the real model"
            return self.delegate.generate(prompts, sampling, seeds, on_batch)
        assert seeds is not None
        return [
            self._continuation(prompt, seed, sampling.max_new_tokens)
            for prompt, seed in zip(prompts, seeds, strict=True)
        ]

    def _continuation(self, prompt: str, seed: int, max_new_tokens: int) -> Generation:
        rng = random.Random(seed)
        first = int(prompt.rsplit("\n", 1)[-1].split(".")[0])
        items = [rng.choice(self.pool) for _ in range(4)]
        text = " " + "\n\n".join(render_item(first + n, i, x) for n, (i, x) in enumerate(items))
        text = text.split(" Instruction: ", 1)[1]  # the prompt already ends with "<first>. Instruction:"
        text = " " + text[: len(text) - 10]  # the last item is cut off, as with a token limit
        return Generation(text, text, max_new_tokens, len(prompt))


def hybrid_factory(
    plan: GenerationPlan, loads: list[str | None] | None = None, factory: Any = None
) -> GeneratorFactory:
    """Real tiny model for responses (base or + adapter); scripted text for sampled brainstorm calls."""
    from selfspec.generation.models import model_generator_factory

    real = (factory or model_generator_factory)(plan)

    def make(adapter: str | None) -> Any:
        if loads is not None:
            loads.append(adapter)
        return ScriptedBrainstormer(real(adapter))

    return make


def main(argv: list[str]) -> None:
    """``python tests/generation_kit.py PLAN_JSON``: run a generation as its own process (resume tests).

    ``python tests/generation_kit.py predict ARGS``: ``selfspec predict ARGS`` with the hybrid
    factory, so the brainstorm stage yields instructions too (DDP relaunches this very script).
    """
    from selfspec.generation.recipe import GenerationRun

    if argv[0] == "predict":
        import selfspec.generation.models as models
        from selfspec.cli import main as cli_main

        real_factory = models.model_generator_factory
        models.model_generator_factory = lambda plan, device=None: hybrid_factory(
            plan, factory=lambda p: real_factory(p, device)
        )
        cli_main(argv)
        return
    spec = json.loads(Path(argv[0]).read_text(encoding="utf-8"))
    plan = plan_from_spec(spec)
    print(GenerationRun(plan, hybrid_factory(plan)).dataset(), flush=True)


def plan_from_spec(spec: dict[str, Any]) -> GenerationPlan:
    from selfspec.generation.settings import BrainstormSettings, ResponseSettings

    return GenerationPlan(
        seeds_path=Path(spec["seeds"]),
        base_model=spec["model"],
        num_instructions=spec["n"],
        brainstorm=BrainstormSettings(prompts_per_round=spec.get("prompts_per_round", 4), max_rounds=50),
        responses=ResponseSettings(max_new_tokens=spec.get("max_new_tokens", 24), chunk_size=spec.get("chunk", 4)),
        cache_dir=Path(spec["cache"]),
        batch_size=4,
    )


if __name__ == "__main__":
    main(sys.argv[1:])
