"""The job runner: one thread that runs queued jobs one at a time, each in a subprocess.

A subprocess (``python -m distil_sdk.local._jobs.main``) isolates the server from the pipeline:
an exception, a segfault or an out-of-memory kill there becomes ``JOB_FAILURE`` with the tail of
its stderr, and a stop request kills its whole process group.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

from .._storage.private import PRIVATE_DIR_MODE, PRIVATE_FILE_MODE
from .._storage.store import (
    FINAL_STATUSES,
    JOB_FAILURE,
    JOB_STOPPED,
    JOB_SUCCESS,
    RESTART_MESSAGE,
    Store,
    read_result,
)

__all__ = ["Worker"]

logger = logging.getLogger("distil_sdk.local._jobs.worker")

STDERR_TAIL_CHARS = 2000
SHUTDOWN_MESSAGE = RESTART_MESSAGE


def _tail(path: Path, limit: int = STDERR_TAIL_CHARS) -> str:
    try:
        with path.open("rb") as fh:
            fh.seek(0, os.SEEK_END)
            fh.seek(max(0, fh.tell() - limit))
            return fh.read().decode("utf-8", "replace").strip()
    except OSError:
        return ""


class Worker:
    """Pulls ``JOB_PENDING`` jobs from the store and runs them one at a time.

    Args:
        store: the data dir's store.
        poll_interval: how long the idle thread waits before looking for work again; new jobs
            call `wake` so this only bounds the delay for jobs queued by another process.
    """

    def __init__(self, store: Store, *, poll_interval: float = 1.0) -> None:
        self.store = store
        self.poll_interval = poll_interval
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._proc: subprocess.Popen[str] | None = None
        self._job_id: str | None = None
        self._stop_reason: str | None = None
        self._thread: threading.Thread | None = None
        self._finished = threading.Condition()

    def start(self) -> None:
        """Start the runner thread."""
        self._thread = threading.Thread(target=self._loop, name="distil-local-worker", daemon=True)
        self._thread.start()

    def wake(self) -> None:
        """Look for pending jobs now."""
        self._wake.set()

    def stop(self, timeout: float = 30.0) -> None:
        """Stop the runner; a running job is killed and marked failed (the server is going away)."""
        self._stopping.set()
        self._kill_current(JOB_FAILURE, SHUTDOWN_MESSAGE, only=None)
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def cancel(self, job_id: str) -> None:
        """Kill ``job_id`` if it is the one running (the store already holds the stop request)."""
        self._kill_current(JOB_STOPPED, "stopped on request", only=job_id)

    def wait_final(self, job_id: str, timeout: float) -> dict[str, Any] | None:
        """Block until ``job_id`` has a final status or ``timeout`` passes; return the job."""
        with self._finished:
            self._finished.wait_for(
                lambda: (
                    (job := self.store.get_job(job_id)) is None or job["status"] in FINAL_STATUSES
                ),
                timeout,
            )
        return self.store.get_job(job_id)

    @property
    def current_job(self) -> str | None:
        """The id of the job running now, if any."""
        return self._job_id

    def _kill_current(self, status: str, message: str, *, only: str | None) -> None:
        with self._lock:
            proc, job_id = self._proc, self._job_id
            if proc is None or (only is not None and job_id != only) or proc.poll() is not None:
                return  # nothing running, another job, or it already ended on its own
            self._stop_reason = f"{status}\n{message}"
        _kill_group(proc)

    def _loop(self) -> None:
        while not self._stopping.is_set():
            try:
                job = self.store.claim_next_pending()
            except Exception:  # a locked or broken db must not kill the runner thread
                logger.exception("could not claim the next job")
                job = None
            if job is None:
                self._wake.wait(self.poll_interval)
                self._wake.clear()
                continue
            try:
                self._run(job)
            except Exception as exc:
                logger.exception("job %s crashed the runner", job["id"])
                self.store.finish_job(
                    job["id"], JOB_FAILURE, f"internal error running the job: {exc}"
                )

    def _run(self, job: dict[str, Any]) -> None:
        job_id = job["id"]
        job_dir = self.store.job_dir(job_id)
        job_dir.mkdir(parents=True, exist_ok=True, mode=PRIVATE_DIR_MODE)
        for stale in ("result.json", "error.json"):
            (job_dir / stale).unlink(missing_ok=True)
        cmd = [
            sys.executable,
            "-m",
            "distil_sdk.local._jobs.main",
            "--kind",
            job["kind"],
            "--upload-dir",
            str(self.store.upload_dir(job["upload_id"])),
            "--job-dir",
            str(job_dir),
            "--parent-pid",
            str(os.getpid()),
        ]
        logger.info("starting %s job %s", job["kind"], job_id)
        # The log may quote the user's data: owner-only, like everything the job writes (umask).
        log_fd = os.open(
            job_dir / "stderr.log", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, PRIVATE_FILE_MODE
        )
        with os.fdopen(log_fd, "wb") as stderr, self._lock:
            if self._stopping.is_set():
                self.store.finish_job(job_id, JOB_FAILURE, SHUTDOWN_MESSAGE)
                return
            # A new session makes the job the leader of its own process group, so a stop kills
            # the pipeline's own children (tokenizer or data-loader workers) too.
            proc = subprocess.Popen(
                cmd,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=stderr,
                text=True,
                encoding="utf-8",
                errors="replace",
                start_new_session=True,
                umask=0o077,
            )
            self._proc, self._job_id, self._stop_reason = proc, job_id, None
        try:
            self.store.set_pid(job_id, proc.pid)
            if self.store.cancel_requested(job_id):  # stop requested while we were starting
                self.cancel(job_id)
            assert proc.stdout is not None
            for line in proc.stdout:
                self._handle_event(job_id, line)
            returncode = proc.wait()
        finally:
            with self._lock:
                stop_reason = self._stop_reason
                self._proc = self._job_id = None
        self._finish(job, job_dir, returncode, stop_reason)

    def _handle_event(self, job_id: str, line: str) -> None:
        try:
            event = json.loads(line)
            if event.get("event") == "stages":
                self.store.set_stages(job_id, [str(s) for s in event["stages"]])
            elif event.get("event") == "progress":
                self.store.report_progress(
                    job_id, str(event["stage"]), str(event["status"]), str(event.get("message", ""))
                )
        except (ValueError, KeyError, TypeError, AttributeError):
            logger.warning("job %s: ignoring a malformed progress line %r", job_id, line[:200])

    def _finish(
        self, job: dict[str, Any], job_dir: Path, returncode: int, stop_reason: str | None
    ) -> None:
        job_id = job["id"]
        # The same test of a result as at a restart (`read_result`), so a job is recorded alike
        # whether or not the server lived to see it end.
        result = read_result(job_dir, job["kind"]) if returncode == 0 else None
        if stop_reason is not None:
            status, _, message = stop_reason.partition("\n")
            self.store.finish_job(job_id, status, message)
        elif result is not None:
            self.store.finish_job(job_id, JOB_SUCCESS, "done", result)
        else:
            self.store.finish_job(job_id, JOB_FAILURE, self._failure_message(job_dir, returncode))
        if stop_reason is not None or result is None:
            # Scratch and partial artifacts of a job that did not succeed are never served.
            for name in ("work", "artifacts"):
                shutil.rmtree(job_dir / name, ignore_errors=True)
        logger.info("job %s finished (exit status %s)", job_id, returncode)
        with self._finished:
            self._finished.notify_all()

    @staticmethod
    def _failure_message(job_dir: Path, returncode: int) -> str:
        reason = ""
        with contextlib.suppress(OSError, ValueError):
            reason = str(json.loads((job_dir / "error.json").read_text("utf-8"))["message"])
        if not reason:
            if returncode == 0:
                reason = "the job process exited without writing a complete result"
            elif returncode < 0:
                reason = f"the job process was killed by signal {-returncode}"
                if -returncode == signal.SIGKILL:
                    reason += " (out of memory?)"
            else:
                reason = f"the job process exited with status {returncode}"
        tail = _tail(job_dir / "stderr.log")
        return f"{reason}\n--- stderr (tail) ---\n{tail}" if tail else reason


def _kill_group(proc: subprocess.Popen[str], grace_s: float = 3.0) -> None:
    """SIGTERM the job's process group, then SIGKILL what is left after ``grace_s``."""
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
    except (ProcessLookupError, PermissionError):
        return
    try:
        proc.wait(grace_s)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
