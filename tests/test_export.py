"""Export: a real adapter merged into a full-precision base, reloaded by transformers alone, verified."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch

from selfspec import export as export_module
from selfspec.cli import run
from selfspec.errors import ConfigError
from selfspec.export import DriftError, export_merged
from selfspec.export_cli import main
from selfspec.modeling.adapters import attach_adapter, load_base

pytestmark = pytest.mark.usefixtures("one_torch_thread")

PROBE = torch.tensor([[1, 40, 41, 42, 43, 44, 45, 46]])


def _run(args: list[str]) -> int:
    return run(args, main)


def _nothing_written(parent: Path, name: str) -> bool:
    return not any(p.name == name or p.name.startswith(f".{name}-") for p in parent.iterdir())


@torch.inference_mode()
def _logits(model: Any) -> torch.Tensor:
    return model.eval()(input_ids=PROBE).logits.float()


def test_float32_merge_reloads_with_transformers_alone_and_matches_base_plus_adapter(
    two_adapters: dict[str, Path], tiny_model_dir: Path, tmp_path: Path
) -> None:
    from transformers import AutoModelForCausalLM

    out = tmp_path / "merged"
    report = export_merged(two_adapters["bio"], out, "float32")
    assert report.max_abs_logit_drift <= 1e-4 and report.tolerance == 1e-3
    assert report.trained_quantization == "nf4" and report.max_abs_logit_drift_vs_quantized is not None
    assert report.max_abs_logit_drift_vs_quantized > 10 * report.max_abs_logit_drift  # nf4 rounding >> merge error
    assert json.loads((out / "export_report.json").read_text())["max_abs_logit_drift"] == report.max_abs_logit_drift
    names = {p.name for p in out.iterdir()}
    assert "config.json" in names and "tokenizer.json" in names and "adapter_config.json" not in names
    merged = AutoModelForCausalLM.from_pretrained(out)  # transformers alone: no peft, no quantisation
    assert not hasattr(merged, "peft_config") and getattr(merged.config, "quantization_config", None) is None
    assert not any("lora" in name for name in merged.state_dict())
    expected = _logits(attach_adapter(load_base(str(tiny_model_dir), "none"), two_adapters["bio"]))
    assert torch.allclose(_logits(merged), expected, atol=1e-4)
    assert not torch.allclose(_logits(load_base(str(tiny_model_dir), "none")), expected, atol=1e-2)  # it merged


def test_bf16_merge_with_zero_tolerance_fails_and_writes_nothing(
    two_adapters: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    output = tmp_path / "models" / "bio" / "merged"  # parents missing: created, then removed on failure
    args = ["--adapter", str(two_adapters["bio"]), "--output", str(output), "--dtype", "bfloat16"]
    assert _run([*args, "--tolerance", "0"]) == 1
    assert not (tmp_path / "models").exists()
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "merged model drifts from base + adapter by" in err, err
    assert "tolerance 0, bfloat16" in err and "nothing written" in err
    assert _nothing_written(tmp_path, "merged")


def test_bf16_merge_within_its_default_tolerance(two_adapters: dict[str, Path], tmp_path: Path) -> None:
    report = export_merged(two_adapters["fin"], tmp_path / "models" / "merged", "bfloat16")  # parent created
    assert 0 < report.max_abs_logit_drift <= report.tolerance == 0.5
    config = json.loads((tmp_path / "models" / "merged" / "config.json").read_text())
    assert config.get("dtype", config.get("torch_dtype")) == "bfloat16"


def test_a_broken_merge_is_caught_and_writes_nothing(
    two_adapters: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(export_module, "merge", lambda model: model.unload())  # drops the adapter unmerged
    with pytest.raises(DriftError, match="nothing written"):
        export_merged(two_adapters["bio"], tmp_path / "merged", "float32")
    assert _nothing_written(tmp_path, "merged")


def test_probes_from_the_adapters_recorded_training_seeds(
    two_adapters: dict[str, Path], tmp_path: Path, example_seeds: Path
) -> None:
    import shutil

    adapter = shutil.copytree(two_adapters["bio"], tmp_path / "adapter")
    (adapter / "selfspec_config.yaml").write_text(f"data:\n  seeds_path: {example_seeds}\n")
    report = export_merged(adapter, tmp_path / "merged", probes="seeds", max_probes=3)
    assert report.probes == f"{example_seeds} (3 prompts)"


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("missing_adapter", "error: adapter '{tmp}/nope': no such directory"),
        ("output_exists", "error: --output {tmp}/taken: already exists and is not an empty directory"),
        ("missing_probes", "error: --probes {tmp}/none.jsonl: no such file"),
        ("seeds_unrecorded", "error: --probes seeds: adapter"),
    ],
)
def test_bad_input_is_one_line_with_exit_2(
    case: str, message: str, two_adapters: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "keep.txt").write_text("mine")
    adapter = tmp_path / "nope" if case == "missing_adapter" else two_adapters["bio"]
    output = tmp_path / ("taken" if case == "output_exists" else "merged")
    args = ["--adapter", str(adapter), "--output", str(output)]
    probes = {"missing_probes": str(tmp_path / "none.jsonl"), "seeds_unrecorded": "seeds"}.get(case, "builtin")
    assert _run([*args, "--probes", probes]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith(message.format(tmp=tmp_path)), err
    assert (tmp_path / "taken" / "keep.txt").read_text() == "mine"
    assert _nothing_written(tmp_path, "merged")


def test_negative_tolerance_is_refused(two_adapters: dict[str, Path], tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="--tolerance must be >= 0"):
        export_merged(two_adapters["bio"], tmp_path / "merged", tolerance=-1.0)
