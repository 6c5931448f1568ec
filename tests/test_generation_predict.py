"""``selfspec predict`` generates the data with one model load; DDP over 2 CPU processes makes the same
instructions (brainstorm waves) and the same dataset (response chunks) as 1 process."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from generation_kit import hybrid_factory

from selfspec.cli import main
from selfspec.data.module import SelfSpecDataModule
from selfspec.generation.recipe import GenerationRun
from selfspec.generation.settings import BrainstormSettings, GenerationSettings, ResponseSettings

REPO = Path(__file__).resolve().parents[1]
KIT = REPO / "tests" / "generation_kit.py"


def _data_args(seeds: Path, cache: Path) -> dict[str, object]:
    return {
        "seeds_path": str(seeds),
        "generation": {
            "num_instructions": 8,
            "cache_dir": str(cache),
            "brainstorm": {"prompts_per_round": 1},  # 3 items a round, so brainstorming takes several waves
            "responses": {"max_new_tokens": 6, "chunk_size": 2},
            "batch_size": 2,
        },
    }


def _config(tmp: Path, model: Path, data: dict[str, object], devices: int, old_writer: bool = False) -> Path:
    config = {
        "trainer": {"accelerator": "cpu", "devices": devices, "logger": False, "enable_progress_bar": False},
        "model": {"base_model": str(model), "quantization": "none"},
        "data": data,
    }
    if old_writer:  # predict once needed this callback; configs that still list it keep working
        config["trainer"]["callbacks"] = [{"class_path": "selfspec.callbacks.GenerationWriter"}]  # type: ignore[index]
    if devices > 1:
        config["trainer"]["strategy"] = "ddp"  # type: ignore[index]
    path = tmp / f"predict-{devices}.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def _module(model: Path, data: dict[str, object]) -> SelfSpecDataModule:
    generation = dict(data["generation"])  # type: ignore[call-overload]
    generation["brainstorm"] = BrainstormSettings(**generation["brainstorm"])
    generation["responses"] = ResponseSettings(**generation["responses"])
    settings = GenerationSettings(**generation)
    return SelfSpecDataModule(seeds_path=data["seeds_path"], base_model=str(model), generation=settings)  # type: ignore[arg-type]


def test_predict_needs_generation(
    tiny_model_dir: Path, example_seeds: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = _config(tmp_path, tiny_model_dir, _data_args(example_seeds, tmp_path / "c"), 1)
    with pytest.raises(SystemExit) as stop:
        main(["predict", "--config", str(config), "--data.generation.num_instructions", "0"])
    assert stop.value.code == 2 and "set --data.generation.num_instructions" in capsys.readouterr().err


def test_predict_loads_the_model_once(
    tiny_model_dir: Path, example_seeds: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from transformers import AutoModelForCausalLM

    data = _data_args(example_seeds, tmp_path / "cache")
    plan = _module(tiny_model_dir, data).plan
    GenerationRun(plan, hybrid_factory(plan)).instructions()  # scripted; responses need the real model
    loads: list[object] = []
    from_pretrained = AutoModelForCausalLM.from_pretrained
    monkeypatch.setattr(
        AutoModelForCausalLM, "from_pretrained", lambda *a, **k: loads.append(a[0]) or from_pretrained(*a, **k)
    )
    monkeypatch.chdir(tmp_path)  # the CLI saves config.yaml in its working directory
    main(["predict", "--config", str(_config(tmp_path, tiny_model_dir, data, 1, old_writer=True))])
    assert (plan.dataset_dir / "manifest.json").is_file()
    assert loads == [str(tiny_model_dir)]  # the generator's; the trainable module loads nothing in predict


@pytest.mark.slow
def test_ddp_on_two_processes_makes_the_same_instructions_and_dataset(
    tiny_model_dir: Path, example_seeds: Path, tmp_path: Path
) -> None:
    caches = {name: tmp_path / name for name in ("single", "one", "two")}
    # Sampled brainstorm calls are scripted (the random model writes no usable task), in the predict
    # processes too (generation_kit's predict entry); every response is written by the real tiny model.
    plan = _module(tiny_model_dir, _data_args(example_seeds, caches["single"])).plan
    expected = GenerationRun(plan, hybrid_factory(plan)).dataset()  # the prepare_data path
    rounds = sorted(plan.rounds_dir.iterdir())
    assert len(rounds) >= 3  # at least two waves of two ranks

    env = os.environ | {"PYTHONPATH": str(REPO)}
    for name, devices in (("one", 1), ("two", 2)):
        config = _config(tmp_path, tiny_model_dir, _data_args(example_seeds, caches[name]), devices)
        run_dir = tmp_path / f"run-{name}"  # the CLI saves config.yaml in its working directory
        run_dir.mkdir()
        done = subprocess.run(
            [sys.executable, str(KIT), "predict", "--config", str(config)],
            cwd=run_dir,
            env=env,
            capture_output=True,
            timeout=600,
        )
        assert done.returncode == 0, done.stderr.decode()[-3000:]
        assert (b"MEMBER: 2/2" in done.stderr + done.stdout) == (devices == 2)  # really two processes
        instructions = caches[name] / plan.instructions_dir.relative_to(caches["single"])
        for file in ("instructions.jsonl", "funnel.json", "manifest.json"):
            assert (instructions / file).read_bytes() == (plan.instructions_dir / file).read_bytes(), (name, file)
        their_rounds = caches[name] / plan.rounds_dir.relative_to(caches["single"])
        for shard in rounds:  # a wave may run one round past the stop; every round used is identical
            assert (their_rounds / shard.name).read_bytes() == shard.read_bytes(), (name, shard.name)
        out = caches[name] / expected.name
        for file in ("data.jsonl", "funnel.json", "manifest.json"):
            assert (out / file).read_bytes() == (expected / file).read_bytes(), (name, file)
