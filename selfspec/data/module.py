"""The LightningDataModule that feeds specialisation.

With ``generation.num_instructions > 0`` it trains on data the base model writes itself from the seeds
(docs/method.md steps 2-5, 7): ``prepare_data`` runs whatever generation stage is missing from the
content-addressed cache ``<cache_dir>/<fingerprint>/`` (resumable, see
``selfspec.generation.recipe``). With ``generation.num_instructions: 0`` it trains on the seed file itself
(the paper's "seeds only" control). Construction is cheap and does no I/O: files are validated in
``prepare_data``, before Lightning calls ``configure_model``, so a bad file fails before any
weights are loaded.
"""

from __future__ import annotations

import logging
import random
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

import lightning as L
import torch
from torch.utils.data import DataLoader, Sampler
from torchdata.stateful_dataloader import StatefulDataLoader

from selfspec.data.sampling import PassCounter, ResumableShuffleSampler
from selfspec.data.tokenize import ExampleTooLongError, Overflow, TokenizedExample, build_example, collate
from selfspec.errors import ConfigError
from selfspec.generation.plan import GenerationPlan
from selfspec.generation.recipe import first, load_generated, prepare_generated, work_items
from selfspec.generation.settings import GenerationSettings
from selfspec.hparams import make_plain
from selfspec.modeling.loading import load_tokenizer, resolve_model_source
from selfspec.prompts import PromptTemplate, check_template_name, resolve_template
from selfspec.seeds import Seed, load_seeds

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase

log = logging.getLogger(__name__)


class SelfSpecDataModule(L.LightningDataModule):
    # Loader and tokenisation options stay flat (data.batch_size, not data.loader.batch_size): the module
    # uses each itself, Lightning's conventions and selfspec's readers look for them there
    # (datamodule.batch_size for gradient accumulation, data.template in a run's saved config.yaml).
    def __init__(
        self,
        seeds_path: str | Path = "data/seeds/example.jsonl",
        base_model: str = "builtin:tiny-llama",
        template: str = "alpaca",
        max_length: int = 512,
        overflow: Overflow = "error",
        batch_size: int = 4,
        val_fraction: float = 0.1,
        split_seed: int = 0,
        group_by_length: bool = True,
        num_workers: int = 0,
        trust_remote_code: bool = False,
        generation: GenerationSettings = GenerationSettings(),
        include_seeds: bool = False,
    ) -> None:
        """Training data for one specialisation run.

        Args:
            seeds_path: Seed file (JSONL or JSON list; selfspec triplets or Self-Instruct tasks).
            base_model: Model whose tokenizer is used; linked to ``model.base_model`` by the CLI.
            template: Prompt template name: ``alpaca`` (the paper's) or ``chat`` (beyond the paper: the
                base's own chat template, from its tokenizer; for an instruction-tuned base).
            max_length: Longest tokenised example (prompt + response), in tokens.
            overflow: What to do with an example whose prompt alone reaches ``max_length``:
                ``error`` stops with its id, ``drop`` skips it and reports the count.
            batch_size: Examples per micro-batch (per device); use ``trainer.accumulate_grad_batches``
                for a larger effective batch.
            val_fraction: Share of examples held out for validation (0 disables validation).
            split_seed: Seed of the deterministic train/validation split and of the shuffling.
            group_by_length: Batch examples of similar length together (less padding, faster);
                otherwise shuffle uniformly.
            num_workers: DataLoader worker processes.
            trust_remote_code: Allow custom tokenizer code from the model repository; off unless
                you trust its author.
            generation: Self-generated training data (``data.generation``; see ``GenerationSettings``):
                with ``num_instructions > 0`` the base model writes the training data from the seeds.
            include_seeds: Beyond the paper (off: it trains on the generated data alone): with
                generated data, also train on the seed examples themselves. The seeds-only control
                then asks whether the generated data adds anything to the seeds at the same step count.
        """
        super().__init__()
        if not 0.0 <= val_fraction < 1.0:
            raise ConfigError(f"--data.val_fraction must be in [0, 1), got {val_fraction}")
        if max_length < 2:
            raise ConfigError(f"--data.max_length must be at least 2, got {max_length}")
        if batch_size < 1:
            raise ConfigError(f"--data.batch_size must be at least 1, got {batch_size}")
        self.save_hyperparameters()
        make_plain(self.hparams)  # checkpoints must load with weights_only=True
        self.seeds_path = Path(seeds_path)
        self.base_model = base_model
        # Only the name here: the template is built in setup, where the tokenizer (``chat``'s source) is.
        self.template_name = check_template_name(template)
        self.max_length = max_length
        self.overflow = overflow
        self.batch_size = batch_size
        self.val_fraction = val_fraction
        self.split_seed = split_seed
        self.group_by_length = group_by_length
        self.num_workers = num_workers
        self.trust_remote_code = trust_remote_code
        self.plan = GenerationPlan.of(generation, seeds_path, base_model, trust_remote_code)
        self.include_seeds = include_seeds
        self.train_examples: list[TokenizedExample] = []
        self.val_examples: list[TokenizedExample] = []
        self.pad_id = 0
        self.passes = PassCounter()

    def prepare_data(self) -> None:
        # Runs before anything is written or loaded: a bad seed file or an unreachable model
        # fails here, with nothing half-done. It also builds a built-in model once (rank 0).
        load_seeds(self.seeds_path)
        resolve_model_source(self.base_model)
        # In predict every process runs its share from predict_step (the recipe's rank/world form);
        # here, once per machine, only the inputs are checked.
        predicting = self.trainer is not None and self.trainer.predicting
        if self.plan.num_instructions or predicting:
            prepare_generated(self.plan, predicting)

    def setup(self, stage: str) -> None:
        if self.train_examples or stage == "predict":
            return
        seeds = self._examples()
        tokenizer = load_tokenizer(resolve_model_source(self.base_model), self.trust_remote_code)
        self.pad_id = tokenizer.pad_token_id
        examples = self._tokenize(seeds, tokenizer, resolve_template(self.template_name, tokenizer))
        if not examples:
            raise ConfigError(f"{self.seeds_path}: no example fits --data.max_length={self.max_length}")
        train_idx, val_idx = split_indices(len(examples), self.val_fraction, self.split_seed)
        self.train_examples = [examples[i] for i in train_idx]
        self.val_examples = [examples[i] for i in val_idx]
        if stage == "fit":  # a pure evaluation trains on nothing: the line would mislead there
            log.info("data: %d train / %d validation examples", len(self.train_examples), len(self.val_examples))
        if not self.val_examples and self.trainer is not None:
            self.trainer.limit_val_batches = 0  # no validation loop over an empty loader (Lightning warns)

    def _examples(self) -> list[Seed]:
        if not self.plan.num_instructions:
            return load_seeds(self.seeds_path)
        generated = load_generated(self.plan)
        if self.include_seeds:
            log.info("data: %d generated examples + the %s seeds", len(generated), self.seeds_path)
            return load_seeds(self.seeds_path) + generated
        return generated

    def _tokenize(
        self, seeds: list[Seed], tokenizer: PreTrainedTokenizerBase, template: PromptTemplate
    ) -> list[TokenizedExample]:
        examples, dropped, truncated = [], 0, 0
        for seed in seeds:
            prompt_ids = tokenizer(template.render(seed.instruction, seed.input))["input_ids"]
            response_ids = tokenizer(seed.output.strip(), add_special_tokens=False)["input_ids"]
            try:
                example = build_example(
                    prompt_ids, response_ids, tokenizer.eos_token_id, self.max_length, f"{seed.id!r}"
                )
            except ExampleTooLongError:
                if self.overflow == "error":
                    raise
                dropped += 1
                continue
            truncated += example.truncated
            examples.append(example)
        if dropped or truncated:
            log.warning("data: %d examples dropped (prompt too long), %d responses truncated", dropped, truncated)
        return examples

    def train_dataloader(self) -> StatefulDataLoader:
        lengths = [len(e.input_ids) for e in self.train_examples]
        sampler = ResumableShuffleSampler(lengths, self.batch_size, self.split_seed, self.passes, self.group_by_length)
        return self._loader(self.train_examples, sampler)

    def state_dict(self) -> dict[str, int]:
        return {"completed_passes": self.passes.completed}

    def load_state_dict(self, state_dict: dict[str, int]) -> None:
        self.passes.completed = state_dict["completed_passes"]

    def test_dataloader(self) -> StatefulDataLoader | list:
        # `selfspec test` runs the held-out examples; selfspec.callbacks.DomainEvaluation adds the suite.
        return self.val_dataloader()

    def val_dataloader(self) -> StatefulDataLoader | list:
        return self._loader(self.val_examples, None) if self.val_examples else []

    def predict_dataloader(self) -> DataLoader:
        """One work item per process: ``selfspec predict`` generates the data (see generation/recipe.py)."""
        world_size = self.trainer.world_size if self.trainer is not None else 1
        return DataLoader(work_items(world_size), batch_size=1, collate_fn=first)  # type: ignore[arg-type]

    def _loader(self, examples: list[TokenizedExample], sampler: Sampler | None) -> StatefulDataLoader:
        # A stateful loader lets Lightning resume mid-epoch at the exact batch. Its own generator
        # keeps the loader's seed draws off the global RNG, whose state (dropout) checkpoints restore.
        return StatefulDataLoader(
            examples,
            batch_size=self.batch_size,
            sampler=sampler,
            collate_fn=partial(collate, pad_id=self.pad_id),
            num_workers=self.num_workers,
            generator=torch.Generator().manual_seed(self.split_seed),
        )


def split_indices(n: int, val_fraction: float, seed: int) -> tuple[list[int], list[int]]:
    """Deterministic shuffled split; validation gets ``round(n * val_fraction)`` items, training at least one."""
    order = list(range(n))
    random.Random(seed).shuffle(order)
    # At most n - 1: training always keeps an example, whatever the fraction and however few seeds.
    n_val = min(round(n * val_fraction), n - 1)
    return sorted(order[n_val:]), sorted(order[:n_val])
