"""Model loading: local directories, built-in models, and clear errors for everything else."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from selfspec.errors import ModelLoadError
from selfspec.modeling import loading
from selfspec.modeling.builtin import ensure_builtin
from selfspec.modeling.loading import ModelSource, load_tokenizer, resolve_model_source


def test_local_directory_loads_model_and_tokenizer(tiny_model_dir: Path) -> None:
    from transformers import AutoModelForCausalLM

    source = resolve_model_source(str(tiny_model_dir))
    assert source == ModelSource(str(tiny_model_dir), True)
    tokenizer = load_tokenizer(source)
    assert tokenizer.is_fast and tokenizer.pad_token == "<pad>" and tokenizer.eos_token == "</s>"
    assert tokenizer.decode(tokenizer("The liver.")["input_ids"], skip_special_tokens=True) == "The liver."
    model = AutoModelForCausalLM.from_pretrained(source.name_or_path, local_files_only=True)
    assert model.config.model_type == "llama" and model.config.vocab_size == len(tokenizer)


def test_tiny_model_is_rebuilt_identically(tiny_model_dir: Path, tmp_path: Path) -> None:
    from selfspec.modeling.builtin import build_tiny_llama

    again = build_tiny_llama(tmp_path / "again")
    for name in ("model.safetensors", "tokenizer.json"):
        assert (again / name).read_bytes() == (tiny_model_dir / name).read_bytes()


def test_builtin_model_is_built_once_and_cached() -> None:
    first = ensure_builtin("tiny-llama")
    stamp = (first / "model.safetensors").stat().st_mtime_ns
    assert resolve_model_source("builtin:tiny-llama").name_or_path == str(first)
    assert (first / "model.safetensors").stat().st_mtime_ns == stamp
    assert not [p for p in first.parent.iterdir() if p.name.startswith(".")]  # no staging left behind


@pytest.mark.parametrize(
    ("base_model", "message"),
    [
        (
            "builtin:nope",
            r"base_model 'builtin:nope' is unknown; built-in models: \['smollm2-135m', 'tiny-llama'\]",
        ),
        ("./models/missing", r"base_model './models/missing': no such directory"),
        ("/abs/models/missing", r"no such directory"),
        ("org/name/extra", r"no such directory"),
    ],
)
def test_unusable_base_model_names_the_problem(base_model: str, message: str) -> None:
    with pytest.raises(ModelLoadError, match=message):
        resolve_model_source(base_model)


def test_directory_without_config(tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError, match=r"directory without config\.json"):
        resolve_model_source(str(tmp_path))


def test_offline_hub_id_fails_fast_with_advice(monkeypatch: pytest.MonkeyPatch) -> None:
    # The suite runs with HF_HUB_OFFLINE=1; also pretend DNS works not, as on a machine without network.
    monkeypatch.setattr(loading, "_hub_reachable", lambda: False)
    started = time.monotonic()
    with pytest.raises(ModelLoadError) as info:
        resolve_model_source("meta-llama/Llama-2-7b-hf")
    assert time.monotonic() - started < 5
    text = str(info.value)
    assert "not a local directory" in text and "cannot be reached (offline)" in text and "local-dir" in text


def test_cached_hub_id_is_used_offline(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(loading, "_hub_reachable", lambda: False)
    monkeypatch.setattr(loading, "_in_hub_cache", lambda repo_id: True)
    assert resolve_model_source("org/model") == ModelSource("org/model", True)


def test_trust_remote_code_is_off_unless_asked(tiny_model_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import transformers

    seen: list[bool] = []
    real = transformers.AutoTokenizer.from_pretrained

    def spy(*args: object, **kwargs: object) -> object:
        seen.append(bool(kwargs.get("trust_remote_code")))
        return real(*args, **kwargs)

    monkeypatch.setattr(transformers.AutoTokenizer, "from_pretrained", spy)
    source = resolve_model_source(str(tiny_model_dir))
    load_tokenizer(source)
    load_tokenizer(source, trust_remote_code=True)
    assert seen == [False, True]
