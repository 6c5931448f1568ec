"""The inference dtype: bfloat16 only where the hardware does it natively, float32 when asked."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import torch

from selfspec.modeling import precision
from selfspec.modeling.precision import choose_dtype, cpu_flags

AVX2 = frozenset({"fpu", "sse2", "avx", "avx2", "fma"})  # this dev machine: bf16 only emulated
EPYC_GENOA = AVX2 | {"avx512f", "avx512_bf16"}
SAPPHIRE_RAPIDS = AVX2 | {"avx512f", "avx512_bf16", "amx_bf16", "amx_tile"}


@pytest.mark.parametrize(
    ("precision", "device", "flags", "cuda_bf16", "dtype", "reason"),
    [
        ("auto", "cpu", AVX2, False, torch.float32, "no native bfloat16"),
        ("auto", "cpu", frozenset(), False, torch.float32, "no native bfloat16"),
        ("auto", "cpu", EPYC_GENOA, False, torch.bfloat16, "native bfloat16 (avx512_bf16)"),
        ("auto", "cpu", SAPPHIRE_RAPIDS, False, torch.bfloat16, "(amx_bf16, avx512_bf16)"),
        ("auto", "cpu", AVX2 | {"amx_bf16"}, False, torch.bfloat16, "(amx_bf16)"),
        ("float32", "cpu", EPYC_GENOA, False, torch.float32, "float32 as asked"),
        ("bfloat16", "cpu", AVX2, False, torch.bfloat16, "bfloat16 as asked"),
        ("auto", "cuda", AVX2, True, torch.bfloat16, "GPU supports bfloat16"),
        ("auto", "cuda", EPYC_GENOA, False, torch.float32, "GPU lacks bfloat16"),
        ("float32", "cuda", AVX2, True, torch.float32, "as asked"),
        ("auto", "mps", EPYC_GENOA, False, torch.float32, "not chosen automatically on mps"),
    ],
)
def test_choice_follows_cpu_flags_and_request(
    precision: str, device: str, flags: frozenset[str], cuda_bf16: bool, dtype: torch.dtype, reason: str
) -> None:
    choice = choose_dtype(precision, device, flags, cuda_bf16)
    assert choice.dtype == dtype and reason in choice.reason


def test_unknown_precision_is_refused() -> None:
    with pytest.raises(ValueError, match=r"precision must be one of \['auto', 'float32', 'bfloat16'\], got 'fp8'"):
        choose_dtype("fp8", "cpu", AVX2, False)


def test_cpu_flags_read_from_cpuinfo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    info = tmp_path / "cpuinfo"
    info.write_text("processor\t: 0\nmodel name\t: AMD EPYC\nflags\t\t: fpu avx2 avx512_bf16\n\nflags\t: other\n")
    monkeypatch.delenv("SELFSPEC_IGNORE_NATIVE_BF16")  # the suite sets it (conftest)
    assert cpu_flags.__wrapped__(info) == frozenset({"fpu", "avx2", "avx512_bf16"})
    assert cpu_flags.__wrapped__(tmp_path / "absent") == frozenset()
    monkeypatch.setenv("SELFSPEC_IGNORE_NATIVE_BF16", "1")  # float32 everywhere: bf16 flags hidden
    assert cpu_flags.__wrapped__(info) == frozenset({"fpu", "avx2"})


def test_generation_plan_refuses_an_unknown_precision() -> None:
    from selfspec.errors import ConfigError
    from selfspec.generation.plan import GenerationPlan

    with pytest.raises(ConfigError, match=r"--data.generation.precision must be one of .* got 'half'"):
        GenerationPlan(seeds_path=Path("seeds.jsonl"), base_model="builtin:tiny-llama", precision="half")


def test_bfloat16_enters_the_data_fingerprint_and_float32_does_not() -> None:
    from selfspec.generation.plan import GenerationPlan

    seeds = Path(__file__).resolve().parents[1] / "data" / "seeds" / "example.jsonl"
    plans = {
        p: GenerationPlan(seeds_path=seeds, base_model="builtin:tiny-llama", precision=p)
        for p in ("float32", "bfloat16")
    }
    assert "dtype" not in plans["float32"].instruction_key
    assert plans["bfloat16"].instruction_key["dtype"] == "bfloat16"
    assert plans["float32"].dataset_dir != plans["bfloat16"].dataset_dir


@pytest.mark.parametrize(
    ("max_threads", "busy", "threads"),
    [(2, 0.0, 2), (2, 0.4, 2), (2, 1.0, 1), (2, 15.0, 1), (16, 4.0, 12), (16, 0.0, 16), (1, 0.0, 1)],
)
def test_threads_are_the_cores_other_processes_leave(max_threads: int, busy: float, threads: int) -> None:
    from selfspec.modeling.threads import free_threads

    assert free_threads(max_threads, busy) == threads


def test_generator_restores_the_thread_count(tiny_model_dir: Path) -> None:
    from transformers import AutoModelForCausalLM

    from selfspec.decoding.generator import BatchGenerator, SamplingSettings
    from selfspec.modeling.loading import ModelSource, load_tokenizer

    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir).eval()
    tokenizer = load_tokenizer(ModelSource(str(tiny_model_dir), True))
    seen: list[int] = []
    generator = BatchGenerator(model, tokenizer, threads=1)
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        generator.generate(
            ["The liver"], SamplingSettings(max_new_tokens=2), on_batch=lambda n: seen.append(torch.get_num_threads())
        )
        assert seen == [1] and torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)


def test_auto_follows_the_cpu_and_says_which(monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    cpu = torch.device("cpu")
    caplog.set_level(logging.INFO, logger="selfspec.modeling.precision")
    for native, want in ((True, torch.bfloat16), (False, torch.float32)):
        monkeypatch.setattr(precision, "native_bf16", lambda device, native=native: native)
        caplog.clear()
        assert precision.training_dtype("auto", cpu) is want
        assert len(caplog.records) == 1 and "chosen automatically" in caplog.text


def test_forced_precision_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(precision, "native_bf16", lambda device: True)
    assert precision.training_dtype("float32", torch.device("cpu")) is torch.float32
    monkeypatch.setattr(precision, "native_bf16", lambda device: False)
    assert precision.training_dtype("bfloat16", torch.device("cpu")) is torch.bfloat16


def test_automatic_threads_are_decided_again_for_every_batch(tiny_model_dir: Path) -> None:
    from transformers import AutoModelForCausalLM

    from selfspec.decoding.generator import BatchGenerator, SamplingSettings
    from selfspec.modeling.loading import ModelSource, load_tokenizer

    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir).eval()
    tokenizer = load_tokenizer(ModelSource(str(tiny_model_dir), True))
    answers = iter([1, 2])  # another process ran while the first batch started, not the second
    seen: list[int] = []
    generator = BatchGenerator(model, tokenizer, batch_size=1, threads=lambda: next(answers))
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        generator.generate(
            ["The liver", "A kidney"],
            SamplingSettings(max_new_tokens=2),
            on_batch=lambda n: seen.append(torch.get_num_threads()),
        )
        assert seen == [1, 2] and torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)
