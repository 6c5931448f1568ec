"""The decode loop: prefill, then one token per step for the rows still writing.

Why not ``model.generate``: it decodes every row until the batch's longest one is done (a row that
hit its stop string keeps paying for attention and cache), and its dynamic cache grows by
concatenation, copying every layer's keys and values at every step. Here a finished row leaves the
batch (its cache rows are dropped), and the cache is one buffer per layer with room for the whole
continuation. On SmolLM2 with 16 response prompts (two rows ran to 48 tokens, most stopped by 10)
that made decoding about 2x cheaper on a 2-core CPU (``benchmarks/generation.py``).

Semantics are ``generate``'s greedy search with the given logits processors and nothing else (the
model's ``generation_config`` adds none): the next token is the argmax of the processed scores, a row
ends at EOS or once its decoded text contains a stop string, positions come from the attention mask
(left padding), and ``prefix_cache`` (a cache over the first tokens every row shares) is reused.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
from transformers import DynamicCache, LogitsProcessorList
from transformers.cache_utils import DynamicLayer


class ReservedLayer(DynamicLayer):
    """A cache layer writing into a buffer with room for ``capacity`` positions (no copy per step).

    ``keys``/``values`` are views of the filled part, as ``DynamicLayer`` exposes them; a longer
    sequence than reserved reallocates (doubling), so the capacity is a hint, never a limit.
    """

    def __init__(self, capacity: int) -> None:
        super().__init__()
        self.capacity = capacity
        self.length = 0
        self._keys: torch.Tensor | None = None
        self._values: torch.Tensor | None = None

    def update(self, key_states: torch.Tensor, value_states: torch.Tensor, *args: Any, **kwargs: Any) -> Any:
        if not self.is_initialized:
            self.lazy_initialization(key_states, value_states)
        end = self.length + key_states.shape[-2]
        if self._keys is None or self._values is None or end > self._keys.shape[-2]:
            self._grow(key_states, value_states, end)
        assert self._keys is not None and self._values is not None
        self._keys[:, :, self.length : end] = key_states
        self._values[:, :, self.length : end] = value_states
        self.length = end
        self._expose()
        return self.keys, self.values

    def _grow(self, key_states: torch.Tensor, value_states: torch.Tensor, end: int) -> None:
        capacity = max(self.capacity, end, 2 * self.length)
        keys = key_states.new_empty(*key_states.shape[:2], capacity, key_states.shape[-1])
        values = value_states.new_empty(*value_states.shape[:2], capacity, value_states.shape[-1])
        if self._keys is not None and self._values is not None and self.length:
            keys[:, :, : self.length] = self._keys[:, :, : self.length]
            values[:, :, : self.length] = self._values[:, :, : self.length]
        self._keys, self._values, self.capacity = keys, values, capacity

    def _expose(self) -> None:
        assert self._keys is not None and self._values is not None
        self.keys, self.values = self._keys[:, :, : self.length], self._values[:, :, : self.length]

    def get_seq_length(self) -> int:
        return self.length

    def batch_select_indices(self, indices: torch.Tensor) -> None:
        if self.length and self._keys is not None and self._values is not None:
            self._keys, self._values = self._keys[indices], self._values[indices]
            self._expose()

    def batch_repeat_interleave(self, repeats: int) -> None:
        if self.length and self._keys is not None and self._values is not None:
            self._keys = self._keys.repeat_interleave(repeats, dim=0)
            self._values = self._values.repeat_interleave(repeats, dim=0)
            self._expose()


def reserved_cache(config: Any, capacity: int) -> DynamicCache:
    """A ``DynamicCache`` whose full-attention layers reserve ``capacity`` positions (sliding ones unchanged)."""
    cache = DynamicCache(config=config)
    if cache.layers:
        cache.layers = [ReservedLayer(capacity) if type(layer) is DynamicLayer else layer for layer in cache.layers]
    else:  # no layout from the config: layers are made lazily, one per model layer
        cache.layer_class_to_replicate = lambda: ReservedLayer(capacity)  # type: ignore[assignment]
    return cache


def positions_of(mask: torch.Tensor) -> torch.Tensor:
    """Position ids from a left-padded attention mask, as ``generate`` makes them (padding at 1)."""
    return (mask.cumsum(-1) - 1).masked_fill(mask == 0, 1)


@torch.inference_mode()
def decode(
    model: Any,
    input_ids: torch.Tensor,
    attention_mask: torch.Tensor,
    max_new_tokens: int,
    *,
    eos_token_id: int | None,
    processors: LogitsProcessorList,
    finished: Callable[[Sequence[int]], bool],
    should_stop: Callable[[], bool] = lambda: False,
    prefix_cache: Any = None,
) -> list[list[int]]:
    """New token ids of every row (EOS included when written), in row order.

    ``input_ids``/``attention_mask`` (B, T) cover the whole prompt; with ``prefix_cache`` its first
    ``prefix_cache.get_seq_length()`` columns are already cached (repeated to B rows). ``finished``
    says from a row's new ids whether a stop string ended it. Processors with ``keep_rows(indices)``
    follow the batch as it shrinks; any processor without it keeps every row decoding to the end.
    """
    rows = input_ids.shape[0]
    cached = prefix_cache.get_seq_length() if prefix_cache is not None else 0
    cache = prefix_cache
    if cache is None:  # room for the whole continuation: no reallocation while decoding
        cache = reserved_cache(model.config, input_ids.shape[1] + max_new_tokens)
    shrinkable = all(hasattr(p, "keep_rows") for p in processors)
    out: list[list[int]] = [[] for _ in range(rows)]
    done = [False] * rows
    active = list(range(rows))  # the rows still in the batch, in batch order
    sequences, mask = input_ids, attention_mask
    if row_by_row_prefill(cache, mask[:, cached:]):
        logits = _prefill_rows(model, input_ids, mask, cached, cache)
    else:
        logits = model(
            input_ids=input_ids[:, cached:],
            attention_mask=mask,
            position_ids=positions_of(mask)[:, cached:],
            cache=cache,
            use_cache=True,
            logits_to_keep=1,
        ).logits[:, -1]
    for step in range(max_new_tokens):
        # float32 scores for the processors, as generate hands them
        chosen = processors(sequences, logits.float()).argmax(-1) if processors else logits.argmax(-1)  # type: ignore[arg-type]
        for row, token in zip(active, chosen.tolist(), strict=True):
            if not done[row]:  # a finished row of an unshrinkable batch is fed on, its tokens dropped
                out[row].append(token)
                done[row] = token == eos_token_id or finished(out[row])
        if all(done) or step == max_new_tokens - 1 or should_stop():
            break
        keep = [j for j, row in enumerate(active) if not done[row]] if shrinkable else list(range(len(active)))
        if len(keep) < len(active):
            index = torch.tensor(keep, device=chosen.device)
            cache.batch_select_indices(index)
            for processor in processors:
                processor.keep_rows(keep)
            active = [active[j] for j in keep]
            chosen, sequences, mask = chosen[index], sequences[index], mask[index]
        mask = torch.cat([mask, mask.new_ones(len(active), 1)], dim=1)
        sequences = torch.cat([sequences, chosen[:, None]], dim=1)
        logits = model(
            input_ids=chosen[:, None],
            attention_mask=mask,
            position_ids=positions_of(mask)[:, -1:],
            cache=cache,
            use_cache=True,
        ).logits[:, -1]
    return out


def row_by_row_prefill(cache: Any, own_mask: torch.Tensor) -> bool:
    """Whether to prefill each row on its own tokens: on a CPU, when the batch pads some row.

    A padded batch computes every layer over its pad positions too. On a 2-core CPU, 16 PubMedQA
    prompts (5,334 tokens padded to 8,720) took 25.4 s as one batch and 13.7 s row by row
    (``benchmarks/roofline.py`` has the batch's figures); a few hundred tokens per row still keep
    the matrix products efficient. A GPU computes the padded batch in parallel: it keeps it.
    """
    layers = getattr(cache, "layers", ())
    return (
        own_mask.device.type == "cpu"
        and own_mask.shape[0] > 1
        and not bool(own_mask.all())
        and bool(layers)
        and all(isinstance(layer, ReservedLayer) for layer in layers)
    )


def _prefill_rows(model: Any, input_ids: torch.Tensor, mask: torch.Tensor, cached: int, cache: Any) -> torch.Tensor:
    """Each row's own tokens through the model alone, its keys and values written into the batch cache
    where the padded batch would have put them (pads: zeros, masked); the last position's logits."""
    rows, width = input_ids.shape
    layers = cache.layers
    prefix = [_filled(layer) for layer in layers] if cached else None
    full: list[tuple[torch.Tensor, torch.Tensor]] = []
    last = []
    for r in range(rows):
        own = int(mask[r, cached:].sum())
        row_cache = reserved_cache(model.config, cached + own)
        if prefix is not None:  # the shared prefix's cache, this row's copy
            for i, (keys, values) in enumerate(prefix):
                row_cache.update(keys[r : r + 1], values[r : r + 1], i)
        out = model(
            input_ids=input_ids[r : r + 1, width - own :],
            attention_mask=mask.new_ones(1, cached + own),
            position_ids=torch.arange(cached, cached + own, device=input_ids.device)[None],
            cache=row_cache,
            use_cache=True,
            logits_to_keep=1,
        )
        last.append(out.logits[:, -1])
        for i, layer in enumerate(row_cache.layers):
            row_keys, row_values = _filled(layer)
            if r == 0:
                shape = (rows, row_keys.shape[1], width, row_keys.shape[-1])
                full.append((row_keys.new_zeros(shape), row_values.new_zeros(shape)))
            keys, values = full[i]
            keys[r, :, :cached], values[r, :, :cached] = row_keys[0, :, :cached], row_values[0, :, :cached]
            keys[r, :, width - own :], values[r, :, width - own :] = row_keys[0, :, cached:], row_values[0, :, cached:]
    for i, layer in enumerate(layers):  # the batch cache restarts from the joined rows
        layer.length = 0
        layer.update(*full[i])
    return torch.cat(last)


def _filled(layer: Any) -> tuple[torch.Tensor, torch.Tensor]:
    """A reserved layer's filled keys and values."""
    assert layer.keys is not None and layer.values is not None
    return layer.keys, layer.values
