"""The generation run (I/O shell): brainstorm rounds, filter replay, response chunks, final dataset.

Work is cut into units whose output depends on nothing but the plan and the unit number:
brainstorm round ``k`` (its prompts, seed choice and per-item sampling seeds derive from
``(seed, k, j)``) and response chunk ``c`` (a fixed slice of the kept instructions, greedy). Each
unit is written as one atomic shard. Kept instructions are obtained by replaying the filters over
the finished rounds in order, which is deterministic. So a run killed at any moment and started
again skips the finished units and ends with the same bytes; and several processes can share the
units (``selfspec predict``) with the same result.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

from selfspec.errors import SelfSpecError
from selfspec.generation.brainstorm import parse_continuation, render_brainstorm_prompt
from selfspec.generation.cache import (
    is_complete,
    item_seed,
    read_jsonl,
    read_shard,
    write_jsonl,
    write_manifest,
    write_shard,
)
from selfspec.generation.filters import FILTER_NAMES, Candidate, InstructionFilter, contaminated
from selfspec.generation.generator import BatchGenerator, SamplingSettings
from selfspec.generation.plan import GenerationPlan
from selfspec.generation.responses import (
    STOP,
    clean_response,
    demonstration_groups,
    pick_demonstrations,
    render_response_prompt,
)
from selfspec.io import atomic_write_json
from selfspec.progress import progress

log = logging.getLogger(__name__)

GeneratorFactory = Callable[[str | None], BatchGenerator]  # adapter dir (None = base) -> generator


class GenerationError(SelfSpecError):
    """The model produced nothing usable; the message gives the counts and where the raw text is."""


class GenerationRun:
    """Runs (or resumes) the stages that are missing from the cache.

    Args:
        plan: What to generate.
        make_generator: Builds the generator for the base model (``None``) or base + an adapter; called
            at most once per model, and only when a unit actually has to be generated.
    """

    def __init__(self, plan: GenerationPlan, make_generator: GeneratorFactory) -> None:
        self.plan = plan
        self._make_generator = make_generator
        self._generators: dict[str | None, BatchGenerator] = {}
        self._retriever: Any = None
        self._corpus: list[Any] | None = None
        self.model_calls = 0

    def generator(self, adapter: str | None) -> BatchGenerator:
        if adapter not in self._generators:
            self._generators[adapter] = self._make_generator(adapter)
        self.model_calls += 1
        return self._generators[adapter]

    # --- stage 1: instructions -------------------------------------------------------------

    def round_path(self, k: int) -> Path:
        return self.plan.instructions_dir / "rounds" / f"round-{k:05d}.json"

    def brainstorm_round(self, k: int) -> dict[str, Any]:
        """Generate round ``k`` (unless its shard exists) and return the shard."""
        shard = read_shard(self.round_path(k))
        if shard is not None:
            return shard
        plan, settings = self.plan, self.plan.brainstorm
        prompts: list[str] = []
        rows: list[dict[str, Any]] = []
        sample_seeds: list[int] = []
        for j in range(settings.prompts_per_round):
            rng = random.Random(f"{plan.seed}-brainstorm-{k}-{j}")
            chosen = rng.sample(plan.seeds, settings.seeds_per_prompt)
            grounding = self._grounding_passages(rng)  # drawn after the seeds: with 0, prompts are the paper's
            prompts.append(
                render_brainstorm_prompt(plan.prompts.brainstorm_preamble, chosen, [p.text for p in grounding])
            )
            sample_seeds.append(item_seed(plan.seed, "brainstorm", k, j))
            rows.append({"seed_ids": [s.id for s in chosen], "sample_seed": sample_seeds[-1]})
            if grounding:
                rows[-1]["passage_ids"] = [p.id for p in grounding]
        sampling = SamplingSettings(settings.max_new_tokens, True, settings.temperature, settings.top_p)
        generations = self.generator(None).generate(prompts, sampling, sample_seeds)
        for row, gen in zip(rows, generations, strict=True):
            parsed = parse_continuation(gen.raw, hit_token_limit=gen.new_tokens >= settings.max_new_tokens)
            row |= {"raw": gen.raw, "new_tokens": gen.new_tokens, "truncated": parsed.truncated}
            row |= {"items": [[c.instruction, c.input] for c in parsed.items], "unparsed": parsed.unparsed}
        shard = {"round": k, "prompts": rows}
        write_shard(self.round_path(k), shard)
        return shard

    def _grounding_passages(self, rng: random.Random) -> list[Any]:
        """``grounding_passages`` distinct corpus passages drawn with the prompt's own RNG (none when off)."""
        if not self.plan.grounding:
            return []
        corpus = self._corpus_passages()
        return rng.sample(corpus, min(self.plan.brainstorm.grounding_passages, len(corpus)))

    def _corpus_passages(self) -> list[Any]:
        """The retrieval corpus, read once per run for grounding and BM25 alike."""
        if self._corpus is None:
            from selfspec.generation.retrieval import load_corpus

            self._corpus = load_corpus(str(self.plan.retrieval_corpus))
        return self._corpus

    def instructions(self) -> list[Candidate]:
        """The kept instructions: from the finished stage, else by running/replaying rounds."""
        out = self.plan.instructions_dir
        if is_complete(out):
            return [Candidate(r["instruction"], r["input"]) for r in read_jsonl(out / "instructions.jsonl")]
        replay = FilterReplay(self.plan)
        bar = progress(self.plan.num_instructions, "brainstorm", "instructions")
        for k in range(self.plan.brainstorm.max_rounds):
            replay.feed(self.brainstorm_round(k))
            bar.update(len(replay.kept) - bar.n)
            bar.set_postfix(replay.postfix() | self._speed())
            if replay.done:
                break
        bar.close()
        return self.finish_instructions(replay)

    def finish_instructions(self, replay: FilterReplay) -> list[Candidate]:
        """Write the kept instructions and the funnel, manifest last; an error when nothing was kept."""
        out = self.plan.instructions_dir
        if not replay.kept:
            raise GenerationError(
                f"brainstorming kept no instruction after {replay.funnel['rounds']} rounds "
                f"(--data.brainstorm.max_rounds): {replay.describe()}. The model's raw samples are in "
                f"{out / 'rounds'}; use a stronger base model, check --data.domain, or raise the budget"
            )
        if not replay.done:
            log.warning(
                "brainstorm budget spent: kept %d of %d instructions (%s)",
                len(replay.kept),
                self.plan.num_instructions,
                replay.describe(),
            )
        write_jsonl(out / "instructions.jsonl", [{"instruction": c.instruction, "input": c.input} for c in replay.kept])
        atomic_write_json(out / "funnel.json", replay.funnel)
        write_manifest(out, ["instructions.jsonl", "funnel.json"], {"key": self.plan.instruction_key()})
        return replay.kept

    def _speed(self) -> dict[str, str]:
        rate = sum(g.tokens_per_second for g in self._generators.values())
        return {"tok/s": f"{rate:.0f}"} if rate else {}

    # --- stage 2: responses ------------------------------------------------------------------

    def chunk_path(self, c: int) -> Path:
        return self.plan.dataset_dir / "chunks" / f"chunk-{c:05d}.json"

    def respond_chunk(self, c: int, instructions: list[Candidate]) -> dict[str, Any]:
        """Write responses for chunk ``c`` of ``instructions`` (unless its shard exists)."""
        shard = read_shard(self.chunk_path(c))
        if shard is not None:
            return shard
        plan, size = self.plan, self.plan.responses.chunk_size
        indices = range(c * size, min((c + 1) * size, len(instructions)))
        items = [instructions[i] for i in indices]
        hits = self._retrieve(items)
        prompts = [
            self._response_prompt(i, item, item_hits) for i, item, item_hits in zip(indices, items, hits, strict=True)
        ]
        greedy = SamplingSettings(plan.responses.max_new_tokens, stop=STOP)
        generator = self.generator(plan.response_adapter)
        # Shared demonstrations: one call per group, whose prompts form one batch sharing their
        # prefix (the generator would otherwise bucket the chunk by length and mix groups).
        group_size = self._demonstration_group()
        groups = demonstration_groups(indices, group_size) if group_size > 1 else [indices]
        generations = [
            generation
            for group in groups
            for generation in generator.generate([prompts[i - indices.start] for i in group], greedy)
        ]
        rows = [
            {"index": i, "instruction": item.instruction, "input": item.input, "output": clean_response(gen.text)}
            | {"raw": gen.raw, "passages": [{"id": h.id, "score": h.score} for h in item_hits]}
            for i, item, gen, item_hits in zip(indices, items, generations, hits, strict=True)
        ]
        shard = {"chunk": c, "rows": rows}
        write_shard(self.chunk_path(c), shard)
        return shard

    def _response_prompt(self, index: int, item: Candidate, hits: list[Any]) -> str:
        plan = self.plan
        demos = pick_demonstrations(
            plan.seeds, plan.responses.demonstrations, plan.seed, index, self._demonstration_group()
        )
        passages = [h.text for h in hits]
        return render_response_prompt(plan.prompts.response_preamble, demos, item.instruction, item.input, passages)

    def _demonstration_group(self) -> int:
        """Consecutive instructions that share their demonstrations: a generation batch, or 1 (the paper)."""
        return self.plan.batch_size if self.plan.responses.shared_demonstrations else 1

    def _retrieve(self, items: list[Candidate]) -> list[list[Any]]:
        if not self.plan.retrieval_corpus:
            return [[] for _ in items]
        if self._retriever is None:
            from selfspec.generation.retrieval import Retriever

            self._retriever = Retriever(self.plan.retrieval_corpus, self.plan.cache_dir, self._corpus_passages())
        queries = [f"{c.instruction} {c.input}" for c in items]
        return self._retriever.search(queries, self.plan.responses.retrieval_top_k)

    def num_chunks(self, instructions: list[Candidate]) -> int:
        return -(-len(instructions) // self.plan.responses.chunk_size)

    def dataset(self) -> Path:
        """Run whatever is missing; return the finished dataset folder (``data.jsonl`` inside)."""
        out = self.plan.dataset_dir
        if is_complete(out):
            return out
        instructions = self.instructions()
        bar = progress(len(instructions), "responses", "responses")
        for c in range(self.num_chunks(instructions)):
            shard = self.respond_chunk(c, instructions)
            bar.update(len(shard["rows"]))
            bar.set_postfix(self._speed())
        bar.close()
        return self.finish_dataset(instructions)

    def finish_dataset(self, instructions: list[Candidate]) -> Path:
        """Assemble the chunks into ``data.jsonl`` + funnel + config; the manifest goes last."""
        out = self.plan.dataset_dir
        rows = [r for c in range(self.num_chunks(instructions)) for r in _require(self.chunk_path(c))["rows"]]
        answered = [r for r in rows if r["output"]]
        # A response may quote an evaluation item (e.g. the model recalls a benchmark answer).
        plan = self.plan
        data = [_example(r) for r in answered if not contaminated(r["output"], plan.eval_ngrams, plan.filters.ngram)]
        if not data:
            raise GenerationError(
                f"none of {len(rows)} responses is usable ({len(rows) - len(answered)} empty, "
                f"{len(answered)} sharing a {plan.filters.ngram}-gram with --data.eval_files); the raw "
                f"responses are in {out / 'chunks'}; use a stronger base model or raise --data.responses.max_new_tokens"
            )
        funnel = read_shard(plan.instructions_dir / "funnel.json") or {}
        funnel |= {"responses": len(rows), "empty_responses": len(rows) - len(answered)}
        funnel |= {"contaminated_responses": len(answered) - len(data), "examples": len(data)}
        write_jsonl(out / "data.jsonl", data)
        atomic_write_json(out / "funnel.json", funnel)
        provenance = {"instruction_key": plan.instruction_key(), "base_model": plan.base_model}
        atomic_write_json(out / "config.json", plan.dataset_key() | provenance)
        write_manifest(out, ["data.jsonl", "funnel.json", "config.json"], {"examples": len(data)})
        log.info("generated data: %s", format_funnel(funnel))
        log.info("dataset: %s", out / "data.jsonl")
        return out


def _require(path: Path) -> dict[str, Any]:
    shard = read_shard(path)
    if shard is None:
        raise RuntimeError(f"shard {path} is missing although its stage finished")
    return shard


def _example(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": f"gen-{row['index']:06d}",
        "instruction": row["instruction"],
        "input": row["input"],
        "output": row["output"],
        "passages": row["passages"],
    }


class FilterReplay:
    """Feeds finished brainstorm rounds, in order, through the filters; counts the funnel."""

    def __init__(self, plan: GenerationPlan) -> None:
        self.target = plan.num_instructions
        self.filter = InstructionFilter(plan.filters, [s.instruction for s in plan.seeds], plan.eval_ngrams)
        self.kept: list[Candidate] = []
        self.counts = {"rounds": 0, "prompts": 0, "parsed": 0, "unparsed": 0, "truncated": 0}

    @property
    def funnel(self) -> dict[str, Any]:
        return self.counts | {"dropped": dict(self.filter.counts), "kept": len(self.kept)}

    @property
    def done(self) -> bool:
        return len(self.kept) >= self.target

    def feed(self, shard: dict[str, Any]) -> None:
        """Filter one round's items in order; items after the target is reached are not looked at."""
        self.counts["rounds"] += 1
        for row in shard["prompts"]:
            self.counts["prompts"] += 1
            self.counts["unparsed"] += len(row["unparsed"])
            self.counts["truncated"] += int(row["truncated"])
            for instruction, input in row["items"]:
                if self.done:
                    return
                self.counts["parsed"] += 1
                if self.filter.reason_to_drop(Candidate(instruction, input)) is None:
                    self.kept.append(Candidate(instruction, input))

    def postfix(self) -> dict[str, int]:
        return {"kept": len(self.kept), "dropped": sum(self.filter.counts.values())}

    def describe(self) -> str:
        return format_funnel(self.funnel)


def format_funnel(funnel: dict[str, Any]) -> str:
    """One line: prompts -> parsed -> each filter's drops -> kept (-> responses/examples)."""
    dropped = funnel.get("dropped", {})
    parts = [f"{funnel.get('prompts', 0)} prompts", f"{funnel.get('parsed', 0)} items parsed"]
    parts += [f"{funnel.get('unparsed', 0)} unreadable", f"{funnel.get('truncated', 0)} cut off"]
    parts += [f"-{dropped.get(name, 0)} {name}" for name in FILTER_NAMES]
    parts.append(f"{funnel.get('kept', 0)} kept")
    if "examples" in funnel:
        parts.append(f"{funnel['empty_responses']} empty responses")
        parts.append(f"-{funnel.get('contaminated_responses', 0)} contaminated responses")
        parts.append(f"{funnel['examples']} examples")
    return ", ".join(parts)
