"""Plug-and-play experts: one base model with several domain adapters loaded at once.

    experts = Experts.load(None, {"biomed": "runs/bio/adapter", "finance": "runs/fin/adapter"})
    experts.generate(["What does BRCA1 encode?"], expert="biomed")
    experts.generate(["Define EBITDA.", "Define apoptosis."], expert=["finance", "biomed"])
    experts.generate(["Hello"], expert=None)  # the base model itself, every adapter disabled

The base is loaded once (in the quantisation the adapters were trained with, unless told
otherwise); each adapter is a PEFT adapter of the same ``PeftModel``, switched per request with
``set_adapter``, or bypassed with ``disable_adapter()``. A batch that mixes experts is grouped per
expert, each group going through the shared ``BatchGenerator`` (greedy by default). Adapters
trained on another base or with another prompt template are refused before any weight loads.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch

from selfspec.decoding.generator import BatchGenerator, SamplingSettings
from selfspec.errors import ConfigError
from selfspec.evaluation.runner import STOP_STRINGS
from selfspec.modeling.adapters import attach_adapter, load_base
from selfspec.modeling.compat import (
    AdapterInfo,
    check_adapter_fits,
    common_base,
    common_template,
    describe_adapter,
)
from selfspec.modeling.loading import load_tokenizer, resolve_model_source
from selfspec.modeling.quantization import Quantization
from selfspec.prompts import PromptTemplate, resolve_template

log = logging.getLogger(__name__)

# PEFT stores adapters as submodule keys: no dots, nothing that cannot be an attribute name.
NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")

Expert = str | None  # an adapter's name, or None for the base model with every adapter disabled


def check_names(adapters: Mapping[str, Any]) -> None:
    """``ConfigError`` for an empty mapping or a name PEFT cannot hold."""
    if not adapters:
        raise ConfigError("no adapters given; pass at least one --adapter NAME=DIR")
    for name in adapters:
        if not NAME.match(name):
            raise ConfigError(f"adapter name {name!r}: use letters, digits, '_' and '-' (starting with a letter)")


def pick_quantization(infos: Sequence[AdapterInfo]) -> Quantization:
    """The quantisation every adapter was trained with; ``none`` when they do not say or disagree."""
    recorded = {info.quantization for info in infos}
    if len(recorded) == 1 and recorded <= {"nf4", "int8", "none"}:
        return recorded.pop()  # type: ignore[return-value]
    log.info("adapters record no common quantisation (%s); loading the base unquantised", sorted(map(str, recorded)))
    return "none"


class Experts:
    """A base model with named adapters; each request chooses one (or none).

    Args:
        model: A ``PeftModel`` holding every adapter.
        tokenizer: The base's tokenizer.
        template: The prompt template the adapters were trained with.
        batch_size: Prompts per ``generate`` call.
    """

    def __init__(self, model: Any, tokenizer: Any, template: PromptTemplate, batch_size: int = 16) -> None:
        self.model = model.eval()
        self.tokenizer = tokenizer
        self.template = template
        self.generator = BatchGenerator(model, tokenizer, batch_size)

    @classmethod
    def load(
        cls,
        base_model: str | None,
        adapters: Mapping[str, str | Path],
        quantization: Quantization | None = None,
        device: torch.device | str | None = None,
        batch_size: int = 16,
        trust_remote_code: bool = False,
    ) -> Experts:
        """Load ``base_model`` once and every adapter of ``adapters`` (name -> directory) onto it.

        Args:
            base_model: The base; None takes the one the adapters record.
            adapters: Expert name -> PEFT adapter directory; all trained on the same base with
                the same template.
            quantization: Base precision; None uses what the adapters were trained with.
            device: Where to run; default CUDA when available, else CPU.
            batch_size: Prompts per ``generate`` call.
            trust_remote_code: Allow custom model code from the base's repository.
        """
        check_names(adapters)
        infos = [describe_adapter(path, name) for name, path in adapters.items()]
        base = common_base(infos, base_model)
        template_name = common_template(infos)
        quant = quantization or pick_quantization(infos)  # the adapters were trained against that rounding
        target = torch.device(device) if device is not None else _default_device()
        log.info("experts: %s (%s) on %s with %s", base, quant, target, ", ".join(adapters))
        model = load_base(base, quant, target, trust_remote_code)
        names = list(adapters)
        # The first adapter makes the PeftModel; the others join it, each checked against the base first.
        model = attach_adapter(model, infos[0].path, name=names[0], base_name=base)
        for name, info in zip(names[1:], infos[1:], strict=True):
            check_adapter_fits(model, info, base)
            model.load_adapter(str(info.path), adapter_name=name, is_trainable=False)
        tokenizer = load_tokenizer(resolve_model_source(base), trust_remote_code)
        return cls(model, tokenizer, resolve_template(template_name, tokenizer), batch_size)

    @property
    def names(self) -> list[str]:
        """The loaded experts' names, in loading order."""
        return list(self.model.peft_config)

    @contextmanager
    def active(self, expert: Expert) -> Iterator[Any]:
        """Within the block, ``self.model`` is the base plus ``expert`` (or the bare base for None)."""
        if expert is None:
            with self.model.disable_adapter():
                yield self.model
            return
        if expert not in self.model.peft_config:
            raise ConfigError(f"unknown expert {expert!r}; loaded: {', '.join(self.names)} (or none for the base)")
        self.model.set_adapter(expert)
        yield self.model

    def generate(
        self,
        prompts: Sequence[str],
        expert: Expert | Sequence[Expert] = None,
        max_new_tokens: int = 256,
        template: bool = True,
        inputs: Sequence[str] | None = None,
    ) -> list[str]:
        """Greedy answers to ``prompts``, in order.

        Args:
            prompts: Instructions (or raw prompt texts when ``template`` is False).
            expert: One expert for every prompt, or one per prompt; None is the bare base.
            max_new_tokens: Longest answer, in tokens.
            template: Render each prompt with the adapters' template (and cut the answer where
                the model starts a new block); False sends the texts as they are.
            inputs: Optional input field per prompt (with ``template``).
        """
        experts = self._per_prompt(expert, len(prompts))
        texts = self.render(prompts, inputs) if template else list(prompts)
        # Stop strings only with the template: they are its section headers, which raw texts need not have.
        sampling = SamplingSettings(max_new_tokens=max_new_tokens, stop=STOP_STRINGS if template else ())
        answers: list[str] = [""] * len(texts)
        for name, indices in group_by_expert(experts).items():  # one adapter switch per expert, not per prompt
            with self.active(name):
                generations = self.generator.generate([texts[i] for i in indices], sampling)
            for i, generation in zip(indices, generations, strict=True):
                answers[i] = generation.text.strip() if template else generation.text
        return answers

    def render(self, prompts: Sequence[str], inputs: Sequence[str] | None = None) -> list[str]:
        """``prompts`` (with ``inputs``) in the adapters' template, up to the response slot."""
        if inputs is not None and len(inputs) != len(prompts):
            raise ConfigError(f"got {len(inputs)} inputs for {len(prompts)} prompts")
        return [self.template.render(p, inputs[i] if inputs else "") for i, p in enumerate(prompts)]

    def _per_prompt(self, expert: Expert | Sequence[Expert], n: int) -> list[Expert]:
        experts = [expert] * n if expert is None or isinstance(expert, str) else list(expert)
        if len(experts) != n:
            raise ConfigError(f"got {len(experts)} experts for {n} prompts")
        unknown = sorted({e for e in experts if e is not None} - set(self.names))
        if unknown:
            raise ConfigError(f"unknown expert {unknown[0]!r}; loaded: {', '.join(self.names)} (or none for the base)")
        return experts


def group_by_expert(experts: Sequence[Expert]) -> dict[Expert, list[int]]:
    """Request indices per expert, experts in order of first appearance."""
    groups: dict[Expert, list[int]] = {}
    for i, expert in enumerate(experts):
        groups.setdefault(expert, []).append(i)
    return groups


def _default_device() -> torch.device:
    return torch.device("cuda") if torch.cuda.is_available() else torch.device("cpu")
