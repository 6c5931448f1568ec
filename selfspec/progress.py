"""Progress of the long stages (generation, training, evaluation) for a terminal and for a log file.

In a terminal a tqdm bar redraws in place. Piped into a file (a cluster job, ``| tee run.log``) the
same redraws pile up on one line and show nothing until the stage ends, so there the stage prints
plain ``selfspec:`` lines instead: at every further tenth of the work once ``min_seconds`` have
passed since the last line, at least every ``max_seconds``, and when it finishes.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable
from typing import Any

log = logging.getLogger("selfspec")


def interactive() -> bool:
    """Whether progress goes to a terminal (stderr, where tqdm and the log lines write)."""
    return sys.stderr.isatty()


def progress(total: int, desc: str, unit: str, disable: bool = False) -> Any:
    """A tqdm bar in a terminal, a :class:`PlainProgress` elsewhere; both take ``update``,
    ``set_postfix``, ``close`` and work as context managers."""
    if interactive():
        from tqdm.auto import tqdm  # tqdm.auto: a widget in a notebook, text in a terminal

        return tqdm(total=total, desc=desc, unit=unit, dynamic_ncols=True, disable=disable)
    return PlainProgress(total, desc, unit, disable=disable)


class PlainProgress:
    """Periodic one-line progress reports (see the module docstring)."""

    def __init__(
        self,
        total: int,
        desc: str,
        unit: str,
        disable: bool = False,
        min_seconds: float = 10.0,
        max_seconds: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.total, self.desc, self.unit, self.disable = total, desc, unit, disable
        self.min_seconds, self.max_seconds, self.clock = min_seconds, max_seconds, clock
        self.n = 0
        self.postfix: dict[str, Any] = {}
        self._start = self._last = clock()
        self._last_tenth = 0
        self._reported = -1  # the count the last line showed
        self._closed = False

    def update(self, n: int = 1) -> None:
        self.n += n
        now = self.clock()
        tenth = 10 * self.n // self.total if self.total else 0  # a total of 0: only the time rule reports
        since = now - self._last
        if (tenth > self._last_tenth and since >= self.min_seconds) or since >= self.max_seconds:
            self._report(now)

    def set_postfix(self, postfix: dict[str, Any] | None = None, **kwargs: Any) -> None:
        self.postfix = {**(postfix or {}), **kwargs}

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            if self.n != self._reported:  # the final count, unless the last line showed it already
                self._report(self.clock())

    def __enter__(self) -> PlainProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def line(self, now: float) -> str:
        """``desc: n/total unit (p%), elapsed, ~left[, postfix]``."""
        elapsed = now - self._start
        parts = [f"{self.desc}: {self.n}/{self.total} {self.unit} ({100 * self.n / max(self.total, 1):.0f}%)"]
        parts.append(f"{_duration(elapsed)} elapsed")
        # No estimate before the first unit (nothing to extrapolate) nor after the last.
        if 0 < self.n < self.total:
            parts.append(f"~{_duration(elapsed * (self.total - self.n) / self.n)} left")
        parts += [f"{k} {v}" for k, v in self.postfix.items()]
        return ", ".join(parts)

    def _report(self, now: float) -> None:
        self._last, self._reported = now, self.n
        self._last_tenth = 10 * self.n // self.total if self.total else 0
        if not self.disable:
            log.info("%s", self.line(now))


def _duration(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    return f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"
