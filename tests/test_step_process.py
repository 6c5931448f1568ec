"""The rounds driver's default launcher: each step a child of a fork server that imported selfspec once."""

from __future__ import annotations

import json
import os
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
    deadline = time.monotonic() + timeout
    while (status := process.wait(0.2)) is None:
        assert time.monotonic() < deadline, "the step did not end"
    return status


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


def test_rounds_with_the_default_launcher_run_every_step_in_its_own_process(tmp_path: Path) -> None:
    sys.path.insert(0, str(TESTS))
    from test_rounds_run import _write_configs

    config = _write_configs(tmp_path, "forked")
    rounds = yaml.safe_load(config.read_text())
    del rounds["launcher"]  # the default: the fork server
    rounds.update(rounds=1, seeds_only=False, base_shots=[0])
    config.write_text(yaml.safe_dump(rounds))
    fit = yaml.safe_load((tmp_path / "fit.yaml").read_text())
    fit["data"]["generation"]["num_instructions"] = 0  # seeds only: the tiny model writes no parseable tasks
    (tmp_path / "fit.yaml").write_text(yaml.safe_dump(fit))
    main(["--config", str(config)])
    run = tmp_path / "logs" / "forked"
    lineage = json.loads((run / "lineage.json").read_text())
    assert set(lineage["steps"]) == {"round_0/eval", "round_1/fit", "round_1/eval"}
    summary = json.loads((run / "summary.json").read_text())
    assert summary["columns"] == ["base_0shot", "round_1"]
    assert (run / "round_1" / "adapter" / "adapter_config.json").is_file()
    assert (run / "round_1" / "eval" / "config.yaml").is_file()  # each step saved its resolved config
