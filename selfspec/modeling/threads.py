"""How many intra-op threads CPU generation uses: no more than the cores other processes leave free.

Every parallel op ends at a barrier: with all cores busy, the op waits for its most descheduled
thread. On the 2-core dev machine at load 15, SmolLM2's forward ran 73-84 tokens/s on one thread
and 21-31 on two; idle, two threads are faster. So generation counts, before every batch, the
runnable threads of *other* processes right now (``/proc/loadavg`` minus this process's running
threads, the median of a few samples: the 1-minute load average would count this process's own
training as load) and uses the cores left, at least one, at most torch's current setting
(``OMP_NUM_THREADS``, ``torch.set_num_threads``). The thread count does not change the logits
(matrix products split over outputs, not the summed dimension: bitwise equal at 1 and 2 threads on
SmolLM2), so it is not part of any data fingerprint.
"""

from __future__ import annotations

import logging
import statistics
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import torch

log = logging.getLogger(__name__)


def free_threads(max_threads: int, busy_elsewhere: float) -> int:
    """Threads for a parallel op when ``busy_elsewhere`` cores run other processes' work."""
    # round, not floor: a median load of 0.4 on a 2-core machine leaves both cores to generation.
    return max(1, min(max_threads, round(max_threads - busy_elsewhere)))


def others_running(samples: int = 5, interval: float = 0.01) -> float:
    """Median number of runnable threads of other processes (Linux); 0 where it cannot be read."""
    counts = []
    for _ in range(samples):
        try:
            # Field 4 is "runnable/total" scheduling entities right now, this process's threads included.
            running = int(Path("/proc/loadavg").read_text().split()[3].split("/")[0])
        except (OSError, ValueError, IndexError):
            return 0.0
        counts.append(max(0, running - _own_running()))  # the two reads are not atomic: never below 0
        time.sleep(interval)  # samples 10 ms apart: the median drops a momentary spike
    return statistics.median(counts)


def _own_running() -> int:
    running = 0
    for stat in Path("/proc/self/task").glob("*/stat"):
        try:
            # The state follows the ")" closing the command name, which may itself hold spaces or ")".
            running += stat.read_text().rsplit(")", 1)[1].split()[0] == "R"
        except (OSError, IndexError):  # a thread that ended between glob and read
            continue
    return running


def auto_threads() -> int:
    """``free_threads`` for this machine now, announced in one log line per distinct answer."""
    busy, most = others_running(), torch.get_num_threads()
    threads = free_threads(most, busy)
    if threads not in _ANNOUNCED:
        _ANNOUNCED.add(threads)
        log.info("CPU generation: %d of %d torch threads (other processes run %g)", threads, most, busy)
    return threads


_ANNOUNCED: set[int] = set()  # per process: a long run logs each thread count once, not per batch


@contextmanager
def torch_threads(threads: int | None) -> Iterator[None]:
    """Run the block with ``threads`` intra-op threads (None: leave them), restoring them after."""
    before = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)
