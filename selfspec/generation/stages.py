"""The units of a generation run (components; ``recipe`` puts them in order): I/O shell over the pure parts.

Work is cut into units whose output depends on nothing but the plan and the unit number:
brainstorm round ``k`` (its prompts, seed choice and per-item sampling seeds derive from
``(seed, k, j)``) and response chunk ``c`` (a fixed slice of the kept instructions, greedy). Each
unit is written as one atomic shard (a record of ``records``). Kept instructions are obtained by
replaying the filters over the finished rounds in order (``replay``), which is deterministic. So a
run killed at any moment and started again skips the finished units and ends with the same bytes;
and several processes can share the units (``selfspec predict``) with the same result.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable
from pathlib import Path

from selfspec.decoding.generator import BatchGenerator, Generation, SamplingSettings
from selfspec.errors import SelfSpecError
from selfspec.generation.brainstorm import parse_continuation, render_brainstorm_prompt
from selfspec.generation.cache import is_complete, item_seed, write_manifest
from selfspec.generation.filters import contaminated
from selfspec.generation.plan import GenerationPlan
from selfspec.generation.records import (
    BrainstormedPrompt,
    BrainstormRound,
    Candidate,
    Example,
    PassageRef,
    Response,
    ResponseChunk,
    read_record,
    read_rows,
    write_record,
    write_rows,
)
from selfspec.generation.replay import FilterReplay, format_funnel
from selfspec.generation.responses import (
    STOP,
    clean_response,
    demonstration_groups,
    pick_demonstrations,
    render_response_prompt,
)
from selfspec.generation.retrieval import Hit, Passage, Retriever, load_corpus
from selfspec.io import atomic_write_json

log = logging.getLogger(__name__)

GeneratorFactory = Callable[[str | None], BatchGenerator]  # adapter dir (None = base) -> generator


class GenerationError(SelfSpecError):
    """The model produced nothing usable; the message gives the counts and where the raw text is."""


class Units:
    """Generates (or reads back) one unit at a time, and writes each stage's final files.

    Args:
        plan: What to generate.
        make_generator: Builds the generator for the base model (``None``) or base + an adapter; called
            at most once per model, and only when a unit actually has to be generated.
    """

    def __init__(self, plan: GenerationPlan, make_generator: GeneratorFactory) -> None:
        self.plan = plan
        self._make_generator = make_generator
        self._generators: dict[str | None, BatchGenerator] = {}
        self._retriever: Retriever | None = None
        self._corpus: list[Passage] | None = None
        self.model_calls = 0

    def generator(self, adapter: str | None) -> BatchGenerator:
        if adapter not in self._generators:
            self._generators[adapter] = self._make_generator(adapter)
        self.model_calls += 1
        return self._generators[adapter]

    def speed(self) -> dict[str, str]:
        """The progress bar's tokens/s (all models loaded so far)."""
        rate = sum(g.tokens_per_second for g in self._generators.values())
        return {"tok/s": f"{rate:.0f}"} if rate else {}

    # --- stage 1: instructions (docs/method.md steps 2-3) ----------------------------------

    def round_path(self, k: int) -> Path:
        return self.plan.rounds_dir / f"round-{k:05d}.json"  # zero-padded: a listing shows rounds in order

    def brainstorm_round(self, k: int) -> BrainstormRound:
        """Generate round ``k`` (unless its shard exists) and return it."""
        shard = read_record(self.round_path(k), BrainstormRound.from_json)
        if shard is not None:
            return shard
        plan, settings = self.plan, self.plan.brainstorm
        prompts: list[str] = []
        shown: list[tuple[list[str], list[str] | None]] = []  # (seed ids, passage ids) per prompt
        # Every prompt's seeds and sampling seed derive from (seed, k, j) alone: a round is the same
        # whichever process writes it, and after whichever other rounds.
        sample_seeds = [item_seed(plan.seed, "brainstorm", k, j) for j in range(settings.prompts_per_round)]
        for j in range(settings.prompts_per_round):
            # A string seed is hashed by random.Random itself (sha512): the same draw in every process.
            rng = random.Random(f"{plan.seed}-brainstorm-{k}-{j}")
            chosen = rng.sample(plan.seeds, settings.seeds_per_prompt)
            grounding = self._grounding_passages(rng)  # drawn after the seeds: with 0, prompts are the paper's
            prompts.append(
                render_brainstorm_prompt(plan.prompts.brainstorm_preamble, chosen, [p.text for p in grounding])
            )
            shown.append(([s.id for s in chosen], [p.id for p in grounding] if grounding else None))
        stop = ("\n\n",) if settings.first_item_only else ()  # a blank line ends an item (brainstorm.py)
        sampling = SamplingSettings(settings.max_new_tokens, True, settings.temperature, settings.top_p, stop)
        generations = self.generator(None).generate(prompts, sampling, sample_seeds)
        rows = [
            _brainstormed(seed_ids, passage_ids, sample_seed, gen, settings.max_new_tokens)
            for (seed_ids, passage_ids), sample_seed, gen in zip(shown, sample_seeds, generations, strict=True)
        ]
        shard = BrainstormRound(k, rows)
        write_record(self.round_path(k), shard)
        return shard

    def finished_round(self, k: int) -> BrainstormRound:
        """Round ``k``, which another process has written (an error when it is not there)."""
        shard = read_record(self.round_path(k), BrainstormRound.from_json)
        if shard is None:
            raise RuntimeError(f"{self.round_path(k)} is missing after the barrier; is the cache folder shared?")
        return shard

    def _grounding_passages(self, rng: random.Random) -> list[Passage]:
        """``grounding_passages`` distinct corpus passages drawn with the prompt's own RNG (none when off)."""
        if not self.plan.grounding:
            return []
        corpus = self._corpus_passages()
        return rng.sample(corpus, min(self.plan.brainstorm.grounding_passages, len(corpus)))

    def _corpus_passages(self) -> list[Passage]:
        """The retrieval corpus, read once per run for grounding and BM25 alike."""
        if self._corpus is None:
            self._corpus = load_corpus(str(self.plan.retrieval_corpus))
        return self._corpus

    def kept_instructions(self) -> list[Candidate] | None:
        """The kept instructions of a finished instruction stage, else None."""
        out = self.plan.instructions_dir
        return read_rows(out / "instructions.jsonl", Candidate.from_json) if is_complete(out) else None

    def finish_instructions(self, replay: FilterReplay) -> list[Candidate]:
        """Write the kept instructions and the funnel, manifest last; an error when nothing was kept."""
        out = self.plan.instructions_dir
        if not replay.kept:
            raise GenerationError(
                f"brainstorming kept no instruction after {replay.funnel['rounds']} rounds "
                f"(--data.generation.brainstorm.max_rounds): {replay.describe()}. The model's raw samples are "
                f"in {self.plan.rounds_dir}; use a stronger base model, check --data.generation.domain, "
                "or raise the budget"
            )
        if not replay.done:
            log.warning(
                "brainstorm budget spent: kept %d of %d instructions (%s)",
                len(replay.kept),
                self.plan.num_instructions,
                replay.describe(),
            )
        write_rows(out / "instructions.jsonl", replay.kept)
        atomic_write_json(out / "funnel.json", replay.funnel)
        write_manifest(out, ["instructions.jsonl", "funnel.json"], {"key": self.plan.instruction_key})
        return replay.kept

    # --- stage 2: responses (docs/method.md steps 4-5, 7) ----------------------------------

    def chunk_path(self, c: int) -> Path:
        return self.plan.dataset_dir / "chunks" / f"chunk-{c:05d}.json"

    def num_chunks(self, instructions: list[Candidate]) -> int:
        return -(-len(instructions) // self.plan.responses.chunk_size)  # ceiling division

    def respond_chunk(self, c: int, instructions: list[Candidate]) -> ResponseChunk:
        """Write responses for chunk ``c`` of ``instructions`` (unless its shard exists)."""
        shard = read_record(self.chunk_path(c), ResponseChunk.from_json)
        if shard is not None:
            return shard
        plan, size = self.plan, self.plan.responses.chunk_size
        # Chunk c is a fixed slice of the kept list: whichever process writes it, it answers the same items.
        indices = range(c * size, min((c + 1) * size, len(instructions)))
        items = [instructions[i] for i in indices]
        hits = self._retrieve(items)
        prompts = [
            self._response_prompt(i, item, item_hits) for i, item, item_hits in zip(indices, items, hits, strict=True)
        ]
        # Greedy, as in the paper; it also makes a chunk a function of its prompts, so a resumed or
        # distributed run writes the same answers.
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
            Response(i, item.instruction, item.input, clean_response(gen.text), gen.raw, _refs(item_hits))
            for i, item, gen, item_hits in zip(indices, items, generations, hits, strict=True)
        ]
        shard = ResponseChunk(c, rows)
        write_record(self.chunk_path(c), shard)
        return shard

    def _response_prompt(self, index: int, item: Candidate, hits: list[Hit]) -> str:
        plan = self.plan
        demos = pick_demonstrations(
            plan.seeds, plan.responses.demonstrations, plan.seed, index, self._demonstration_group()
        )
        passages = [h.text for h in hits]
        return render_response_prompt(plan.prompts.response_preamble, demos, item.instruction, item.input, passages)

    def _demonstration_group(self) -> int:
        """Consecutive instructions that share their demonstrations: a generation batch, or 1 (the paper)."""
        return self.plan.batch_size if self.plan.responses.shared_demonstrations else 1

    def _retrieve(self, items: list[Candidate]) -> list[list[Hit]]:
        plan = self.plan
        if not plan.retrieval_corpus:
            return [[] for _ in items]
        if self._retriever is None:
            passages = self._corpus_passages()
            self._retriever = Retriever(plan.retrieval_corpus, plan.cache_dir, passages, plan.corpus_hash)
        queries = [f"{c.instruction} {c.input}" for c in items]  # the input often names the entity to look up
        return self._retriever.search(queries, plan.responses.retrieval_top_k)

    def finish_dataset(self, instructions: list[Candidate]) -> Path:
        """Assemble the chunks into ``data.jsonl`` + funnel + config; the manifest goes last."""
        plan, out = self.plan, self.plan.dataset_dir
        rows = [r for c in range(self.num_chunks(instructions)) for r in self._finished_chunk(c).rows]
        # An empty answer would teach the model to say nothing: it is counted, not trained on.
        answered = [r for r in rows if r.output]
        # A response may quote an evaluation item (e.g. the model recalls a benchmark answer).
        data = [Example.of(r) for r in answered if not contaminated(r.output, plan.eval_ngrams, plan.filters.ngram)]
        if not data:
            raise GenerationError(
                f"none of {len(rows)} responses is usable ({len(rows) - len(answered)} empty, "
                f"{len(answered)} sharing a {plan.filters.ngram}-gram with --data.generation.eval_files); the "
                f"raw responses are in {out / 'chunks'}; use a stronger base model or raise "
                "--data.generation.responses.max_new_tokens"
            )
        funnel = read_record(plan.instructions_dir / "funnel.json", dict) or {}
        funnel |= {"responses": len(rows), "empty_responses": len(rows) - len(answered)}
        funnel |= {"contaminated_responses": len(answered) - len(data), "examples": len(data)}
        write_rows(out / "data.jsonl", data)
        atomic_write_json(out / "funnel.json", funnel)
        provenance = {"instruction_key": plan.instruction_key, "base_model": plan.base_model}
        atomic_write_json(out / "config.json", plan.dataset_key | provenance)
        # The manifest last: a folder with a manifest is finished, one without is resumed (see cache.py).
        write_manifest(out, ["data.jsonl", "funnel.json", "config.json"], {"examples": len(data)})
        log.info("generated data: %s", format_funnel(funnel))
        log.info("dataset: %s", out / "data.jsonl")
        return out

    def _finished_chunk(self, c: int) -> ResponseChunk:
        shard = read_record(self.chunk_path(c), ResponseChunk.from_json)
        if shard is None:
            raise RuntimeError(f"shard {self.chunk_path(c)} is missing although its stage finished")
        return shard


def _brainstormed(
    seed_ids: list[str], passage_ids: list[str] | None, sample_seed: int, gen: Generation, max_new_tokens: int
) -> BrainstormedPrompt:
    # A sample that used every token was cut off: its last item may be half an instruction. One
    # that wrote a stop string ended there (``text`` is cut before it; without stops it is ``raw``).
    cut_off = gen.new_tokens >= max_new_tokens and gen.text == gen.raw
    parsed = parse_continuation(gen.text, hit_token_limit=cut_off)
    items = [(c.instruction, c.input) for c in parsed.items]
    return BrainstormedPrompt(
        seed_ids, sample_seed, gen.raw, gen.new_tokens, parsed.truncated, items, parsed.unparsed, passage_ids
    )


def _refs(hits: list[Hit]) -> list[PassageRef]:
    return [PassageRef(h.id, h.score) for h in hits]
