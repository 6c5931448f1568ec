"""SIGTERM and Ctrl-C: recorded, honoured at the next safe point of every long command (generation,
evaluation, rounds; fit is in test_resume_ddp.py), one line saying how to resume, exit 128 + signal,
finished work kept, and the resumed run equal to an uninterrupted one."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
import yaml
from generation_kit import hybrid_factory
from test_generation_pipeline import small_plan

from selfspec import stopping
from selfspec.decoding.generator import Generation, SamplingSettings
from selfspec.generation.recipe import GenerationRun

REPO = Path(__file__).resolve().parents[1]
TESTS = REPO / "tests"


def test_a_signal_is_recorded_and_raised_at_the_next_check_then_handlers_come_back() -> None:
    before = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
    with stopping.handled():
        stopping.check()  # nothing pending: no-op
        signal.raise_signal(signal.SIGTERM)
        signal.raise_signal(signal.SIGINT)  # a second signal changes nothing: the first one is honoured
        assert stopping.requested() == signal.SIGTERM
        with pytest.raises(stopping.StopRequested) as stop:
            stopping.check()
        assert stop.value.signum == signal.SIGTERM
    assert (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)) == before
    assert stopping.requested() is None
    stopping.check()  # outside handled(): nothing pending, never raises


@pytest.mark.parametrize(("signum", "status"), [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_exit_stopped_prints_one_line_and_the_shell_status(
    signum: int, status: int, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(stopping.NO_LINE_ENV, raising=False)
    with pytest.raises(SystemExit) as stop:
        stopping.exit_stopped(signum, "Resume: run it again.")
    assert stop.value.code == status
    name = signal.Signals(signum).name
    assert capsys.readouterr().err == f"selfspec: stopped by {name}; finished work is kept. Resume: run it again.\n"


class _SignalOnCall:
    """A generator factory whose generators send the process SIGTERM on the n-th greedy call (a
    response batch), before the real model writes: as if a scheduler stopped the job there."""

    def __init__(self, factory: Any, n: int) -> None:
        self.factory, self.n, self.calls = factory, n, 0

    def __call__(self, adapter: str | None) -> Any:
        inner = self.factory(adapter)
        outer = self

        class Signalling:
            def __getattr__(self, name: str) -> Any:
                return getattr(inner, name)

            def generate(
                self, prompts: Sequence[str], sampling: SamplingSettings, *a: Any, **k: Any
            ) -> list[Generation]:
                if not sampling.do_sample:
                    outer.calls += 1
                    if outer.calls == outer.n:
                        signal.raise_signal(signal.SIGTERM)
                return list(inner.generate(prompts, sampling, *a, **k))

        return Signalling()


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_generation_stops_between_batches_keeps_finished_shards_and_resumes_identically(
    tiny_model_dir: Path, example_seeds: Path, tmp_path: Path
) -> None:
    plain = small_plan(tiny_model_dir, tmp_path / "plain", example_seeds)
    GenerationRun(plain, hybrid_factory(plain)).dataset()
    plan = small_plan(tiny_model_dir, tmp_path / "stopped", example_seeds)
    with stopping.handled(), pytest.raises(stopping.StopRequested):
        GenerationRun(plan, _SignalOnCall(hybrid_factory(plan), n=2)).dataset()
    chunks = sorted(p.name for p in (tmp_path / "stopped").rglob("chunk-*.json"))
    assert chunks == ["chunk-00000.json"]  # the first response chunk finished; the second was stopped
    assert not any((tmp_path / "stopped").rglob("data.jsonl"))
    GenerationRun(plan, hybrid_factory(plan)).dataset()  # the same run again
    assert _files(tmp_path / "stopped") == _files(tmp_path / "plain")


def _validate_config(tmp_path: Path, model: Path) -> Path:
    config = yaml.safe_load((REPO / "configs/eval/example.yaml").read_text())
    init = config["trainer"]["callbacks"][0]["init_args"]
    init.update(suite=str(REPO / "data/eval/example/suite.yaml"))
    init["settings"].update(max_new_tokens=4, demo_seeds=[0], max_length=300)
    config["trainer"]["callbacks"].insert(0, {"class_path": "tests.kill_hook.ExitAt"})  # before the evaluation
    config["trainer"]["logger"] = False
    config["model"]["base_model"] = str(model)
    config["data"]["seeds_path"] = str(REPO / "data/seeds/example.jsonl")
    path = tmp_path / "eval.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


@pytest.mark.parametrize(("signame", "status"), [("SIGTERM", 143), ("SIGINT", 130)])
def test_validate_stops_in_the_domain_evaluation_with_one_line(
    signame: str, status: int, tiny_model_dir: Path, tmp_path: Path
) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO), "SELFSPEC_TEST_SIGNAL_AT": f"{signame}@val_epoch_end:0"}
    command = [
        sys.executable,
        "-m",
        "selfspec",
        "validate",
        "--config",
        str(_validate_config(tmp_path, tiny_model_dir)),
    ]
    done = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == status, done.stderr[-3000:]
    lines = [line for line in done.stderr.splitlines() if "stopped by" in line]
    assert lines == [
        f"selfspec: stopped by {signame}; finished work is kept. Run the same command again to evaluate from "
        "the start (generated data is reused)."
    ], done.stderr[-3000:]
    assert "Traceback" not in done.stderr and not list(tmp_path.rglob("eval.json"))


def _rounds_config(root: Path) -> Path:
    sys.path.insert(0, str(TESTS))
    from test_rounds_run import _write_configs

    return _write_configs(root, "demo")


def test_rounds_forwards_sigterm_to_its_step_and_stops_with_one_line(tmp_path: Path) -> None:
    config = _rounds_config(tmp_path)
    env = os.environ | {"PYTHONPATH": os.pathsep.join([str(TESTS), str(REPO)])}
    command = [sys.executable, "-m", "selfspec.rounds_cli", "--config", str(config)]
    driver = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    step_config = tmp_path / "logs" / "demo" / "round_0" / "eval" / "step_config.yaml"
    while not step_config.exists():  # the first step has been launched: stop the driver now
        assert driver.poll() is None, driver.communicate()[1][-3000:]
        with contextlib.suppress(subprocess.TimeoutExpired):
            driver.wait(timeout=0.05)
    driver.send_signal(signal.SIGTERM)
    _, err = driver.communicate(timeout=600)
    assert driver.returncode == 143, err[-3000:]
    lines = [line for line in err.splitlines() if "stopped by" in line]
    assert lines == [
        "selfspec: stopped by SIGTERM; finished work is kept. Resume: run the same command again; "
        "finished steps are reused."
    ], err[-3000:]
    assert "Traceback" not in err
    lineage = tmp_path / "logs" / "demo" / "lineage.json"
    assert not lineage.exists() or "round_0/eval" not in json.loads(lineage.read_text()).get("steps", {})
