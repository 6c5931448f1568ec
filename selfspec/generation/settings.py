"""Generation settings: ``data.generation`` of a config, typed, each group validated where it is made.

Frozen dataclasses: jsonargparse shows their fields (the ``Args:`` text) in ``selfspec fit --help``,
and a field has the same name in the YAML, on the command line and in the code
(``data.generation.brainstorm.max_rounds`` is ``plan.brainstorm.max_rounds``). Each class checks its
own values in ``__post_init__``, so a bad value fails while the config is parsed, naming the flag;
whether the named files exist is checked later, before any model loads
(``GenerationPlan.check_files``), because a constructor does no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from selfspec.errors import ConfigError
from selfspec.generation.filters import FilterSettings
from selfspec.modeling.precision import PRECISIONS

FLAG = "--data.generation"  # every message names the flag; a YAML user reads the same dotted path


@dataclass(frozen=True)
class BrainstormSettings:
    """How the base model brainstorms instructions (``docs/method.md`` step 2).

    Args:
        seeds_per_prompt: Seed tasks shown in each brainstorm prompt.
        prompts_per_round: Prompts per round; a round is the unit of work, of caching and of resume.
        max_rounds: Attempt budget: give up after this many rounds even if fewer instructions are kept.
        max_new_tokens: Most tokens written per brainstorm prompt.
        temperature: Sampling temperature.
        top_p: Nucleus sampling mass.
        grounding_passages: Beyond the paper (0 = off, the paper's prompt): show this many passages of
            ``--data.generation.retrieval_corpus``, drawn at random per prompt, before the seed tasks, so the model
            brainstorms tasks about the domain's own entities. Needs ``--data.generation.retrieval_corpus``.
        first_item_only: Beyond the paper (off = the paper's open list): end each continuation at its
            first blank line, i.e. after the first new item. A small model rambles on after it (lists
            of options, notes, half a second item cut off by the token limit), which costs decode
            steps and yields little: on SmolLM2-135M brainstorming took 123 s instead of 194 s, with
            4 unreadable items instead of 14, though round 1 then scored lower on the dev suite
            (``configs/smollm2/results.md``).
    """

    seeds_per_prompt: int = 3
    prompts_per_round: int = 32
    max_rounds: int = 500
    max_new_tokens: int = 512
    temperature: float = 1.0
    top_p: float = 0.98
    grounding_passages: int = 0
    first_item_only: bool = False

    def __post_init__(self) -> None:
        flag = f"{FLAG}.brainstorm"
        if self.seeds_per_prompt < 1 or self.prompts_per_round < 1 or self.max_rounds < 1:
            raise ConfigError(f"{flag}.seeds_per_prompt, .prompts_per_round and .max_rounds must be at least 1")
        if self.max_new_tokens < 1 or self.temperature <= 0 or not 0 < self.top_p <= 1:
            raise ConfigError(f"{flag}: max_new_tokens >= 1, temperature > 0 and top_p in (0, 1] are required")
        if self.grounding_passages < 0:
            raise ConfigError(f"{flag}.grounding_passages must be >= 0 (0 = off), got {self.grounding_passages}")


@dataclass(frozen=True)
class ResponseSettings:
    """How responses are written (``docs/method.md`` steps 4, 5 and 7); decoding is greedy.

    Args:
        demonstrations: Seed demonstrations shown in each response prompt.
        max_new_tokens: Most tokens written per response.
        chunk_size: Instructions per response shard (unit of work, caching and resume).
        retrieval_top_k: Passages retrieved per instruction when ``retrieval_corpus`` is set.
        contrastive_alpha: With ``response_adapter``, decode contrastively (expert = adapter,
            amateur = base) with this plausibility cut-off (about 0.1); null decodes plainly.
        shared_demonstrations: Draw the demonstrations once per generation batch instead of once
            per instruction (the paper): the batch's prompts then share preamble + demonstrations,
            whose KV cache is computed once (responses 1.5x faster on a 2-core CPU). The
            demonstrations' style then repeats across a batch: on the README's 32-instruction run
            it made round 1 answer "yes"/"no" to the NCBI sentences (configs/smollm2/results.md).
    """

    demonstrations: int = 5
    max_new_tokens: int = 512
    chunk_size: int = 64
    retrieval_top_k: int = 3
    contrastive_alpha: float | None = None
    shared_demonstrations: bool = False

    def __post_init__(self) -> None:
        flag = f"{FLAG}.responses"
        if self.demonstrations < 0 or self.max_new_tokens < 1 or self.chunk_size < 1 or self.retrieval_top_k < 1:
            raise ConfigError(f"{flag}: demonstrations >= 0, max_new_tokens, chunk_size, retrieval_top_k >= 1")
        if self.contrastive_alpha is not None and not 0 < self.contrastive_alpha <= 1:
            raise ConfigError(f"{flag}.contrastive_alpha must be in (0, 1], got {self.contrastive_alpha}")


@dataclass(frozen=True)
class GenerationSettings:
    """Self-generated training data (``docs/method.md`` steps 2-5, 7); ``num_instructions: 0`` turns it off.

    Args:
        num_instructions: Instructions the base model brainstorms and answers itself (the paper:
            5000); 0 trains on the seeds alone (the paper's control).
        domain: Domain prompts: a shipped name (``biomedicine``, ``finance``) or a YAML file with
            ``name``, ``brainstorm_preamble`` and ``response_preamble``.
        cache_dir: Generated data goes to ``<cache_dir>/<fingerprint>/`` (``data.jsonl``, funnel,
            manifest); an identical configuration reuses it without any model call.
        seed: Seed of everything random in generation (seed choice, sampling).
        batch_size: Prompts per generate call (halved on CUDA out-of-memory). Part of the data
            fingerprint: batch composition changes the logits numerically.
        precision: dtype of the unquantised generation model: ``auto`` (bfloat16 on GPUs and CPUs
            with native bf16, avx512_bf16/amx_bf16; float32 elsewhere, where emulated bf16 is
            slower), ``float32`` or ``bfloat16``. A dtype other than float32 enters the data fingerprint.
        response_adapter: A previous round's adapter directory: responses are regenerated by
            base + this adapter, instructions come from the cache (iterative rounds); null = base.
        retrieval_corpus: Domain corpus for BM25 knowledge infusion (JSONL, text files, or a
            saved HF dataset); null = no retrieval.
        eval_files: Evaluation files (JSONL/JSON/text); generated instructions and responses
            sharing a word n-gram (``filters.ngram``) with them are dropped (no leakage).
        brainstorm: Instruction brainstorming settings (step 2).
        filters: Instruction filter settings (step 3).
        responses: Response generation settings (steps 4, 5, 7).
    """

    num_instructions: int = 0
    domain: str = "biomedicine"
    cache_dir: Path = Path("data/generated")
    seed: int = 0
    batch_size: int = 16
    precision: str = "auto"
    response_adapter: str | None = None
    retrieval_corpus: str | None = None
    eval_files: tuple[str, ...] = ()  # a tuple, not a list: the settings are frozen and hashable
    brainstorm: BrainstormSettings = field(default_factory=BrainstormSettings)
    filters: FilterSettings = field(default_factory=FilterSettings)
    responses: ResponseSettings = field(default_factory=ResponseSettings)

    def __post_init__(self) -> None:
        # A config gives strings and lists; the fingerprints want one form of each. object.__setattr__:
        # the dataclass is frozen, and this is the one place allowed to normalise it.
        object.__setattr__(self, "cache_dir", Path(self.cache_dir))
        object.__setattr__(self, "eval_files", tuple(self.eval_files))
        if self.num_instructions < 0:
            raise ConfigError(f"{FLAG}.num_instructions must be >= 0, got {self.num_instructions}")
        if self.batch_size < 1:
            raise ConfigError(f"{FLAG}.batch_size must be at least 1, got {self.batch_size}")
        if self.precision not in PRECISIONS:
            raise ConfigError(f"{FLAG}.precision must be one of {list(PRECISIONS)}, got {self.precision!r}")
        if self.brainstorm.grounding_passages and not self.retrieval_corpus:
            raise ConfigError(
                f"{FLAG}.brainstorm.grounding_passages={self.brainstorm.grounding_passages} draws passages from "
                f"{FLAG}.retrieval_corpus, which is not set; set the corpus or use grounding_passages 0"
            )
        if self.responses.contrastive_alpha is not None and not self.response_adapter:
            raise ConfigError(
                f"{FLAG}.responses.contrastive_alpha needs {FLAG}.response_adapter (the expert); "
                "set the adapter or leave contrastive_alpha null"
            )
