"""Real processes: a run ended anywhere (``os._exit`` at named moments, a real SIGKILL, SIGTERM, Ctrl-C) and
resumed with ``--ckpt_path last`` gives the adapter of an uninterrupted run; DDP on 2 CPU processes.

The short run: 12 training examples, micro-batches of 2 and an effective batch of 4 (2 accumulation
steps), so 6 micro-batches and 3 optimizer steps per epoch, 2 epochs, a checkpoint after every
optimizer step and validation at each epoch's end; dropout 0.05 is on, so RNG state matters too.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml
from kill_hook import EXIT_STATUS
from safetensors.torch import load_file

REPO = Path(__file__).resolve().parents[1]
STEP = re.compile(r"step=(\d+)\.ckpt$")

# Every optimizer step k (1..6) with the process ended right after it (before its checkpoint is
# written: batch_end of the 2nd micro-batch of a step), inside an accumulation (1st micro-batch),
# right after a checkpoint (batch_start), the epoch boundary (before and after the epoch-end
# checkpoint, around validation, at the next epoch's start) and after the last checkpoint.
EVERY_MOMENT = [
    "batch_end:0:0", "batch_end:0:1", "batch_start:0:2", "batch_end:0:3", "batch_end:0:4", "batch_end:0:5",
    "epoch_end:0", "val_start:0", "val_end:0", "epoch_start:1", "batch_end:1:1", "batch_end:1:2",
    "batch_end:1:3", "batch_end:1:5", "epoch_end:1", "val_end:1",
]  # fmt: skip


def _config(root: Path, model_dir: Path, seeds: Path, **trainer: object) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    config = {
        "seed_everything": 0,
        "trainer": {
            "accelerator": "cpu", "devices": 1, "max_epochs": 2, "enable_progress_bar": False,
            "logger": {"class_path": "lightning.pytorch.loggers.CSVLogger",
                       "init_args": {"save_dir": str(root / "logs")}},
            "callbacks": [
                {"class_path": "tests.kill_hook.ExitAt"},
                {"class_path": "selfspec.callbacks.ResumableCheckpoint",
                 "init_args": {"dirpath": str(root / "ckpt"), "save_last": True, "every_n_train_steps": 1}},
                {"class_path": "selfspec.callbacks.AdapterExport"},
            ],
            **trainer,
        },
        "model": {"base_model": str(model_dir), "quantization": "nf4", "learning_rate": 1e-2,
                  "effective_batch_size": 4},
        "data": {"seeds_path": str(seeds), "batch_size": 2, "val_fraction": 0.25},
    }  # fmt: skip
    path = root / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def _start(config: Path, env: dict[str, str] | None = None, resume: bool | None = None) -> subprocess.Popen[str]:
    """``selfspec fit`` in its own process; ``--ckpt_path last`` when a last checkpoint exists (or ``resume``)."""
    if resume is None:
        resume = (config.parent / "ckpt" / "last.ckpt").is_file()
    command = [sys.executable, "-m", "selfspec", "fit", "--config", str(config)]
    command += ["--ckpt_path", "last"] if resume else []
    environment = {**os.environ, "PYTHONUNBUFFERED": "1", "PYTHONPATH": str(REPO), **(env or {})}
    return subprocess.Popen(
        command, cwd=config.parent, env=environment, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )


def _finish(process: subprocess.Popen[str]) -> tuple[int, str]:
    output, _ = process.communicate(timeout=600)
    return process.returncode, output


def _adapter(root: Path) -> dict[str, torch.Tensor]:
    (path,) = sorted(root.glob("logs/**/adapter/adapter_model.safetensors"), key=lambda p: p.stat().st_mtime)[-1:]
    return load_file(str(path))


def _assert_same_adapter(expected: dict[str, torch.Tensor], resumed: dict[str, torch.Tensor]) -> None:
    assert expected.keys() == resumed.keys()
    assert max((expected[k] - resumed[k]).abs().max().item() for k in expected) <= 1e-6


@pytest.fixture(scope="module")
def uninterrupted(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, torch.Tensor]:
    config = _config(tmp_path_factory.mktemp("whole"), tiny_model_dir, REPO / "data/seeds/example.jsonl")
    status, output = _finish(_start(config))
    assert status == 0, output[-3000:]
    return _adapter(config.parent)


@pytest.mark.slow
def test_ended_at_every_moment_and_resumed_equals_uninterrupted(
    uninterrupted: dict[str, torch.Tensor], tmp_path: Path, tiny_model_dir: Path, example_seeds: Path
) -> None:
    # One chain: run 1 ends at moment 1, run 2 resumes from the last checkpoint and ends at moment 2,
    # ... so every moment is a real end-and-resume, and any inexact one changes the final adapter.
    config = _config(tmp_path, tiny_model_dir, example_seeds)
    for moment in EVERY_MOMENT:
        status, output = _finish(_start(config, {"SELFSPEC_TEST_EXIT_AT": moment}))
        assert status == EXIT_STATUS, f"{moment}: {output[-3000:]}"
    status, output = _finish(_start(config))
    assert status == 0, output[-3000:]
    assert "Restoring states from the checkpoint path" in output
    _assert_same_adapter(uninterrupted, _adapter(tmp_path))


@pytest.mark.slow
@pytest.mark.parametrize("moment", EVERY_MOMENT)
def test_ended_at_one_moment_and_resumed_equals_uninterrupted(
    moment: str, uninterrupted: dict[str, torch.Tensor], tmp_path: Path, tiny_model_dir: Path, example_seeds: Path
) -> None:
    config = _config(tmp_path, tiny_model_dir, example_seeds)
    assert _finish(_start(config, {"SELFSPEC_TEST_EXIT_AT": moment}))[0] == EXIT_STATUS
    status, output = _finish(_start(config))
    assert status == 0, output[-3000:]
    _assert_same_adapter(uninterrupted, _adapter(tmp_path))


def _sigkill_once_a_checkpoint_exists(process: subprocess.Popen[str], ckpt_dir: Path, step: int) -> None:
    """A real SIGKILL, wherever the run is once checkpoint ``step`` exists: the outcome must not depend
    on where it lands (nor on the machine's speed), only on the run having started."""
    while process.poll() is None:
        steps = [int(m.group(1)) for p in ckpt_dir.glob("*.ckpt") if (m := STEP.search(p.name))]
        if steps and max(steps) >= step:
            process.send_signal(signal.SIGKILL)
            break
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=0.01)
    process.communicate()


def test_sigkill_and_resume_equals_uninterrupted(
    uninterrupted: dict[str, torch.Tensor], tmp_path: Path, tiny_model_dir: Path, example_seeds: Path
) -> None:
    config = _config(tmp_path, tiny_model_dir, example_seeds)
    _sigkill_once_a_checkpoint_exists(_start(config), tmp_path / "ckpt", 2)
    status, output = _finish(_start(config))  # resumes when the kill left a last checkpoint
    assert status == 0, output[-3000:]
    _assert_same_adapter(uninterrupted, _adapter(tmp_path))


def test_sigterm_then_ctrl_c_stop_with_one_line_and_the_twice_resumed_run_is_exact(
    uninterrupted: dict[str, torch.Tensor], tmp_path: Path, tiny_model_dir: Path, example_seeds: Path
) -> None:
    # The process signals itself at a named moment (as a scheduler or Ctrl-C would): it stops at its
    # next safe point with one line and 128 + signal. Both stops land after the 1st micro-batch of an
    # accumulation, so the resumed run must not checkpoint there (Lightning's ModelCheckpoint did, in
    # a resumed process), and the run resumed twice equals an uninterrupted one.
    config = _config(tmp_path, tiny_model_dir, example_seeds)
    for name, status_expected in [("SIGTERM", 143), ("SIGINT", 130)]:
        status, output = _finish(_start(config, {"SELFSPEC_TEST_SIGNAL_AT": f"{name}@batch_end:0:2"}))
        assert status == status_expected, output[-3000:]
        lines = [line for line in output.splitlines() if "stopped by" in line]
        assert lines == [
            f"selfspec: stopped by {name}; finished work is kept. Resume: run the same command with "
            "--ckpt_path last (or the path of the run's checkpoints/last.ckpt)."
        ], output[-3000:]
        assert "Traceback" not in output and "KeyboardInterrupt" not in output
    status, output = _finish(_start(config))
    assert status == 0, output[-3000:]
    _assert_same_adapter(uninterrupted, _adapter(tmp_path))


def test_ddp_on_two_cpu_processes_trains_and_exports_a_valid_adapter(
    tmp_path: Path, tiny_model_dir: Path, example_seeds: Path
) -> None:
    from peft import PeftModel

    from selfspec.modeling.adapters import load_base

    config = _config(tmp_path, tiny_model_dir, example_seeds, strategy="ddp", devices=2, max_epochs=1)
    status, output = _finish(_start(config))
    assert status == 0, output
    assert "effective batch 4 = 2 per device x 2 device(s) x 1 accumulation" in output
    adapter = next((tmp_path / "logs").glob("**/adapter"))
    model = PeftModel.from_pretrained(load_base(str(tiny_model_dir), "nf4"), str(adapter))
    weights = load_file(str(adapter / "adapter_model.safetensors"))
    assert any("lora_B" in k and v.abs().sum() > 0 for k, v in weights.items())  # it trained
    assert model(input_ids=torch.tensor([[1, 5, 6]])).logits.shape[-1] == model.config.vocab_size


if sys.platform != "linux":  # SIGKILL and fork-based DDP semantics are what is tested here
    pytestmark = pytest.mark.skip(reason="Linux process semantics")
