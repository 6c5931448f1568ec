"""Stop requests: SIGTERM and Ctrl-C end a long command at its next safe point, keeping finished work.

A user, a cluster's preemption or a container stop sends SIGTERM; a terminal sends SIGINT. The
console scripts run inside ``handled()``: there either signal only *records* the request, and the
long loops call ``check()`` at points where stopping loses nothing that is finished (between
training batches, between generation steps and batches, between evaluation batches). ``check()``
raises ``StopRequested``; the console script turns it into one line saying how to resume and exit
status 128 + the signal number (143 for SIGTERM, 130 for SIGINT), as shells report a killed process.

Every finished artefact is already on disk when this happens: checkpoints and generation shards
are written atomically when they finish, so a resumed run equals an uninterrupted one.

Library users outside ``handled()`` keep Python's default handlers; ``check()`` is then a
no-op. SIGUSR1 is left alone: Lightning's SLURM auto-requeue owns it.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType
from typing import NoReturn

_requested: int | None = None  # the first stop signal received, if any
NO_LINE_ENV = "SELFSPEC_NO_STOP_LINE"  # set by the rounds driver for its steps: it prints the one line itself


class StopRequested(Exception):
    """A stop signal arrived; raised at the next safe point by ``check()``."""

    def __init__(self, signum: int) -> None:
        self.signum = signum
        super().__init__(f"stopped by {signal.Signals(signum).name}")


@contextmanager
def handled() -> Iterator[None]:
    """Within the block, SIGTERM and SIGINT are recorded instead of ending the process (console
    scripts wrap their work in it); the previous handlers come back afterwards, so in-process
    callers such as tests keep their own Ctrl-C."""
    global _requested
    _requested = None  # a request left from an earlier in-process command must not stop this one
    if threading.current_thread() is not threading.main_thread():
        yield  # only the main thread may set handlers; a caller in a thread keeps the defaults
        return
    previous = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT)}
    for signum in previous:
        signal.signal(signum, _record)
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        _requested = None


def _record(signum: int, frame: FrameType | None) -> None:
    global _requested
    if _requested is None:  # a repeated signal (Ctrl-C twice, a forwarded copy) changes nothing
        _requested = signum


def requested() -> int | None:
    """The signal number of the pending stop request, or None."""
    return _requested


def check() -> None:
    """Raise ``StopRequested`` when a stop signal has arrived."""
    if _requested is not None:
        raise StopRequested(_requested)


def exit_status(signum: int) -> int:
    """What a shell reports for a process ended by ``signum``: 143 for SIGTERM, 130 for SIGINT."""
    return 128 + signum


def exit_stopped(signum: int, resume: str) -> NoReturn:
    """End a console script after a stop request: one line saying how to resume, then 128 + signum."""
    if not os.environ.get(NO_LINE_ENV):
        name = signal.Signals(signum).name
        sys.stderr.write(f"selfspec: stopped by {name}; finished work is kept. {resume}\n")
    raise SystemExit(exit_status(signum))
