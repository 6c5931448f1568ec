"""Grouped generation settings (frozen dataclasses: jsonargparse shows their fields in ``--help``)."""

from __future__ import annotations

from dataclasses import dataclass

from selfspec.errors import ConfigError


@dataclass(frozen=True)
class BrainstormSettings:
    """How the base model brainstorms instructions (METHOD step 2).

    Args:
        seeds_per_prompt: Seed tasks shown in each brainstorm prompt.
        prompts_per_round: Prompts per round; a round is the unit of work, of caching and of resume.
        max_rounds: Attempt budget: give up after this many rounds even if fewer instructions are kept.
        max_new_tokens: Most tokens written per brainstorm prompt.
        temperature: Sampling temperature.
        top_p: Nucleus sampling mass.
        grounding_passages: Beyond the paper (0 = off, the paper's prompt): show this many passages of
            ``--data.retrieval_corpus``, drawn at random per prompt, before the seed tasks, so the model
            brainstorms tasks about the domain's own entities. Needs ``--data.retrieval_corpus``.
    """

    seeds_per_prompt: int = 3
    prompts_per_round: int = 32
    max_rounds: int = 500
    max_new_tokens: int = 512
    temperature: float = 1.0
    top_p: float = 0.98
    grounding_passages: int = 0

    def check(self, flag: str = "--data.brainstorm") -> None:
        if self.seeds_per_prompt < 1 or self.prompts_per_round < 1 or self.max_rounds < 1:
            raise ConfigError(f"{flag}.seeds_per_prompt, .prompts_per_round and .max_rounds must be at least 1")
        if self.max_new_tokens < 1 or self.temperature <= 0 or not 0 < self.top_p <= 1:
            raise ConfigError(f"{flag}: max_new_tokens >= 1, temperature > 0 and top_p in (0, 1] are required")
        if self.grounding_passages < 0:
            raise ConfigError(f"{flag}.grounding_passages must be >= 0 (0 = off), got {self.grounding_passages}")


@dataclass(frozen=True)
class ResponseSettings:
    """How responses are written (METHOD steps 4, 5 and 7); decoding is greedy.

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

    def check(self, flag: str = "--data.responses") -> None:
        if self.demonstrations < 0 or self.max_new_tokens < 1 or self.chunk_size < 1 or self.retrieval_top_k < 1:
            raise ConfigError(f"{flag}: demonstrations >= 0, max_new_tokens, chunk_size, retrieval_top_k >= 1")
        if self.contrastive_alpha is not None and not 0 < self.contrastive_alpha <= 1:
            raise ConfigError(f"{flag}.contrastive_alpha must be in (0, 1], got {self.contrastive_alpha}")
