"""The rounds driver's default launcher: each step a child of a fork server that imported selfspec once."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from selfspec import stopping
from selfspec.rounds.step_process import StepProcess, forkserver_available
from selfspec.rounds_cli import main

TESTS = Path(__file__).resolve().parent
REPO = TESTS.parent

pytestmark = pytest.mark.skipif(not forkserver_available(), reason="no forkserver start method on this platform")


def _finish(process: StepProcess, timeout: float = 600) -> int:
    return process.wait(timeout)  # subprocess.TimeoutExpired if the step does not end


def test_a_step_exits_with_its_status_and_writes_to_the_current_stderr(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "missing.yaml"
    process = StepProcess(["validate", "--config", str(missing)], dict(os.environ))
    assert process.pid != os.getpid()
    assert _finish(process) == 2
    err = capfd.readouterr().err  # the step wrote to this test's captured descriptor, not the server's
    assert f"error: {missing}: config: File does not exist" in err, err[-2000:]


@pytest.mark.parametrize("silenced", [True, False])
def test_a_step_gets_the_drivers_environment_at_launch(
    silenced: bool, tiny_model_dir: Path, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    # The driver prints the one stop line itself: the variable that silences the step's reaches it.
    sys.path.insert(0, str(TESTS))
    from test_stopping import _validate_config

    config = _validate_config(tmp_path, tiny_model_dir)
    content = yaml.safe_load(config.read_text())
    content["trainer"]["default_root_dir"] = str(tmp_path)
    config.write_text(yaml.safe_dump(content))
    env = {**os.environ, "SELFSPEC_TEST_SIGNAL_AT": "SIGTERM@val_epoch_end:0"}  # tests/kill_hook.py
    if silenced:
        env[stopping.NO_LINE_ENV] = "1"
    assert _finish(StepProcess(["validate", "--config", str(config)], env)) == 143
    err = capfd.readouterr().err
    assert ("selfspec: stopped by SIGTERM" in err) is not silenced, err[-2000:]


def _forked_rounds(root: Path, max_epochs: int = 1) -> Path:
    """One round on the seeds (the tiny model writes no parseable tasks), default launcher."""
    sys.path.insert(0, str(TESTS))
    from test_rounds_run import _write_configs

    config = _write_configs(root, "forked")
    rounds = yaml.safe_load(config.read_text())
    del rounds["launcher"]  # the default: the fork server
    rounds.update(rounds=1, seeds_only=False, base_shots=[0])
    config.write_text(yaml.safe_dump(rounds))
    fit = yaml.safe_load((root / "fit.yaml").read_text())
    fit["data"]["generation"]["num_instructions"] = 0
    fit["trainer"]["max_epochs"] = max_epochs
    (root / "fit.yaml").write_text(yaml.safe_dump(fit))
    return config


@pytest.mark.slow  # tests/test_rounds_run.py's module run uses the default launcher too (its server preloads a kit)
def test_rounds_with_the_default_launcher_run_every_step_in_its_own_process(tmp_path: Path) -> None:
    config = _forked_rounds(tmp_path)
    main(["--config", str(config)])
    run = tmp_path / "logs" / "forked"
    lineage = json.loads((run / "lineage.json").read_text())
    assert set(lineage["steps"]) == {"round_0/eval", "round_1/fit", "round_1/eval"}
    summary = json.loads((run / "summary.json").read_text())
    assert summary["columns"] == ["base_0shot", "round_1"]
    assert (run / "round_1" / "adapter" / "adapter_config.json").is_file()
    assert (run / "round_1" / "eval" / "config.yaml").is_file()  # each step saved its resolved config


def _children(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:  # the process ended while being read
            continue
        if int(fields[1]) == pid and fields[0] != "Z":
            found.append(int(stat.parent.name))
    return found


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="finds the step's process in /proc")
def test_a_step_dies_with_its_driver_killed_by_sigkill(tmp_path: Path) -> None:
    # A resumed driver must never race an orphaned step writing into the same folder.
    config = _forked_rounds(tmp_path, max_epochs=100_000)  # a fit that outlives this test unless killed
    env = os.environ | {"PYTHONPATH": os.pathsep.join([str(TESTS), str(REPO)])}
    command = [sys.executable, "-m", "selfspec.rounds_cli", "--config", str(config)]
    driver = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    fit_started = tmp_path / "logs" / "forked" / "round_1" / "step_config.yaml"
    steps: list[int] = []
    try:
        deadline = time.monotonic() + 600
        while not steps:  # the fit step's process (driver -> server -> step), once the fit is launched
            assert driver.poll() is None and time.monotonic() < deadline
            if fit_started.exists():  # the evaluation step before it has ended
                steps = [step for server in _children(driver.pid) for step in _children(server)]
            time.sleep(0.2)
        driver.kill()
        driver.wait()
        deadline = time.monotonic() + 60
        while any(_alive(step) for step in steps) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not any(_alive(step) for step in steps), "the step outlived its driver"
    finally:
        for pid in steps:
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)
