"""Run the steps of iterative self-specialisation, each in a fresh ``selfspec`` process, resumably.

By default a step's process is forked from a server that imported selfspec once (``step_process``);
a ``launcher`` command (``srun ...`` on a cluster) starts each step as a new program instead.

A step is skipped when ``lineage.json`` says it finished; a fit killed mid-way restarts with
``--ckpt_path last`` from its own checkpoints, and its generated data comes from the content-
addressed cache. So the same command, run again after a kill anywhere, continues where it stopped.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path
from typing import Any

import yaml

from selfspec import stopping
from selfspec.errors import ConfigError, SelfSpecError
from selfspec.fingerprints import content_hash, fingerprint
from selfspec.io import atomic_write_json, atomic_write_text
from selfspec.modeling.adapters import check_adapter_for_base
from selfspec.rounds.lineage import Lineage, open_lineage
from selfspec.rounds.rounds_settings import RoundsSettings
from selfspec.rounds.step_process import StepProcess, forkserver_available
from selfspec.rounds.steps import BASE_CHAT, CONTROL, Step, eval_step_config, fit_step_config, plan_steps, round_name
from selfspec.rounds.summary_table import (
    CHAT_COLUMN,
    Column,
    column_from_report,
    format_table,
    gains,
    plot_columns,
    summary_json,
)

log = logging.getLogger("selfspec")


class StepFailedError(SelfSpecError):
    """A step's process failed; its own output says why."""

    def __init__(self, step: Step, status: int) -> None:
        self.status = status
        super().__init__(
            f"step {step.key} failed (exit status {status}); fix what it reported and run the same "
            "command again: finished steps are kept"
        )


class RoundsDriver:
    def __init__(self, settings: RoundsSettings) -> None:
        settings.check()
        self.settings = settings
        self.fit = _read_fit_config(settings.fit_config)  # read once: every step's config starts from it
        if not Path(settings.suite).is_file():
            raise ConfigError(f"--suite {settings.suite}: no such file")
        _check_adapters(self.fit)  # a mismatched adapter fails now, not hours later in round 2
        self.root = Path(settings.root) / settings.name

    def run(self) -> dict[str, Any]:
        """Every missing step, then the table; returns ``summary.json``'s content."""
        self.root.mkdir(parents=True, exist_ok=True)
        with _exclusive(self.root):
            # Under the lock: a second driver must not read the lineage while this one records a step.
            lineage = open_lineage(self.root, self.settings_fingerprint())
            steps = self._plan()
            for number, step in enumerate(steps, start=1):
                if self._skipped(step, lineage):
                    continue
                log.info("rounds: step %d/%d %s", number, len(steps), step.key)
                lineage.record(step.key, self._run(step, lineage))
                self._maybe_stop(step, lineage)
            return self._summarise(lineage)

    def _plan(self) -> list[Step]:
        return plan_steps(self.settings.rounds, self.settings.seeds_only, self.settings.base_chat)

    def settings_fingerprint(self) -> str:
        """Whatever changes a finished step's result; rounds, min_delta and the launcher do not."""
        s = self.settings
        key = {
            "fit_config": content_hash(s.fit_config),
            "suite": content_hash(s.suite),
            "evaluation": asdict(s.evaluation),
            "base_shots": list(s.base_shots),
            "step_args": list(s.step_args),
        }
        return fingerprint(key)

    def _skipped(self, step: Step, lineage: Lineage) -> bool:
        if lineage.done(step.key):
            log.info("rounds: %s already finished, reused", step.key)
            return True
        stopped = lineage.stopped_after  # min_delta ended the run: later rounds are skipped on resume too
        return stopped is not None and step.round is not None and step.round > stopped

    # -- one step --------------------------------------------------------------------------------

    def _run(self, step: Step, lineage: Lineage) -> dict[str, Any]:
        if step.kind == "fit":
            return self._fit(step, lineage)
        return self._evaluate(step, lineage)

    def _fit(self, step: Step, lineage: Lineage) -> dict[str, Any]:
        run_dir = self.root / step.run
        response_adapter, max_steps = None, None
        k = step.round
        if k is not None and k >= 2:  # docs/method.md step 7: the previous round's adapter answers
            response_adapter = lineage.steps[f"{round_name(k - 1)}/fit"]["adapter"]
        if step.run == CONTROL:  # the seeds-only control gets round 1's optimizer steps: equal compute
            max_steps = lineage.steps[f"{round_name(1)}/fit"]["optimizer_steps"]
        config = fit_step_config(self.fit, run_dir, response_adapter, max_steps)
        # A killed fit left last.ckpt: continue it (same data, from the cache) rather than start over.
        resume = ["--ckpt_path", "last"] if (run_dir / "checkpoints" / "last.ckpt").is_file() else []
        self._launch(step, "fit", run_dir, config, [*self.settings.step_args, *resume])
        summary = json.loads((run_dir / "summary.json").read_text(encoding="utf-8"))
        adapter = run_dir / "adapter"
        return {
            "adapter": str(adapter),
            "adapter_sha256": content_hash(adapter / "adapter_model.safetensors"),
            "optimizer_steps": summary["optimizer_steps"],
            "data": summary.get("data"),
            "response_adapter": response_adapter,
            "config": str(run_dir / "config.yaml"),
        }

    def _evaluate(self, step: Step, lineage: Lineage) -> dict[str, Any]:
        out_dir = self.root / step.run / "eval"
        is_base, chat = step.round == 0, step.run == BASE_CHAT
        adapter = None if is_base or chat else lineage.steps[f"{step.run}/fit"]["adapter"]
        settings = self.settings.evaluation
        if is_base or chat:
            base_shots = (0,) if chat else tuple(self.settings.base_shots)
            settings = type(settings)(**{**asdict(settings), "shots": base_shots})  # frozen: a copy, changed
        label = "base" if is_base else "base (chat template)" if chat else step.run
        config = eval_step_config(self.fit, out_dir, adapter, self.settings.suite, settings, label, step.eval_template)
        self._launch(step, "validate", out_dir, config, [])
        report = json.loads((out_dir / "eval.json").read_text(encoding="utf-8"))
        # The lineage's F1 (for min_delta) is the rounds' first shots value, when this step scored it.
        main_shots = self.settings.evaluation.shots[0]
        shots = main_shots if main_shots in settings.shots else settings.shots[0]
        return {"report": str(out_dir / "eval.json"), "f1": column_from_report(label, report, shots)[1]["overall"]}

    def _launch(self, step: Step, subcommand: str, out_dir: Path, config: dict[str, Any], extra: list[str]) -> None:
        out_dir.mkdir(parents=True, exist_ok=True)
        # A killed attempt leaves its saved config.yaml behind; selfspec refuses to overwrite one.
        (out_dir / "config.yaml").unlink(missing_ok=True)
        config_path = out_dir / "step_config.yaml"
        atomic_write_text(config_path, yaml.safe_dump(config, sort_keys=False))
        argv = [subcommand, "--config", str(config_path), *extra]
        env = {**os.environ, stopping.NO_LINE_ENV: "1"}  # the driver prints the one stop line itself
        process: StepProcess | subprocess.Popen[bytes]
        if self.settings.launcher is None and forkserver_available():
            log.info("rounds: selfspec %s", " ".join(argv))
            process = StepProcess(argv, env)  # a fresh process without 9 s of imports (step_process.py)
        else:
            command = [*(self.settings.launcher or (sys.executable, "-m", "selfspec")), *argv]
            log.info("rounds: %s", " ".join(command))
            process = subprocess.Popen(command, env=env, preexec_fn=_die_with_parent)
        status = _wait_forwarding_stop(process)
        stopping.check()  # the step has stopped with what it finished kept; so does the driver
        if status != 0:
            raise StepFailedError(step, status)

    # -- early stop and the table ----------------------------------------------------------------

    def _maybe_stop(self, step: Step, lineage: Lineage) -> None:
        k, min_delta = step.round, self.settings.min_delta
        if min_delta is None or step.kind != "eval" or not k:
            return
        gain = lineage.steps[step.key]["f1"] - lineage.steps[f"{round_name(k - 1)}/eval"]["f1"]
        if gain < min_delta and k < self.settings.rounds:  # after the last round there is nothing to stop
            log.info("rounds: round %d gained %.2f F1 points (< min_delta %.2f); no further rounds", k, gain, min_delta)
            lineage.stop_after(k)

    def _summarise(self, lineage: Lineage) -> dict[str, Any]:
        columns = self._columns(lineage)
        title = f"selfspec rounds: {self.settings.name}"
        table = format_table(columns, title)
        meta = {"name": self.settings.name, "suite": self.settings.suite, "stopped_after_round": lineage.stopped_after}
        meta.update(gains(columns))
        summary = summary_json(columns, meta)
        atomic_write_json(self.root / "summary.json", summary)
        atomic_write_text(self.root / "summary.md", table)
        plot_columns(columns, self.root / "summary.png", title)
        log.info("%s\nsaved: %s (summary.json, summary.md, summary.png, lineage.json)", table, self.root)
        return summary

    def _columns(self, lineage: Lineage) -> list[Column]:
        base = _report(lineage.steps[f"{round_name(0)}/eval"]["report"])
        columns = [column_from_report(f"base_{k}shot", base, k) for k in self.settings.base_shots]
        if self.settings.base_chat and lineage.done(f"{BASE_CHAT}/eval"):
            chat = _report(lineage.steps[f"{BASE_CHAT}/eval"]["report"])
            columns.append(column_from_report(CHAT_COLUMN, chat, 0))
        shots = self.settings.evaluation.shots[0]
        for step in self._plan():
            specialised = step.round not in (0, None) or step.run == CONTROL  # base columns came first
            if step.kind == "eval" and specialised and lineage.done(step.key):
                columns.append(column_from_report(step.run, _report(lineage.steps[step.key]["report"]), shots))
        return columns


def _report(path: str) -> dict[str, Any]:
    return dict(json.loads(Path(path).read_text(encoding="utf-8")))


def _read_fit_config(path: str) -> dict[str, Any]:
    file = Path(path)
    if not file.is_file():
        raise ConfigError(f"--fit_config {path}: no such file")
    try:
        config = yaml.safe_load(file.read_text(encoding="utf-8"))
    except yaml.YAMLError as err:
        raise ConfigError(f"--fit_config {path}: not valid YAML ({err})".replace("\n", " ")) from None
    if not isinstance(config, dict):
        raise ConfigError(f"--fit_config {path}: expected a mapping of selfspec fit options")
    return config


def _wait_forwarding_stop(process: StepProcess | subprocess.Popen[bytes]) -> int:
    """Wait for a step; a stop request (SIGTERM, Ctrl-C) to the driver is passed on to it once, and
    the step, which stops at its next safe point, is waited for (finished checkpoints and shards stay)."""
    forwarded = False
    while True:
        try:
            return process.wait(timeout=0.2)  # polled, so a stop request is noticed within 0.2 s
        except subprocess.TimeoutExpired:
            signum = stopping.requested()
            if signum is not None and not forwarded:
                process.send_signal(signum)
                forwarded = True


def _check_adapters(fit: dict[str, Any]) -> None:
    """Before any step runs: an adapter the fit config names must fit its base (no weights loaded)."""
    model, generation = fit.get("model") or {}, (fit.get("data") or {}).get("generation") or {}
    base = model.get("base_model", "builtin:tiny-llama")  # SpecialistModule's default when the config names none
    for adapter in (model.get("adapter"), generation.get("response_adapter")):
        if adapter:
            check_adapter_for_base(adapter, base, bool(model.get("trust_remote_code")))


def _die_with_parent() -> None:
    """In a launched step's process: die when the driver dies (kill -9 included), so a resumed driver
    never races an orphaned step writing into the same folder. Linux only; elsewhere a no-op."""
    if sys.platform.startswith("linux"):
        import ctypes
        import signal

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # 1 = PR_SET_PDEATHSIG


@contextmanager
def _exclusive(run_root: Path) -> Iterator[None]:
    """One driver per run folder; the OS drops the lock when the process dies (kill -9 included)."""
    with open(run_root / ".lock", "w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise ConfigError(f"another selfspec-rounds is running on {run_root}") from None
        handle.write(str(os.getpid()))
        handle.flush()
        yield
