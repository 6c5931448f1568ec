"""``selfspec-rounds`` end to end on the tiny model: two rounds + control, each step a real process.

Steps run ``selfspec`` with scripted brainstorm text (``tests/rounds_kit.py``, preloaded by the
default launcher's fork server or run as a launcher), since the random tiny model writes no
parseable task list; responses, QLoRA training and evaluation are real. F1 of a random model is
~0, so these tests check the plumbing: lineage, folders, the regeneration link between rounds, the
control's step count, reuse and resume.
"""

from __future__ import annotations

import contextlib
import json
import multiprocessing.forkserver
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from selfspec.rounds import step_process
from selfspec.rounds.step_process import PRELOAD, forkserver_available
from selfspec.rounds_cli import main

TESTS = Path(__file__).resolve().parent
REPO = TESTS.parent


def _write_configs(root: Path, name: str) -> Path:
    fit = {
        "seed_everything": 0,
        "trainer": {"accelerator": "cpu", "devices": 1, "max_epochs": 1, "enable_model_summary": False},
        "model": {"base_model": "builtin:tiny-llama", "quantization": "nf4", "effective_batch_size": 4},
        "data": {
            "seeds_path": str(REPO / "data" / "seeds" / "example.jsonl"),
            "batch_size": 4,
            "val_fraction": 0.25,
            "generation": {
                "num_instructions": 8,
                "cache_dir": str(root / "generated"),
                "brainstorm": {"prompts_per_round": 2, "max_new_tokens": 64},
                "responses": {"max_new_tokens": 12, "chunk_size": 4},
            },
        },
    }
    rounds = {
        "fit_config": str(root / "fit.yaml"),
        "suite": str(REPO / "data" / "eval" / "example" / "suite.yaml"),
        "rounds": 2,
        "name": name,
        "root": str(root / "logs"),
        "evaluation": {"shots": [0], "demo_seeds": [0], "max_new_tokens": 6, "batch_size": 16},
        "base_shots": [0, 2],
        "launcher": [sys.executable, str(TESTS / "rounds_kit.py")],
    }
    (root / "fit.yaml").write_text(yaml.safe_dump(fit))
    (root / f"{name}.yaml").write_text(yaml.safe_dump(rounds))
    return root / f"{name}.yaml"


def _env() -> dict[str, str]:
    return os.environ | {"PYTHONPATH": os.pathsep.join([str(TESTS), str(REPO)])}


@contextlib.contextmanager
def scripted_step_server() -> Iterator[None]:
    """The driver's default launcher, its fork server also preloading ``rounds_kit`` (scripted brainstorming).

    Each step is still a process of its own, forked from a server that imported selfspec once: the
    module's 8 steps cost no 8 imports of the stack (about 9 s each on 2 cores).
    """
    server = multiprocessing.forkserver._forkserver  # type: ignore[attr-defined]
    server._stop()  # a server started by another test did not preload the kit
    step_process.PRELOAD = [*PRELOAD, "rounds_kit"]
    try:
        yield
    finally:
        server._stop()  # later tests start a plain one
        step_process.PRELOAD = PRELOAD


@pytest.fixture(scope="module")
def finished(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("rounds")
    config = _write_configs(root, "demo")
    if forkserver_available():
        rounds = yaml.safe_load(config.read_text())
        del rounds["launcher"]  # the default; the kit's launcher is what a platform without it gets
        config.write_text(yaml.safe_dump(rounds))
    previous = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = _env()["PYTHONPATH"]
    try:
        with scripted_step_server() if forkserver_available() else contextlib.nullcontext():
            main(["--config", str(config)])
    finally:
        os.environ.pop("PYTHONPATH") if previous is None else os.environ.update(PYTHONPATH=previous)
    return config, root / "logs" / "demo"


def _lineage(run: Path) -> dict[str, Any]:
    return json.loads((run / "lineage.json").read_text())


def test_two_rounds_and_the_control_run_end_to_end(finished: tuple[Path, Path]) -> None:
    _, run = finished
    summary = json.loads((run / "summary.json").read_text())
    assert summary["columns"] == ["base_0shot", "base_2shot", "round_1", "round_2", "seeds_only"]
    assert set(summary["per_task"]) == {"yesno", "ner", "summary", "overall"}
    assert all(isinstance(summary[c], float) for c in summary["columns"])
    assert (run / "summary.png").read_bytes().startswith(b"\x89PNG")
    assert "| overall |" in (run / "summary.md").read_text()
    for k in (1, 2):  # each round owns its folder: resolved config, adapter, metrics
        folder = run / f"round_{k}"
        assert (folder / "config.yaml").is_file() and (folder / "adapter" / "adapter_model.safetensors").is_file()
        assert (folder / "eval" / "eval.json").is_file() and (folder / "metrics.csv").is_file()
    assert (run / "rounds_config.yaml").is_file()


def test_lineage_links_each_round_to_its_data_and_the_adapter_that_answered_it(finished: tuple[Path, Path]) -> None:
    _, run = finished
    rounds = {r["run"]: r for r in _lineage(run)["rounds"]}
    assert rounds["round_1"]["response_adapter"] is None
    assert rounds["round_2"]["response_adapter"] == rounds["round_1"]["adapter"]
    # round 2 regenerates the responses with round 1's adapter: other data, same instructions
    assert rounds["round_2"]["data"]["fingerprint"] != rounds["round_1"]["data"]["fingerprint"]
    one = [json.loads(x) for x in Path(rounds["round_1"]["data"]["generated"], "data.jsonl").read_text().splitlines()]
    two = [json.loads(x) for x in Path(rounds["round_2"]["data"]["generated"], "data.jsonl").read_text().splitlines()]
    assert [r["instruction"] for r in one] == [r["instruction"] for r in two]
    assert rounds["round_1"]["adapter_sha256"] != rounds["round_2"]["adapter_sha256"]
    assert "seeds_sha256" in rounds["seeds_only"]["data"]  # the control trains on the seed file
    assert rounds["seeds_only"]["optimizer_steps"] == rounds["round_1"]["optimizer_steps"]


def test_the_same_command_again_reuses_every_step(finished: tuple[Path, Path], capfd: pytest.CaptureFixture) -> None:
    config, run = finished
    before = _lineage(run)
    main(["--config", str(config)])
    assert _lineage(run) == before
    assert "step " not in capfd.readouterr().err  # no step was launched


def test_other_settings_in_the_same_folder_are_refused(
    finished: tuple[Path, Path], capfd: pytest.CaptureFixture
) -> None:
    config, _ = finished
    with pytest.raises(SystemExit) as stop:
        main(["--config", str(config), "--base_shots", "[0]"])
    assert stop.value.code == 2
    assert "made with other settings" in capfd.readouterr().err


def test_a_missing_fit_config_is_one_line_and_exit_2(tmp_path: Path, capfd: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit) as stop:
        main(["--fit_config", str(tmp_path / "nope.yaml"), "--suite", str(tmp_path / "s.yaml")])
    assert stop.value.code == 2
    err = capfd.readouterr().err.strip().splitlines()
    assert err == [f"error: --fit_config {tmp_path / 'nope.yaml'}: no such file"]


def test_a_failing_step_stops_the_driver_and_names_the_step(tmp_path: Path, capfd: pytest.CaptureFixture) -> None:
    config = _write_configs(tmp_path, "broken")
    fit = yaml.safe_load((tmp_path / "fit.yaml").read_text())
    fit["data"]["seeds_path"] = str(tmp_path / "missing.jsonl")
    (tmp_path / "fit.yaml").write_text(yaml.safe_dump(fit))
    with pytest.raises(SystemExit) as stop:
        main(["--config", str(config)])
    assert stop.value.code == 2
    assert "step round_0/eval failed (exit status 2)" in capfd.readouterr().err
    assert not (tmp_path / "logs" / "broken" / "lineage.json").exists()


def _wait_for(path: Path, proc: subprocess.Popen[bytes], timeout: float = 600) -> bool:
    end = time.monotonic() + timeout
    while not path.exists():
        if proc.poll() is not None or time.monotonic() > end:
            return False
        time.sleep(0.05)
    return True


@pytest.mark.slow
def test_killed_anywhere_the_same_command_finishes_with_the_same_result(
    finished: tuple[Path, Path], tmp_path: Path
) -> None:
    _, reference = finished
    config = _write_configs(tmp_path, "demo")
    run = tmp_path / "logs" / "demo"
    command = [sys.executable, "-m", "selfspec.rounds_cli", "--config", str(config)]
    # kill -9 the driver: mid-generation of round 1, right after round 1's checkpoint, mid round 2
    for marker, delay in [
        (run / "round_1" / "step_config.yaml", 3.0),
        (run / "round_1" / "checkpoints" / "last.ckpt", 0.0),
        (run / "round_2" / "step_config.yaml", 1.0),
    ]:
        proc = subprocess.Popen(command, env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        assert _wait_for(marker, proc), "the driver ended before the kill point"
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert subprocess.run(command, env=_env(), check=False).returncode == 0
    ours, theirs = _lineage(run)["rounds"], _lineage(reference)["rounds"]
    assert [r["adapter_sha256"] for r in ours] == [r["adapter_sha256"] for r in theirs]
    assert [r["data"]["fingerprint"] if "fingerprint" in r["data"] else r["data"] for r in ours] == [
        r["data"]["fingerprint"] if "fingerprint" in r["data"] else r["data"] for r in theirs
    ]
    summary, expected = (json.loads((p / "summary.json").read_text()) for p in (run, reference))
    assert summary["per_task"] == expected["per_task"]
