"""Waiting for a job: the polling schedule, progress reporting and the final verdict.

:class:`Poller` holds every decision; the sync and async ``wait()`` loops only fetch, ask the
poller, and sleep. Sleep and clock are injected so tests never wait for real.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import Any, TextIO, TypeVar

from ._errors import JobFailedError, JobTimeoutError
from .types.jobs import JobStatus

__all__ = ["DEFAULT_POLL_INTERVAL_S", "DEFAULT_WAIT_TIMEOUT_S", "MAX_POLL_INTERVAL_S", "Poller"]

DEFAULT_POLL_INTERVAL_S = 2.0
MAX_POLL_INTERVAL_S = 30.0
POLL_GROWTH = 1.5
DEFAULT_WAIT_TIMEOUT_S = 6 * 3600.0  # trainings take hours on the platform


R = TypeVar("R")


class Poller:
    """One wait: growing interval up to a cap, an overall deadline, progress, failure mapping."""

    def __init__(
        self,
        kind: str,
        job_id: str,
        *,
        timeout: float | None,
        poll_interval: float,
        max_interval: float,
        on_progress: Callable[[Any], None] | None,
        progress: bool,
        clock: Callable[[], float] = time.monotonic,
        stream: TextIO | None = None,
    ) -> None:
        self.kind = kind
        self.job_id = job_id
        self.timeout = timeout
        self.interval = poll_interval
        self.max_interval = max(max_interval, poll_interval)
        self.on_progress = on_progress
        self.progress = progress
        self.clock = clock
        self.stream = stream
        self.started = clock()
        self.last: Any = None
        self._last_line = ""

    def observe(self, record: Any) -> bool:
        """Report ``record``; True when it is final (success). Raises when it failed."""
        self.last = record
        if self.on_progress is not None:
            self.on_progress(record)
        if self.progress:
            self._display(record)
        status: JobStatus = record.status
        if not status.is_terminal:
            return False
        if status.is_failure:
            message = (
                getattr(record, "failure_message", None)
                or record.message
                or "no message from the platform"
            )
            raise JobFailedError(
                f"{self.kind} {self.job_id} ended with {status.value}: {message}",
                job_id=self.job_id,
                status=status.value,
                record=record,
            )
        return True

    def next_delay(self) -> float:
        """Seconds to sleep before the next poll; raises :class:`JobTimeoutError` past the deadline."""
        elapsed = self.clock() - self.started
        delay = self.interval
        self.interval = min(self.interval * POLL_GROWTH, self.max_interval)
        if self.timeout is not None:
            left = self.timeout - elapsed
            if left <= 0:
                status = getattr(self.last, "status", None)
                raise JobTimeoutError(
                    f"{self.kind} {self.job_id} is still {getattr(status, 'value', status)} after "
                    f"{elapsed:.0f}s; it keeps running on the platform - call wait() again with a "
                    "larger timeout, or check it later",
                    job_id=self.job_id,
                    last_record=self.last,
                )
            delay = min(delay, left)
        return delay

    def _display(self, record: Any) -> None:
        stream = self.stream or sys.stderr
        elapsed = int(self.clock() - self.started)
        line = f"{self.kind} {self.job_id}: {record.status.value}"
        tasks = getattr(record, "tasks", None) or []
        if tasks:
            done = sum(1 for t in tasks if t.status is JobStatus.SUCCESS)
            running = next((t.name for t in tasks if t.status is JobStatus.RUNNING), None)
            line += f" [{done}/{len(tasks)} stages{', ' + running if running else ''}]"
        line += f" {elapsed // 60:02d}:{elapsed % 60:02d}"
        end = "\n" if record.status.is_terminal else ""
        # On a terminal, rewrite one status line; elsewhere (CI logs) print only changes.
        if stream.isatty():
            stream.write("\r\033[K" + line + end)
        elif line.rsplit(" ", 1)[0] != self._last_line or end:
            stream.write(line + "\n")
        self._last_line = line.rsplit(" ", 1)[0]
        stream.flush()


def wait_sync(poller: Poller, fetch: Callable[[], R], sleep: Callable[[float], None]) -> R:
    """Poll ``fetch`` until the record is final; see :class:`Poller` for the rules."""
    while True:
        record = fetch()
        if poller.observe(record):
            return record
        sleep(poller.next_delay())


async def wait_async(
    poller: Poller, fetch: Callable[[], Any], sleep: Callable[[float], Any]
) -> Any:
    """The async twin of :func:`wait_sync` (``fetch`` and ``sleep`` return awaitables)."""
    while True:
        record = await fetch()
        if poller.observe(record):
            return record
        await sleep(poller.next_delay())
