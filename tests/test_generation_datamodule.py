"""The data module with generation on: cached data is reused without a model, tokenised response-only."""

from __future__ import annotations

from pathlib import Path

import pytest
from generation_kit import hybrid_factory

from selfspec.cli import main
from selfspec.data.module import SelfSpecDataModule
from selfspec.data.tokenize import IGNORE_INDEX
from selfspec.generation.recipe import GenerationRun
from selfspec.generation.records import read_rows
from selfspec.generation.settings import BrainstormSettings, GenerationSettings, ResponseSettings
from selfspec.modeling.loading import load_tokenizer, resolve_model_source
from selfspec.seeds import load_seeds


def test_setup_reads_the_cached_dataset_without_loading_a_model(
    tiny_model_dir: Path, example_seeds: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    dm = SelfSpecDataModule(
        seeds_path=example_seeds,
        base_model=str(tiny_model_dir),
        generation=GenerationSettings(
            num_instructions=5,
            cache_dir=tmp_path / "generated",
            brainstorm=BrainstormSettings(prompts_per_round=2),
            responses=ResponseSettings(max_new_tokens=6, chunk_size=8),
        ),
        val_fraction=0.2,
    )
    GenerationRun(dm.plan, hybrid_factory(dm.plan)).dataset()

    def no_model(*args: object, **kwargs: object) -> object:
        raise AssertionError("a model was loaded although the data is cached")

    monkeypatch.setattr("selfspec.generation.models.load_base", no_model)
    dm.prepare_data()
    dm.setup("fit")
    assert (len(dm.train_examples), len(dm.val_examples)) == (4, 1)
    tokenizer = load_tokenizer(resolve_model_source(str(tiny_model_dir)))
    rows = {r["output"] for r in read_rows(dm.plan.dataset_dir / "data.jsonl", dict)}
    for example in dm.train_examples:
        response = [t for t, label in zip(example.input_ids, example.labels, strict=True) if label != IGNORE_INDEX]
        assert example.labels[0] == IGNORE_INDEX and response[-1] == tokenizer.eos_token_id
        assert tokenizer.decode(response[:-1]).strip() in rows


def test_include_seeds_trains_on_the_seeds_and_the_generated_data(
    tiny_model_dir: Path, example_seeds: Path, tmp_path: Path
) -> None:
    def module(include_seeds: bool) -> SelfSpecDataModule:
        generation = GenerationSettings(
            num_instructions=5,
            cache_dir=tmp_path / "generated",
            brainstorm=BrainstormSettings(prompts_per_round=2),
            responses=ResponseSettings(max_new_tokens=6, chunk_size=8),
        )
        dm = SelfSpecDataModule(
            example_seeds, str(tiny_model_dir), generation=generation, val_fraction=0.0, include_seeds=include_seeds
        )
        GenerationRun(dm.plan, hybrid_factory(dm.plan)).dataset()  # cached: the second module reuses it
        dm.setup("fit")
        return dm

    alone, mixed = module(False), module(True)
    assert alone.plan.dataset_dir == mixed.plan.dataset_dir  # the same generated data either way
    seeds = load_seeds(example_seeds)
    assert len(mixed.train_examples) == len(alone.train_examples) + len(seeds)
    tokenizer = load_tokenizer(resolve_model_source(str(tiny_model_dir)))
    trained = {tokenizer.decode(e.input_ids, skip_special_tokens=True) for e in mixed.train_examples}
    assert all(any(s.output.strip() in text for text in trained) for s in seeds)


def test_fit_with_a_garbage_model_ends_in_a_clear_error(
    tiny_model_dir: Path,
    example_seeds: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.chdir(tmp_path)
    args = ["fit", "--config", str(Path(__file__).resolve().parents[1] / "configs" / "tiny_llama.yaml")]
    args += ["--model.base_model", str(tiny_model_dir), "--model.quantization", "none"]
    args += ["--data.seeds_path", str(example_seeds), "--data.generation.num_instructions", "3"]
    args += ["--data.generation.brainstorm.prompts_per_round", "2", "--data.generation.brainstorm.max_rounds", "1"]
    args += ["--data.generation.brainstorm.max_new_tokens", "8"]
    with pytest.raises(SystemExit) as stop:
        main(args)
    assert stop.value.code == 2
    err = capsys.readouterr().err
    assert "kept no instruction after 1 rounds" in err and "raw samples are in data/generated/brainstorm/" in err
    # no traceback of the error itself (earlier tests may leave logging handlers on closed streams)
    assert "raise GenerationError" not in err and err.rstrip().endswith("or raise the budget")
