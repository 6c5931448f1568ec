"""What one generation run makes, and the fingerprints that name its cache folders.

Three folders, three fingerprints: the brainstorm rounds (``rounds_dir``: what the model wrote, keyed
by what decides it, so a larger target continues where a smaller one stopped), the kept instructions
(``instructions_dir``: rounds replayed through the filters up to the target) and the dataset
(``dataset_dir``: responses). A regeneration round (new ``response_adapter``) reuses the cached
instructions and only writes new responses. A plan computes each fingerprint once, on first use: a
key hashes the seed, evaluation, corpus and adapter files, and a run asks for its folders often.

Every output-changing setting enters a fingerprint; files enter by content hash, and so does a
local (or built-in) base model directory (see ``model_id``; a Hub id enters as its name).
The batch size enters too: batch composition changes the logits numerically (left padding, other
kernel shapes), which can flip a greedy or sampled token; so does the dtype when it is not float32
(bfloat16, chosen automatically where the hardware has it); only the device is left out.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import KW_ONLY, asdict, dataclass
from functools import cached_property
from pathlib import Path
from typing import Any, Self

import torch

from selfspec.errors import ConfigError
from selfspec.fingerprints import content_hash, fingerprint
from selfspec.generation.brainstorm import render_brainstorm_prompt
from selfspec.generation.domains import Domain, load_domain
from selfspec.generation.filters import ngrams
from selfspec.generation.model_id import model_identity
from selfspec.generation.records import FORMAT_VERSION
from selfspec.generation.responses import SEPARATOR
from selfspec.generation.settings import FLAG, GenerationSettings
from selfspec.modeling.precision import default_device, inference_dtype
from selfspec.seeds import Seed, load_seeds


@dataclass(frozen=True)
class GenerationPlan(GenerationSettings):
    """Everything that decides the generated dataset: the settings, the seed file and the base model.

    The fields of ``GenerationSettings`` (``data.generation``) under the same names, plus three of the
    data module's own (keyword-only: ``GenerationPlan(seeds_path=..., base_model=..., seed=1)``).
    """

    _: KW_ONLY
    seeds_path: Path
    base_model: str
    trust_remote_code: bool = False

    @classmethod
    def of(cls, settings: GenerationSettings, seeds_path: str | Path, base_model: str, trust_remote_code: bool) -> Self:
        """The plan of a data module: its ``generation`` settings, seed file and base model."""
        # Field by field, not asdict: asdict would turn the nested settings into dicts.
        fields = {f.name: getattr(settings, f.name) for f in dataclasses.fields(settings)}
        return cls(**fields, seeds_path=Path(seeds_path), base_model=base_model, trust_remote_code=trust_remote_code)

    @cached_property
    def seeds(self) -> list[Seed]:
        seeds = load_seeds(self.seeds_path)
        if len(seeds) < self.brainstorm.seeds_per_prompt:
            raise ConfigError(
                f"{self.seeds_path}: {len(seeds)} seeds, but each brainstorm prompt shows "
                f"{self.brainstorm.seeds_per_prompt}; add seeds or lower {FLAG}.brainstorm.seeds_per_prompt"
            )
        if len(seeds) < self.responses.demonstrations:
            raise ConfigError(
                f"{self.seeds_path}: {len(seeds)} seeds, but each response prompt shows "
                f"{self.responses.demonstrations} demonstrations; add seeds or lower {FLAG}.responses.demonstrations"
            )
        return seeds

    @cached_property
    def prompts(self) -> Domain:
        return load_domain(self.domain)

    @cached_property
    def model_identity(self) -> str:
        """The base model's content hash (local or built-in directory) or its Hub id; see ``model_id``."""
        return model_identity(self.base_model)

    @cached_property
    def dtype(self) -> torch.dtype:
        """The dtype the unquantised generation model runs in (bf16 where the hardware has it; see ``precision``)."""
        return inference_dtype(default_device(), self.precision)

    @cached_property
    def eval_ngrams(self) -> set[tuple[str, ...]]:
        grams: set[tuple[str, ...]] = set()
        for path in self.eval_files:
            for text in _eval_texts(Path(path)):
                grams |= ngrams(text, self.filters.ngram)
        return grams

    # --- fingerprints: computed once per plan (each hashes files), so once per run -----------

    @cached_property
    def corpus_hash(self) -> str | None:
        """The retrieval corpus by content (None without one); grounding, the dataset key and the BM25
        index folder all use it."""
        return content_hash(self.retrieval_corpus) if self.retrieval_corpus else None

    @cached_property
    def rounds_key(self) -> dict[str, Any]:
        """What decides a brainstorm round's content: the round number aside, nothing else does.

        The target (``num_instructions``), the budget (``brainstorm.max_rounds``), the filters and the
        evaluation files only decide which rounds are read and what is kept of them, so they stay out:
        a larger target continues in the same folder, a smaller one reads a prefix of it.
        """
        grounding = {"grounding_corpus": self.corpus_hash} if self.grounding else {}
        brainstorm = self._brainstorm_key()
        del brainstorm["max_rounds"]
        return grounding | {
            "format": FORMAT_VERSION,
            "seeds": content_hash(self.seeds_path),
            "model": self.model_identity,
            "batch_size": self.batch_size,
            **self._dtype_key(),
            # The rendered prompt rather than the domain's name: editing a domain file's preamble must make
            # new data, and a custom domain file with the shipped text must not.
            "brainstorm_template": render_brainstorm_prompt(self.prompts.brainstorm_preamble, []),
            "brainstorm": brainstorm,
            # Seed choice and sampling seeds derive from it (with the round and position).
            "seed": self.seed,
        }

    def _brainstorm_key(self) -> dict[str, Any]:
        # A setting added later enters the key only when on: data cached before it keeps its fingerprint.
        key = asdict(self.brainstorm)
        if not key["first_item_only"]:
            del key["first_item_only"]
        return key

    @cached_property
    def instruction_key(self) -> dict[str, Any]:
        """Settings of the kept instructions; the dataset key holds its fingerprint, so they count there too.

        The same dict as before the rounds had a folder of their own (same fingerprint, same cached data).
        """
        return self.rounds_key | {
            "brainstorm": self._brainstorm_key(),
            "filters": asdict(self.filters),
            "eval_files": sorted(content_hash(p) for p in self.eval_files),  # by content, in any order or place
            "num_instructions": self.num_instructions,
        }

    @cached_property
    def dataset_key(self) -> dict[str, Any]:
        adapter = self.response_adapter
        return {
            "instructions": fingerprint(self.instruction_key),
            "response_preamble": self.prompts.response_preamble,
            "separator": SEPARATOR,
            "responses": self._responses_key(),
            "response_adapter": adapter_identity(adapter) if adapter else None,
            "retrieval_corpus": self.corpus_hash,
        }

    def _responses_key(self) -> dict[str, Any]:
        # Shared demonstrations came later: the per-instruction default stays out of the key, so
        # data generated before keeps its fingerprint; shared ones depend on the batch size.
        key = asdict(self.responses)
        if key.pop("shared_demonstrations"):
            key["demonstrations_shared_per"] = self.batch_size
        return key

    def _dtype_key(self) -> dict[str, str]:
        # bfloat16 writes other tokens than float32. float32 (the only CPU dtype before bf16 was
        # chosen) stays out of the key, so data generated before keeps its fingerprint.
        name = str(self.dtype).removeprefix("torch.")
        return {} if name == "float32" else {"dtype": name}

    @property
    def grounding(self) -> bool:
        """Whether brainstorm prompts show corpus passages (then the corpus enters the instruction key)."""
        return bool(self.brainstorm.grounding_passages and self.retrieval_corpus)

    @cached_property
    def rounds_dir(self) -> Path:
        """The brainstorm round shards, shared by every target and budget (see ``rounds_key``)."""
        return self.cache_dir / "brainstorm" / fingerprint(self.rounds_key)

    @cached_property
    def instructions_dir(self) -> Path:
        """The kept instructions and the funnel (cheap: replayed from ``rounds_dir`` without a model call)."""
        return self.cache_dir / "instructions" / fingerprint(self.instruction_key)

    @cached_property
    def dataset_dir(self) -> Path:
        """The response chunks and the finished dataset (``data.jsonl``)."""
        return self.cache_dir / fingerprint(self.dataset_key)

    def check_files(self) -> None:
        """Fail before any model loads when a named file is missing."""
        self.seeds  # noqa: B018  (validates the seed file and the seed count)
        self.prompts  # noqa: B018
        for path in self.eval_files:
            if not Path(path).is_file():
                raise ConfigError(f"{FLAG}.eval_files: no such file {path!r}")
        if self.retrieval_corpus and not Path(self.retrieval_corpus).exists():
            raise ConfigError(f"{FLAG}.retrieval_corpus={self.retrieval_corpus!r}: no such file or directory")
        if self.response_adapter and not (Path(self.response_adapter) / "adapter_config.json").is_file():
            raise ConfigError(
                f"{FLAG}.response_adapter={self.response_adapter!r}: not a PEFT adapter directory "
                "(no adapter_config.json)"
            )


def adapter_identity(adapter: str | Path) -> str:
    """The adapter's weights and PEFT config: what changes its outputs. Provenance files beside them
    (the run's config, README) name run folders, which would make equal adapters look different."""
    files = sorted(p for p in Path(adapter).glob("adapter_*") if p.is_file())  # config + model weights
    return fingerprint([[p.name, _config_identity(p) if p.suffix == ".json" else content_hash(p)] for p in files])


def _config_identity(path: Path) -> Any:
    """PEFT writes ``target_modules`` from a Python set: same adapter, other order per process."""
    config = json.loads(path.read_text(encoding="utf-8"))
    for key in ("target_modules", "modules_to_save"):
        if isinstance(config.get(key), list):
            config[key] = sorted(config[key])
    return config


def _eval_texts(path: Path) -> list[str]:
    """Every string in an evaluation file: JSONL / JSON records (all string fields), else its lines."""
    text = path.read_text(encoding="utf-8")
    if path.suffix not in (".jsonl", ".json"):
        return text.splitlines()
    rows = json.loads(text) if path.suffix == ".json" else [json.loads(x) for x in text.splitlines() if x.strip()]
    return [s for row in rows for s in _strings(row)]


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return []
