"""Plug-and-play experts: several real adapters on one base, chosen per request, and the bare base."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from selfspec.decoding.generator import BatchGenerator, SamplingSettings
from selfspec.experts import Experts, group_by_expert
from selfspec.modeling.adapters import attach_adapter, load_base
from selfspec.modeling.compat import describe_adapter
from selfspec.modeling.loading import load_tokenizer, resolve_model_source

pytestmark = pytest.mark.usefixtures("one_torch_thread")

PROMPTS = ["Answer the biomedical question with yes or no.", "What does a central bank do?", "List two diseases."]


@pytest.fixture(scope="module")
def experts(two_adapters: dict[str, Path]) -> Experts:
    return Experts.load(None, two_adapters, device="cpu", batch_size=4)


def _probe(experts: Experts) -> torch.Tensor:
    return experts.tokenizer(experts.render(PROMPTS[:1]), return_tensors="pt")["input_ids"]


@torch.inference_mode()
def _logits(experts: Experts, expert: str | None) -> torch.Tensor:
    with experts.active(expert) as model:
        return model(input_ids=_probe(experts)).logits


def test_experts_load_with_the_recorded_base_quantisation_and_template(experts: Experts, tiny_model_dir: Path) -> None:
    import bitsandbytes as bnb

    assert experts.names == ["bio", "fin"]
    assert experts.template.name == "alpaca"
    assert any(isinstance(m, bnb.nn.Linear4bit) for m in experts.model.modules())  # trained in nf4, served in nf4


def test_two_experts_answer_differently(experts: Experts) -> None:
    bio = experts.generate(PROMPTS, expert="bio", max_new_tokens=12)
    fin = experts.generate(PROMPTS, expert="fin", max_new_tokens=12)
    assert bio != fin
    assert not torch.allclose(_logits(experts, "bio"), _logits(experts, "fin"), atol=1e-3)


def test_each_expert_equals_its_adapter_loaded_alone(experts: Experts, two_adapters: dict[str, Path]) -> None:
    for name, adapter in two_adapters.items():
        alone = attach_adapter(load_base(recorded_base(adapter), "nf4"), adapter).eval()
        with torch.inference_mode():
            expected = alone(input_ids=_probe(experts)).logits
        assert torch.equal(_logits(experts, name), expected), name


def recorded_base(adapter: Path) -> str:
    base = describe_adapter(adapter).base_model
    assert base is not None
    return base


def test_no_expert_is_the_plain_base_model_token_for_token(experts: Experts, tiny_model_dir: Path) -> None:
    base = load_base(str(tiny_model_dir), "nf4").eval()
    plain = BatchGenerator(base, load_tokenizer(resolve_model_source(str(tiny_model_dir))), batch_size=4)
    sampling = SamplingSettings(max_new_tokens=12)
    expected = plain.generate(experts.render(PROMPTS), sampling)
    with experts.active(None):
        actual = experts.generator.generate(experts.render(PROMPTS), sampling)
    assert [(g.raw, g.new_tokens) for g in actual] == [(g.raw, g.new_tokens) for g in expected]
    raw = experts.generate(PROMPTS, expert=None, max_new_tokens=12, template=False)
    assert raw == [g.text for g in plain.generate(PROMPTS, sampling)]
    with torch.inference_mode():
        assert torch.equal(_logits(experts, None), base(input_ids=_probe(experts)).logits)
    assert not torch.equal(_logits(experts, None), _logits(experts, "bio"))  # the adapters do something


def test_switching_back_and_forth_is_stable(experts: Experts) -> None:
    first = {name: experts.generate(PROMPTS, expert=name, max_new_tokens=8) for name in ("bio", None, "fin")}
    logits = {name: _logits(experts, name) for name in ("bio", None, "fin")}
    for name in ("fin", "bio", None, "bio", "fin", None):
        assert experts.generate(PROMPTS, expert=name, max_new_tokens=8) == first[name]
        assert torch.equal(_logits(experts, name), logits[name])


def test_a_mixed_batch_equals_one_call_per_expert(experts: Experts) -> None:
    mixed = experts.generate(PROMPTS, expert=["fin", None, "bio"], max_new_tokens=8)  # one generate per group
    choice = ["fin", None, "bio"]
    single = [experts.generate([p], expert=e, max_new_tokens=8)[0] for p, e in zip(PROMPTS, choice, strict=True)]
    assert mixed == single


def test_group_by_expert_keeps_first_appearance_order() -> None:
    assert group_by_expert(["b", None, "a", "b", None]) == {"b": [0, 3], None: [1, 4], "a": [2]}


def test_unknown_expert_is_refused_by_name(experts: Experts) -> None:
    from selfspec.errors import ConfigError

    with pytest.raises(ConfigError, match="unknown expert 'law'; loaded: bio, fin"):
        experts.generate(PROMPTS, expert="law")
