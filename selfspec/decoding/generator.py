"""One batched generator for every stage that makes a model write: brainstorming, responses, evaluation.

Speed comes from batching with left padding, bucketing prompts of similar length into the same
batch (less padding), a decode loop that drops finished rows (``selfspec.decoding.decode``), the
narrow-input linear product on a CPU (``selfspec.decoding.narrow_linear``), ``torch.inference_mode``
and, when a batch's prompts begin with
the same tokens (k-shot evaluation: every item of a task follows the same demonstrations), one
forward pass over that shared prefix whose cache every row then reuses. On a CPU a batch that pads
some row is prefilled row by row, each on its own tokens (``selfspec.decoding.decode``): padding costs
a CPU its full compute. Batch composition is a pure
function of the prompt list and ``batch_size``, and sampling is seeded per item, so the same
inputs always give the same outputs. A CUDA out-of-memory error halves the batch and goes on.
"""

from __future__ import annotations

import contextlib
import logging
import re
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from transformers import LogitsProcessorList

from selfspec import stopping
from selfspec.decoding.decode import decode, reserved_cache
from selfspec.decoding.narrow_linear import narrow_linears
from selfspec.decoding.seeded_sampling import SeededSampler
from selfspec.modeling.threads import torch_threads

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SamplingSettings:
    """How the model writes.

    Args:
        max_new_tokens: Most tokens written per prompt.
        do_sample: Sample (True) or decode greedily (False).
        temperature: Softmax temperature when sampling.
        top_p: Nucleus sampling mass when sampling.
        stop: Strings that end a continuation; the text is cut before the first one.
    """

    max_new_tokens: int = 256
    do_sample: bool = False
    temperature: float = 1.0
    top_p: float = 1.0
    stop: tuple[str, ...] = ()


@dataclass(frozen=True)
class Generation:
    """One continuation: ``text`` is cut at the first stop string, ``raw`` is everything written."""

    text: str
    raw: str
    new_tokens: int
    prompt_tokens: int


def cut_at_stop(text: str, stop: Sequence[str]) -> str:
    """``text`` up to the earliest occurrence of any stop string."""
    cut = min((i for s in stop if s and (i := text.find(s)) >= 0), default=len(text))
    return text[:cut]


# A shared prefix shorter than this is not worth a forward pass of its own (the template header).
MIN_SHARED_PREFIX = 32


def shared_prefix_length(rows: Sequence[Sequence[int]]) -> int:
    """Tokens every row begins with, leaving each row at least one token of its own to feed."""
    if len(rows) < 2:
        return 0
    shortest = min(len(r) for r in rows) - 1
    first = rows[0]
    n = 0
    while n < shortest and all(r[n] == first[n] for r in rows):
        n += 1
    return n


def length_buckets(lengths: Sequence[int], batch_size: int) -> list[list[int]]:
    """Indices grouped into batches of similar length (longest first); stable and deterministic."""
    order = sorted(range(len(lengths)), key=lambda i: (-lengths[i], i))
    return [order[k : k + batch_size] for k in range(0, len(order), batch_size)]


ProcessorFactory = Callable[[Sequence[int]], LogitsProcessorList]


class BatchGenerator:
    """Generate continuations for many prompts with one model.

    Args:
        model: A causal LM (a PEFT model works too), already on its device.
        tokenizer: Its tokenizer; padding is set to the left for generation.
        batch_size: Prompts per ``generate`` call (halved on CUDA out-of-memory).
        extra_processors: Optional factory giving logits processors for a batch's item indices
            (used for contrastive decoding).
        threads: Intra-op threads while generating (restored after); None leaves torch's setting.
            A function is asked again before every batch: ``selfspec.modeling.threads.auto_threads``
            gives the cores other processes leave free *now*, so a short job that happened to run
            when the generator was made does not halve a whole stage's speed.
    """

    def __init__(
        self,
        model: Any,
        tokenizer: Any,
        batch_size: int = 16,
        extra_processors: ProcessorFactory | None = None,
        threads: int | Callable[[], int] | None = None,
    ) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        self.model = model
        self.tokenizer = tokenizer
        self.batch_size = batch_size
        self.extra_processors = extra_processors
        self.threads = threads
        self.new_tokens = 0
        self.seconds = 0.0

    @property
    def tokens_per_second(self) -> float:
        return self.new_tokens / self.seconds if self.seconds else 0.0

    def generate(
        self,
        prompts: Sequence[str],
        sampling: SamplingSettings,
        seeds: Sequence[int] | None = None,
        on_batch: Callable[[int], None] | None = None,
    ) -> list[Generation]:
        """Continuations of ``prompts`` in their order; ``seeds`` (one per prompt) when sampling."""
        if sampling.do_sample and (seeds is None or len(seeds) != len(prompts)):
            raise ValueError("sampling needs one seed per prompt")
        encoded = [self.tokenizer(p)["input_ids"] for p in prompts]
        results: list[Generation | None] = [None] * len(prompts)
        for batch in length_buckets([len(e) for e in encoded], self.batch_size):
            stopping.check()  # SIGTERM/Ctrl-C: finished batches are the caller's to keep
            with torch_threads(self.threads() if callable(self.threads) else self.threads):
                generations = self._generate_adaptive(batch, encoded, sampling, seeds)
                for index, generation in zip(batch, generations, strict=True):
                    results[index] = generation
                if on_batch is not None:
                    on_batch(len(batch))
        return [r for r in results if r is not None]

    def _generate_adaptive(
        self, batch: list[int], encoded: list[list[int]], sampling: SamplingSettings, seeds: Sequence[int] | None
    ) -> list[Generation]:
        try:
            # the prefix pass and generate's own; decode steps' narrow inputs use the faster product
            with _stop_between_layers(self.model), narrow_linears(self.model):
                return self._generate_batch(batch, encoded, sampling, seeds)
        except torch.OutOfMemoryError:
            if len(batch) == 1:
                raise
            torch.cuda.empty_cache()
            half = len(batch) // 2
            log.warning(
                "CUDA out of memory with %d prompts in a batch; retrying as %d + %d",
                len(batch),
                half,
                len(batch) - half,
            )
            return self._generate_adaptive(batch[:half], encoded, sampling, seeds) + self._generate_adaptive(
                batch[half:], encoded, sampling, seeds
            )

    @torch.inference_mode()
    def _generate_batch(
        self, batch: list[int], encoded: list[list[int]], sampling: SamplingSettings, seeds: Sequence[int] | None
    ) -> list[Generation]:
        rows = [encoded[i] for i in batch]
        shared = shared_prefix_length(rows)
        # Contrastive decoding's amateur model reads padding as "left of everything": no middle padding.
        shared = shared if shared >= MIN_SHARED_PREFIX and self.extra_processors is None else 0
        started = time.perf_counter()
        input_ids, attention_mask = self._left_pad([r[shared:] for r in rows])
        total = shared + input_ids.shape[1] + sampling.max_new_tokens
        cache = None
        if shared:  # rows = shared prefix + left-padded own tokens; pads masked, positions from the mask
            prefix = torch.tensor([rows[0][:shared]], device=input_ids.device)
            cache = reserved_cache(self.model.config, total)
            self.model(input_ids=prefix, cache=cache, use_cache=True, logits_to_keep=1)
            cache.batch_repeat_interleave(len(batch))
            input_ids = torch.cat([prefix.expand(len(batch), -1), input_ids], dim=1)
            attention_mask = torch.cat([torch.ones_like(input_ids[:, :shared]), attention_mask], dim=1)
        processors = LogitsProcessorList()
        if self.extra_processors is not None:
            processors.extend(self.extra_processors(batch))
        if sampling.do_sample:
            assert seeds is not None
            processors.append(SeededSampler([seeds[i] for i in batch], sampling.temperature, sampling.top_p))
        new_ids = decode(
            self.model,
            input_ids,
            attention_mask,
            sampling.max_new_tokens,
            eos_token_id=self.tokenizer.eos_token_id,
            processors=processors,
            finished=self._stop_finder(sampling.stop),
            should_stop=lambda: stopping.requested() is not None,
            prefix_cache=cache,
        )
        self.seconds += time.perf_counter() - started
        stopping.check()  # a batch cut short by a stop request is discarded, never returned
        return [self._decode(ids, len(encoded[i]), sampling.stop) for ids, i in zip(new_ids, batch, strict=True)]

    def _stop_finder(self, stop: Sequence[str]) -> Callable[[Sequence[int]], bool]:
        """Whether a row's new ids already spell a stop string (a stop may span several tokens)."""
        if not any(stop):
            return lambda ids: False

        def finished(ids: Sequence[int]) -> bool:
            text = self.tokenizer.decode(ids, skip_special_tokens=True)
            return cut_at_stop(text, stop) != text  # the same test that cuts the answer later

        return finished

    def _decode(self, ids: list[int], prompt_tokens: int, stop: Sequence[str]) -> Generation:
        # Everything from the first EOS (or the pad token, when a model writes it) is not part of the answer.
        for special in (self.tokenizer.eos_token_id, self.tokenizer.pad_token_id):
            if special in ids:
                ids = ids[: ids.index(special)]
        self.new_tokens += len(ids)
        raw = self.tokenizer.decode(ids, skip_special_tokens=True)
        return Generation(cut_at_stop(raw, stop), raw, len(ids), prompt_tokens)

    def _left_pad(self, rows: list[list[int]]) -> tuple[torch.Tensor, torch.Tensor]:
        width = max(len(r) for r in rows)
        pad = self.tokenizer.pad_token_id
        ids = torch.tensor([[pad] * (width - len(r)) + r for r in rows], dtype=torch.long)
        mask = torch.tensor([[0] * (width - len(r)) + [1] * len(r) for r in rows], dtype=torch.long)
        device = getattr(self.model, "device", torch.device("cpu"))
        return ids.to(device), mask.to(device)


_LAYER = re.compile(r"(^|\.)(layers|h|blocks)\.\d+$")  # a decoder layer in Llama-, GPT- and Mistral-style models


@contextlib.contextmanager
def _stop_between_layers(model: Any) -> Iterator[None]:
    """A stop request also ends a forward pass between two decoder layers.

    One prefill of 16 long prompts takes over a minute on a 2-core CPU; the per-token stopping
    criterion below would only see the request after it, far over the 10 s a stop may take.
    """
    hooks = [
        module.register_forward_pre_hook(lambda *_: stopping.check())
        for name, module in model.named_modules()
        if _LAYER.search(name)
    ]
    try:
        yield
    finally:
        for hook in hooks:
            hook.remove()
