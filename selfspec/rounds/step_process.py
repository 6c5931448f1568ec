"""One ``selfspec`` step in a fresh process, forked from a server that imported selfspec once.

Why: importing selfspec's stack (lightning, torch, transformers, torchmetrics) costs about 9 s of
CPU on a 2-core machine, and the README's rounds run has 8 steps, each its own process. The
standard library's ``forkserver`` start method starts one server process (a fresh interpreter),
which imports ``selfspec.cli`` and then forks a child per step: each step is still its own process
(its memory goes back to the OS when it ends), without paying for the imports again.

Why not a plain ``os.fork`` of the driver: a process that has run a parallel torch operation cannot
be forked safely (GNU OpenMP's worker threads do not survive the fork: the child's first parallel
operation hangs), and the driver may live in a process that has (a notebook, a test run). The
server never runs one.

A step's output goes where the driver's goes at launch: the child receives the driver's current
stdout and stderr descriptors (the server's were fixed when it started). A step dies with its
driver (kill -9 included), so a resumed driver never races an orphaned step writing into the same
folder: the server cannot see to that (every child it forks holds the pipe that would tell it the
driver is gone), so the step watches a pipe of its own whose other end only the driver holds.
"""

from __future__ import annotations

import atexit
import importlib.util
import multiprocessing
import multiprocessing.reduction
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Sequence
from typing import IO, Any

# What the server imports once, before any fork: everything a step needs that is slow to import.
PRELOAD = ["selfspec.cli"]


def forkserver_available() -> bool:
    return "forkserver" in multiprocessing.get_all_start_methods()


class StepProcess:
    """``selfspec <argv>`` in a child of the fork server; ``wait``/``send_signal`` as ``subprocess.Popen``'s."""

    def __init__(self, argv: Sequence[str], env: dict[str, str]) -> None:
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(PRELOAD)
        streams = (_InheritedFd(_fd_of(sys.stdout, 1)), _InheritedFd(_fd_of(sys.stderr, 2)))
        lifeline, self._lifeline = os.pipe()  # the step reads EOF once this process is gone
        # Flushed first: text the driver buffered must not appear after the step's own output.
        sys.stdout.flush()
        sys.stderr.flush()
        args = (list(argv), dict(env), streams, _InheritedFd(lifeline))
        self._process = context.Process(target=_run_step, args=args, name="selfspec-step")
        try:
            self._process.start()
        finally:
            os.close(lifeline)
        self.pid = self._process.pid

    def wait(self, timeout: float | None = None) -> int:
        """The exit status (negative: killed by that signal); ``subprocess.TimeoutExpired`` after ``timeout``."""
        self._process.join(timeout)
        if self._process.exitcode is None:
            raise subprocess.TimeoutExpired(self._process.name, timeout or 0.0)
        if self._lifeline >= 0:
            os.close(self._lifeline)
            self._lifeline = -1
        return self._process.exitcode

    def send_signal(self, signum: int) -> None:
        if self._process.exitcode is None and self.pid is not None:
            os.kill(self.pid, signum)


class _InheritedFd:
    """A descriptor of the driver, duplicated into the step's process when the step is launched."""

    def __init__(self, fd: int) -> None:
        self.fd = fd

    def __reduce__(self) -> tuple[Callable[..., int], tuple[Any]]:
        # Pickled while the step launches: the fork server passes the descriptor itself along.
        return _detach, (multiprocessing.reduction.DupFd(self.fd),)


def _detach(duplicated: Any) -> int:
    return int(duplicated.detach())


def _fd_of(stream: IO[str], default: int) -> int:
    try:
        return stream.fileno()
    except (AttributeError, OSError, ValueError):  # replaced by an object without a descriptor (a test's capture)
        return default


def _die_with_driver(lifeline: int) -> None:
    os.read(lifeline, 1)  # blocks until the driver's end closes: the driver has exited or was killed
    os.kill(os.getpid(), signal.SIGKILL)


def _run_step(argv: list[str], env: dict[str, str], streams: tuple[int, int], lifeline: int) -> None:
    """In the step's process: the driver's environment and output, then ``selfspec <argv>``."""
    os.dup2(streams[0], 1)
    os.dup2(streams[1], 2)
    os.close(streams[0])
    os.close(streams[1])
    os.environ.clear()
    os.environ.update(env)
    threading.Thread(target=_die_with_driver, args=(lifeline,), name="selfspec-lifeline", daemon=True).start()
    # Exactly as ``python -m selfspec <argv>`` sees itself: the CLI reads sys.argv, and Lightning
    # relaunches that command for its other ranks (DDP on CPU or several GPUs).
    sys.argv = ["selfspec", *argv]
    main_module = sys.modules["__main__"]
    main_module.__spec__ = importlib.util.find_spec("selfspec.__main__")
    from selfspec.cli import main

    try:
        main()
    finally:
        # multiprocessing ends its children with os._exit: run what the step registered for its exit
        # (logging's flush among them) as a process of its own would.
        atexit._run_exitfuncs()
