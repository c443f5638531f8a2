"""Waiting for a job: the polling schedule, progress reporting and the final verdict.

`Poller` holds every decision; the sync and async ``wait()`` loops only fetch, ask the
poller, and sleep. Sleep and clock are injected so tests never wait for real.

Outages: a training runs for hours while networks, proxies and the platform's own front door
come and go. A poll that fails with a *transient* error (no connection, a timeout, 408/429/5xx -
each after the request's own retries) does not end the wait: it is logged, shown on the progress
line, and polled again with a growing pause, until the platform has been unreachable for
``outage_budget`` seconds in a row. Only then `JobWaitInterruptedError` says
which job it was and how to resume. Any answer resets the budget.

Job log: while the progress display is on, each poll's log (the status record's ``logs``, or
the text ``wait()``'s ``logs`` callable fetches) goes through a `LogFollower`
and only the lines not shown before are printed - above the status line on a terminal, as plain
lines elsewhere. The log is a bonus: a failed log fetch never ends the wait, and after a
non-transient error (a platform without the route) or a few failures in a row it is not asked
for again.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any, TextIO, TypeVar

from ._errors import (
    APIConnectionError,
    APIStatusError,
    DistilError,
    JobFailedError,
    JobTimeoutError,
    JobWaitInterruptedError,
)
from ._log_follow import LogFollower, log_text
from .types._words import plural
from .types.jobs import JobStatus

__all__ = [
    "DEFAULT_OUTAGE_BUDGET_S",
    "DEFAULT_POLL_INTERVAL_S",
    "DEFAULT_WAIT_TIMEOUT_S",
    "MAX_POLL_INTERVAL_S",
    "Poller",
    "is_transient",
]

logger = logging.getLogger("distil_sdk")

DEFAULT_POLL_INTERVAL_S = 2.0
MAX_POLL_INTERVAL_S = 30.0
POLL_GROWTH = 1.5
DEFAULT_WAIT_TIMEOUT_S = 6 * 3600.0  # trainings take hours on the platform
# How long the platform may stay unreachable during a wait: long enough for a deploy, a proxy
# restart or a laptop changing networks, short enough that a dead endpoint is reported.
DEFAULT_OUTAGE_BUDGET_S = 15 * 60.0
# Pauses between failed polls: doubling from the poll interval, never above this.
MAX_OUTAGE_INTERVAL_S = 60.0
MIN_OUTAGE_INTERVAL_S = 1.0
TRANSIENT_STATUSES = frozenset({408, 429})
# After this many failed log fetches in a row a wait stops asking for the log.
MAX_LOG_FAILURES = 3


def is_transient(exc: BaseException) -> bool:
    """True for a failed poll worth repeating: no connection, a timeout, 408/429/5xx."""
    if isinstance(exc, APIConnectionError):  # includes APITimeoutError
        return True
    if isinstance(exc, APIStatusError):
        return exc.status_code in TRANSIENT_STATUSES or exc.status_code >= 500
    return False


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
        outage_budget: float | None = DEFAULT_OUTAGE_BUDGET_S,
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
        self.outage_budget = outage_budget
        self.first_poll_interval = poll_interval
        self.outage_started: float | None = None
        self.failed_polls = 0
        self.follower = LogFollower()
        self.logs_off = False
        self._log_failures = 0

    def wants_logs(self, record: Any) -> bool:
        """Whether to fetch the job's log after ``record``: only for the progress display, and
        not while the job waits to start (it has no log yet)."""
        status = getattr(record, "status", None)
        return (
            self.progress
            and not self.logs_off
            and status not in (JobStatus.PENDING, JobStatus.NOT_STARTED)
        )

    def logs_fetched(self) -> None:
        """A log fetch worked: failures are counted afresh."""
        self._log_failures = 0

    def logs_failed(self, exc: Exception) -> None:
        """A log fetch failed: never the wait's problem; after a non-transient error, or
        `MAX_LOG_FAILURES` in a row, this wait stops asking."""
        self._log_failures += 1
        permanent = isinstance(exc, APIStatusError) and not is_transient(exc)
        if permanent or self._log_failures >= MAX_LOG_FAILURES:
            self.logs_off = True
            logger.info(
                "%s %s: not showing the job's log (%s: %s)",
                self.kind,
                self.job_id,
                type(exc).__name__,
                exc,
            )
        else:
            logger.debug("%s %s: log fetch failed: %s", self.kind, self.job_id, exc)

    def observe(self, record: Any, logs: str | None = None) -> bool:
        """Report ``record``; True when it is final (success). Raises when it failed.

        ``logs``: the job's log fetched beside the record; by default the record's own
        ``logs`` (the ``/models`` generation's status records carry it).
        """
        if self.outage_started is not None:
            logger.info(
                "%s %s: the platform answers again after %s over %.0fs",
                self.kind,
                self.job_id,
                plural(self.failed_polls, "failed poll"),
                self.clock() - self.outage_started,
            )
            self.outage_started, self.failed_polls = None, 0
        self.last = record
        if self.on_progress is not None:
            self.on_progress(record)
        status: JobStatus = record.status
        if self.progress:
            if logs is None:
                logs = log_text(getattr(record, "logs", None))
            self._show_log(logs, final=status.is_terminal)
            self._display(record)
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
        """Seconds to sleep before the next poll; raises `JobTimeoutError` past the deadline."""
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

    def on_error(self, exc: DistilError) -> float:
        """A poll failed: seconds to pause before polling again, or raise.

        Non-transient errors (a rejected token, a 404...) are re-raised as they are. Transient
        ones are retried until the platform has been unreachable for ``outage_budget`` seconds,
        then `JobWaitInterruptedError` is raised with ``exc`` as its cause.
        """
        if not is_transient(exc):
            raise exc
        now = self.clock()
        if self.outage_started is None:
            self.outage_started = now
        self.failed_polls += 1
        down = now - self.outage_started
        budget = self.outage_budget
        status = getattr(getattr(self.last, "status", None), "value", None)
        if budget is not None and down >= budget:
            raise JobWaitInterruptedError(
                f"{self.kind} {self.job_id}: lost contact with the platform for {down:.0f}s "
                f"({plural(self.failed_polls, 'failed poll')}; last error: {exc}). The job was "
                f"{status or 'not yet seen'} and keeps running on the platform: call wait("
                f"{self.job_id!r}) again to resume waiting (or pass a larger outage_budget=)",
                job_id=self.job_id,
                last_record=self.last,
            ) from exc
        # Doubling from the poll interval (an exponent capped so it cannot overflow), capped.
        # At least a second: a poll_interval of 0 must not hammer an endpoint that is down.
        growth = 2.0 ** min(self.failed_polls - 1, 16)
        first = max(self.first_poll_interval, MIN_OUTAGE_INTERVAL_S)
        delay = min(first * growth, max(MAX_OUTAGE_INTERVAL_S, self.interval))
        if budget is not None:
            # Poll once more right at the end of the budget rather than after it.
            delay = min(delay, max(budget - down, 0.0))
        if self.timeout is not None:
            left = self.timeout - (now - self.started)
            if left <= 0:
                raise JobTimeoutError(
                    f"{self.kind} {self.job_id} did not finish within {self.timeout:.0f}s (the "
                    f"platform was unreachable at the end: {exc}); it keeps running on the "
                    "platform - call wait() again to resume",
                    job_id=self.job_id,
                    last_record=self.last,
                ) from exc
            delay = min(delay, left)
        log = logger.warning if self.failed_polls == 1 else logger.info
        log(
            "%s %s: poll failed (%s: %s); retrying in %.0fs, unreachable for %.0fs of %s",
            self.kind,
            self.job_id,
            type(exc).__name__,
            exc,
            delay,
            down,
            "an unlimited outage budget" if budget is None else f"a {budget:.0f}s outage budget",
        )
        if self.progress:
            self._display_outage(exc, delay, down)
        return delay

    def _display_outage(self, exc: DistilError, delay: float, down: float) -> None:
        stream = self.stream or sys.stderr
        status = getattr(getattr(self.last, "status", None), "value", "waiting")
        budget = "" if self.outage_budget is None else f" of {self.outage_budget:.0f}s"
        line = (
            f"{self.kind} {self.job_id}: {status} - platform unreachable "
            f"({type(exc).__name__}) for {down:.0f}s{budget}, retrying in {delay:.0f}s"
        )
        if stream.isatty():
            stream.write("\r\033[K" + line)
        else:
            stream.write(line + "\n")
        self._last_line = ""  # the next answer is printed again, so the recovery is visible
        stream.flush()

    def _show_log(self, text: str | None, *, final: bool) -> None:
        lines = self.follower.feed(text, final=final)
        if not lines:
            return
        stream = self.stream or sys.stderr
        # On a terminal, clear the status line first: the log lines go above it, and _display
        # writes it again below them.
        prefix = "\r\033[K" if stream.isatty() else ""
        for line in lines:
            stream.write(prefix + line + "\n")
        stream.flush()

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


def wait_sync(
    poller: Poller,
    fetch: Callable[[], R],
    sleep: Callable[[float], None],
    logs: Callable[[], str | None] | None = None,
) -> R:
    """Poll ``fetch`` until the record is final; see `Poller` for the rules.

    ``logs``: fetches the job's log text, called after a record when the progress display
    wants it (`Poller.wants_logs`); its failures never end the wait.
    """
    while True:
        try:
            record = fetch()
        except DistilError as exc:
            sleep(poller.on_error(exc))
            continue
        text = None
        if logs is not None and poller.wants_logs(record):
            try:
                text = logs()
                poller.logs_fetched()
            except Exception as exc:  # the log is a bonus: nothing about it may end the wait
                poller.logs_failed(exc)
        if poller.observe(record, text):
            return record
        sleep(poller.next_delay())


async def wait_async(
    poller: Poller,
    fetch: Callable[[], Any],
    sleep: Callable[[float], Any],
    logs: Callable[[], Awaitable[str | None]] | None = None,
) -> Any:
    """The async twin of `wait_sync` (``fetch``, ``sleep`` and ``logs`` return
    awaitables)."""
    while True:
        try:
            record = await fetch()
        except DistilError as exc:
            await sleep(poller.on_error(exc))
            continue
        text = None
        if logs is not None and poller.wants_logs(record):
            try:
                text = await logs()
                poller.logs_fetched()
            except Exception as exc:  # the log is a bonus: nothing about it may end the wait
                poller.logs_failed(exc)
        if poller.observe(record, text):
            return record
        await sleep(poller.next_delay())
