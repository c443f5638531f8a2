"""How many torch threads a local job uses: ``$DISTIL_NUM_THREADS``, else the free cores."""

from __future__ import annotations

import logging
import os
import time

logger = logging.getLogger("distil_sdk")

__all__ = ["THREADS_ENV", "busy_cores", "set_torch_threads", "torch_threads"]

THREADS_ENV = "DISTIL_NUM_THREADS"


def busy_cores(window: float = 0.3) -> float:
    """How many cores other processes keep busy right now, from two ``/proc/stat`` samples.

    Sampled while this process is idle, so it counts only the others. The 1-minute load average
    was used before, but it lags: a training job started right after a teacher-evaluation job
    saw the previous job's load and ran on one thread of two. Falls back to the load average
    where ``/proc/stat`` does not exist.
    """

    def sample() -> tuple[int, int]:
        with open("/proc/stat", encoding="ascii") as fh:
            fields = [int(x) for x in fh.readline().split()[1:]]
        idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
        return sum(fields[:8]), idle

    try:
        total0, idle0 = sample()
        time.sleep(window)
        total1, idle1 = sample()
    except (OSError, ValueError, IndexError):
        try:
            return os.getloadavg()[0]
        except OSError:  # pragma: no cover - platforms without a load average
            return 0.0
    elapsed = total1 - total0
    if elapsed <= 0:
        return 0.0
    return (1.0 - (idle1 - idle0) / elapsed) * (os.cpu_count() or 1)


def torch_threads() -> int:
    """Threads for torch: ``$DISTIL_NUM_THREADS``, else the cores not already busy (at least 1).

    On a shared CPU, OpenMP threads that outnumber the free cores spin against each other:
    measured on a 2-core machine at load 5, one thread trained 5-10x faster than two.
    """
    if os.environ.get(THREADS_ENV, "").strip().isdigit():
        return max(1, int(os.environ[THREADS_ENV]))
    cores = os.cpu_count() or 1
    return max(1, min(cores - int(busy_cores() + 0.5), cores, 8))


def set_torch_threads() -> None:
    """Apply `torch_threads` to torch (and log it)."""
    import torch

    threads = torch_threads()
    torch.set_num_threads(threads)
    logger.info("torch uses %d thread(s)", threads)
