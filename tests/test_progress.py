"""Plain progress lines for log files, and the narrow noise filters: pure, with a fake clock."""

from __future__ import annotations

import logging
import warnings

import pytest

from selfspec.noise import is_known, silence_known_noise
from selfspec.progress import PlainProgress


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_a_line_per_tenth_once_min_seconds_passed_and_a_final_line(monkeypatch: pytest.MonkeyPatch) -> None:
    import selfspec.progress as progress

    lines: list[str] = []
    monkeypatch.setattr(progress.log, "info", lambda fmt, *args: lines.append(fmt % args))
    clock = Clock()
    bar = PlainProgress(100, "evaluation", "prompts", min_seconds=10, max_seconds=60, clock=clock)
    bar.set_postfix(kept=3)
    for _ in range(100):
        clock.now += 1.0  # 1 s per prompt: a tenth every 10 s
        bar.update()
    bar.close()
    bar.close()  # idempotent
    assert len(lines) == 10  # 10%, 20%, ..., 90% and the final 100%
    assert lines[0] == "evaluation: 10/100 prompts (10%), 10s elapsed, ~1m30s left, kept 3"
    assert lines[-1] == "evaluation: 100/100 prompts (100%), 1m40s elapsed, kept 3"


def test_a_slow_stage_still_reports_every_max_seconds() -> None:
    clock = Clock()
    bar = PlainProgress(1000, "brainstorm", "instructions", disable=True, min_seconds=10, max_seconds=60, clock=clock)
    clock.now = 61.0
    bar.update(1)  # 0.1%: no new tenth, but a minute without a line
    assert bar._last == 61.0


def test_filters_drop_the_listed_notice_from_its_module_only() -> None:
    silence_known_noise()
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        silence_known_noise()  # in front of "always", as in a command
        for module in ("torchdata.stateful_dataloader.stateful_dataloader", "my_module"):
            warnings.warn_explicit("'set_vital' is deprecated, please do not call", UserWarning, "x.py", 1, module)
    assert [str(w.message) for w in seen] == ["'set_vital' is deprecated, please do not call"]  # my_module's only
    assert is_known("'set_vital' is deprecated", "torchdata.stateful_dataloader.stateful_dataloader")
    assert not is_known("'set_vital' is deprecated", "my_module")


def test_log_filter_drops_the_kernels_notice_and_keeps_other_warnings(caplog: pytest.LogCaptureFixture) -> None:
    silence_known_noise()
    logger = logging.getLogger("bitsandbytes.backends.cpu.ops")
    with caplog.at_level(logging.WARNING):
        logger.warning("Failed to load CPU gemm_4bit_forward from kernels-community: No module named 'kernels'")
        logger.warning("something else")
    assert [r.getMessage() for r in caplog.records] == ["something else"]


@pytest.mark.parametrize(("max_epochs", "expected"), [(-1, "Epoch 28"), (3, "Epoch 2/2")])
def test_the_terminal_bar_never_reads_epoch_n_of_minus_2(max_epochs: int, expected: str) -> None:
    from types import SimpleNamespace

    from selfspec.callbacks.progress_bar import EpochBar

    bar = EpochBar()
    bar._trainer = SimpleNamespace(max_epochs=max_epochs)  # type: ignore[assignment]
    assert bar._get_train_description(28 if max_epochs < 0 else 2).strip() == expected
