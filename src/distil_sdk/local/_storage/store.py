"""Persistent state of the local platform: SQLite (WAL) plus files under the data dir.

Layout of ``data_dir``::

    distil.db                 models, uploads, jobs (this module)
    token                     the generated API token (see ``_auth``)
    uploads/<id>/             job inputs (a /models upload, a Dataset folder per job), read by
                              ``TaskBundle.from_dir``
    jobs/<id>/                per job: stderr.log, work/ (pipeline scratch), artifacts/, result.json

Every write that matters is one ``BEGIN IMMEDIATE`` transaction, so a crash leaves either the
old or the new state. Records are returned as plain dicts: the routes shape them for the wire.

The data dir holds users' datasets and models: it is made 0700 and the database 0600 (SQLite
gives its ``-wal`` and ``-shm`` files the database's mode), also when an older version left
them readable by others.
"""

from __future__ import annotations

import json
import logging
import shutil
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ...types._dataset_files import dataset_file
from ...types.jobs import JobStatus
from .private import PRIVATE_DIR_MODE, make_private_dir, private_db

__all__ = [
    "ACTIVE_STATUSES",
    "FINAL_STATUSES",
    "JOB_KINDS",
    "Store",
    "read_result",
    "upload_file_name",
]

logger = logging.getLogger("distil_sdk.local")

# Spelled by the wire contract's JobStatus (plain str values: they are stored in SQLite).
JOB_NOT_STARTED: str = JobStatus.NOT_STARTED.value
JOB_PENDING: str = JobStatus.PENDING.value
JOB_RUNNING: str = JobStatus.RUNNING.value
JOB_SUCCESS: str = JobStatus.SUCCESS.value
JOB_FAILURE: str = JobStatus.FAILURE.value
JOB_STOPPED: str = JobStatus.STOPPED.value
ACTIVE_STATUSES = (JOB_PENDING, JOB_RUNNING)
FINAL_STATUSES = (JOB_SUCCESS, JOB_FAILURE, JOB_STOPPED)
JOB_KINDS = ("teacher_evaluation", "training", "dataset_expand")

RESTART_MESSAGE = (
    "the local server stopped while this job was running, so it was abandoned; start the job again"
)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS models (
    id TEXT PRIMARY KEY, name TEXT NOT NULL, created_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS uploads (
    id TEXT PRIMARY KEY, model_id TEXT NOT NULL, status TEXT NOT NULL, message TEXT NOT NULL,
    warnings TEXT NOT NULL, created_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY, kind TEXT NOT NULL, model_id TEXT NOT NULL, upload_id TEXT NOT NULL,
    status TEXT NOT NULL, message TEXT NOT NULL, tasks TEXT NOT NULL, result TEXT,
    created_at REAL NOT NULL, started_at REAL, finished_at REAL, pid INTEGER,
    cancel_requested INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS jobs_status ON jobs (status, created_at);
"""


DB_FILE = "distil.db"


def _row(row: sqlite3.Row | None) -> dict[str, Any] | None:
    if row is None:
        return None
    record = dict(row)
    for key in ("tasks", "result", "warnings"):
        if key in record and isinstance(record[key], str):
            record[key] = json.loads(record[key])
    return record


class Store:
    """SQLite-backed state of one data dir. Thread-safe (one connection behind a lock)."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = make_private_dir(Path(data_dir))
        self.uploads_dir.mkdir(exist_ok=True, mode=PRIVATE_DIR_MODE)
        self.jobs_dir.mkdir(exist_ok=True, mode=PRIVATE_DIR_MODE)
        self._lock = threading.RLock()
        private_db(self.data_dir / DB_FILE)
        self._conn = sqlite3.connect(
            self.data_dir / DB_FILE, timeout=30, isolation_level=None, check_same_thread=False
        )
        self._conn.row_factory = sqlite3.Row
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=NORMAL")
        with self._tx() as conn:
            for statement in _SCHEMA.split(";"):
                if statement.strip():
                    conn.execute(statement)

    @property
    def uploads_dir(self) -> Path:
        """Folder holding one sub-folder per upload."""
        return self.data_dir / "uploads"

    @property
    def jobs_dir(self) -> Path:
        """Folder holding one sub-folder per job."""
        return self.data_dir / "jobs"

    def job_dir(self, job_id: str) -> Path:
        """The folder of job ``job_id``."""
        return self.jobs_dir / job_id

    def close(self) -> None:
        """Close the database connection."""
        with self._lock:
            self._conn.close()

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One ``BEGIN IMMEDIATE`` transaction on the store's connection, for companion tables
        (``entity_store``) that must share its lock and its atomicity."""
        with self._tx() as conn:
            yield conn

    def query(self, sql: str, params: tuple[Any, ...] = ()) -> list[dict[str, Any]]:
        """Rows of a read-only ``sql`` as plain dicts (under the store's lock)."""
        with self._lock:
            rows = self._conn.execute(sql, params).fetchall()
        return [dict(row) for row in rows]

    def _one(self, sql: str, params: tuple[Any, ...]) -> dict[str, Any] | None:
        with self._lock:
            return _row(self._conn.execute(sql, params).fetchone())

    # -- models -------------------------------------------------------------------------------
    def create_model(self, name: str) -> dict[str, Any]:
        """Insert a model and return it."""
        model_id = str(uuid.uuid4())
        with self._tx() as conn:
            conn.execute(
                "INSERT INTO models (id, name, created_at) VALUES (?, ?, ?)",
                (model_id, name, time.time()),
            )
        record = self.get_model(model_id)
        assert record is not None
        return record

    def get_model(self, model_id: str) -> dict[str, Any] | None:
        """The model ``model_id`` or ``None``."""
        return self._one("SELECT * FROM models WHERE id = ?", (model_id,))

    def list_models(self) -> list[dict[str, Any]]:
        """All models, oldest first."""
        with self._lock:
            rows = self._conn.execute("SELECT * FROM models ORDER BY created_at, id").fetchall()
        return [r for r in (_row(row) for row in rows) if r is not None]

    def delete_model(self, model_id: str) -> list[str] | None:
        """Delete a model, its uploads and jobs; return the ids of its jobs (``None`` if absent).

        Pending jobs are gone with their rows; the caller stops a running one.
        """
        with self._tx() as conn:
            if conn.execute("SELECT 1 FROM models WHERE id = ?", (model_id,)).fetchone() is None:
                return None
            job_ids = [
                r[0] for r in conn.execute("SELECT id FROM jobs WHERE model_id = ?", (model_id,))
            ]
            conn.execute("DELETE FROM jobs WHERE model_id = ?", (model_id,))
            conn.execute("DELETE FROM uploads WHERE model_id = ?", (model_id,))
            conn.execute("DELETE FROM models WHERE id = ?", (model_id,))
        return job_ids

    def upload_ids(self, model_id: str) -> list[str]:
        """Ids of the uploads of ``model_id``."""
        with self._lock:
            rows = self._conn.execute(
                "SELECT id FROM uploads WHERE model_id = ? ORDER BY created_at", (model_id,)
            ).fetchall()
        return [r[0] for r in rows]

    # -- uploads ------------------------------------------------------------------------------
    def new_upload_id(self) -> str:
        """A fresh upload id (the files are stored under it before the row is inserted)."""
        return str(uuid.uuid4())

    def upload_dir(self, upload_id: str) -> Path:
        """The folder of upload ``upload_id``."""
        return self.uploads_dir / upload_id

    def create_upload(
        self, upload_id: str, model_id: str, status: str, message: str, warnings: list[Any]
    ) -> dict[str, Any]:
        """Record an upload whose files are already in `upload_dir`."""
        with self._tx() as conn:
            conn.execute(
                "INSERT INTO uploads (id, model_id, status, message, warnings, created_at)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (upload_id, model_id, status, message, json.dumps(warnings), time.time()),
            )
        record = self.get_upload(upload_id)
        assert record is not None
        return record

    def get_upload(self, upload_id: str) -> dict[str, Any] | None:
        """The upload ``upload_id`` or ``None``."""
        return self._one("SELECT * FROM uploads WHERE id = ?", (upload_id,))

    # -- jobs ---------------------------------------------------------------------------------
    def create_job(self, kind: str, model_id: str, upload_id: str) -> dict[str, Any]:
        """Queue a job (``JOB_PENDING``) and return it."""
        if kind not in JOB_KINDS:
            raise ValueError(f"unknown job kind {kind!r}")
        job_id = str(uuid.uuid4())
        with self._tx() as conn:
            conn.execute(
                "INSERT INTO jobs (id, kind, model_id, upload_id, status, message, tasks,"
                " created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (job_id, kind, model_id, upload_id, JOB_PENDING, "queued", "[]", time.time()),
            )
        record = self.get_job(job_id)
        assert record is not None
        return record

    def get_job(self, job_id: str, kind: str | None = None) -> dict[str, Any] | None:
        """The job ``job_id`` (of ``kind`` when given) or ``None``."""
        job = self._one("SELECT * FROM jobs WHERE id = ?", (job_id,))
        if job is None or (kind is not None and job["kind"] != kind):
            return None
        return job

    def claim_next_pending(self) -> dict[str, Any] | None:
        """Atomically move the oldest pending job to ``JOB_RUNNING`` and return it (FIFO)."""
        with self._tx() as conn:
            # rowid breaks ties in insertion order (a uuid id would break them at random).
            row = conn.execute(
                "SELECT id FROM jobs WHERE status = ? ORDER BY created_at, rowid LIMIT 1",
                (JOB_PENDING,),
            ).fetchone()
            if row is None:
                return None
            conn.execute(
                "UPDATE jobs SET status = ?, message = ?, started_at = ? WHERE id = ?",
                (JOB_RUNNING, "starting", time.time(), row[0]),
            )
        return self.get_job(row[0])

    def set_pid(self, job_id: str, pid: int | None) -> None:
        """Remember the subprocess running ``job_id``."""
        with self._tx() as conn:
            conn.execute("UPDATE jobs SET pid = ? WHERE id = ?", (pid, job_id))

    def set_stages(self, job_id: str, stages: list[str]) -> None:
        """Declare the job's stages, all pending, before the first progress report."""
        tasks = [{"name": s, "status": JOB_PENDING, "message": ""} for s in stages]
        with self._tx() as conn:
            conn.execute(
                "UPDATE jobs SET tasks = ? WHERE id = ? AND status = ?",
                (json.dumps(tasks), job_id, JOB_RUNNING),
            )

    def report_progress(self, job_id: str, stage: str, status: str, message: str) -> None:
        """Record a pipeline progress report on stage ``stage``; it also becomes the job message."""
        with self._tx() as conn:
            row = conn.execute(
                "SELECT tasks FROM jobs WHERE id = ? AND status = ?", (job_id, JOB_RUNNING)
            ).fetchone()
            if row is None:  # finished or stopped meanwhile: a late report must not revive it
                return
            tasks: list[dict[str, Any]] = json.loads(row[0])
            for task in tasks:
                if task["name"] == stage:
                    task.update(status=status, message=message)
                    break
            else:
                tasks.append({"name": stage, "status": status, "message": message})
            conn.execute(
                "UPDATE jobs SET tasks = ?, message = ? WHERE id = ?",
                (json.dumps(tasks), f"{stage}: {message}" if message else stage, job_id),
            )

    def finish_job(
        self, job_id: str, status: str, message: str, result: dict[str, Any] | None = None
    ) -> bool:
        """Move an active job to a final status; ``False`` if it was no longer active."""
        if status not in FINAL_STATUSES:
            raise ValueError(f"{status} is not a final status")
        with self._tx() as conn:
            cursor = conn.execute(
                "UPDATE jobs SET status = ?, message = ?, result = ?, finished_at = ?, pid = NULL"
                " WHERE id = ? AND status IN (?, ?)",
                (
                    status,
                    message,
                    None if result is None else json.dumps(result),
                    time.time(),
                    job_id,
                    *ACTIVE_STATUSES,
                ),
            )
            if cursor.rowcount and status != JOB_SUCCESS:
                # A stage that was running shares the job's fate; one that never started did
                # not fail (or stop): it is JOB_NOT_STARTED, never left "pending" forever.
                row = conn.execute("SELECT tasks FROM jobs WHERE id = ?", (job_id,)).fetchone()
                tasks = json.loads(row[0])
                for task in tasks:
                    if task["status"] == JOB_RUNNING:
                        task["status"] = status
                    elif task["status"] == JOB_PENDING:
                        task["status"] = JOB_NOT_STARTED
                conn.execute("UPDATE jobs SET tasks = ? WHERE id = ?", (json.dumps(tasks), job_id))
        return bool(cursor.rowcount)

    def request_cancel(self, job_id: str) -> str | None:
        """Cancel a job: a pending one stops at once; a running one is flagged for the worker.

        Returns the status the job had (``None`` when absent).
        """
        with self._tx() as conn:
            row = conn.execute("SELECT status FROM jobs WHERE id = ?", (job_id,)).fetchone()
            if row is None:
                return None
            if row[0] == JOB_RUNNING:
                conn.execute("UPDATE jobs SET cancel_requested = 1 WHERE id = ?", (job_id,))
        if row[0] == JOB_PENDING:
            self.finish_job(job_id, JOB_STOPPED, "stopped on request before it started")
        return str(row[0])

    def cancel_requested(self, job_id: str) -> bool:
        """Whether a stop of ``job_id`` was requested."""
        job = self.get_job(job_id)
        return bool(job and job["cancel_requested"])

    def fail_abandoned_jobs(self) -> list[str]:
        """Settle every ``JOB_RUNNING`` job; called at start, when no job can be running.

        A job whose process had published a complete result (`read_result`) finished: the
        server died before recording it, so it is recorded now as the worker would have (its
        stages all done). Every other one is failed, and its id returned. We fail rather than
        re-queue: a job that was killed mid-way may be what crashed the server (e.g. out of
        memory), and silently re-running it could loop. Its scratch and partial artifacts are
        removed: a failed job never serves artifacts.
        """
        with self._tx() as conn:
            running = [
                (r[0], r[1])
                for r in conn.execute("SELECT id, kind FROM jobs WHERE status = ?", (JOB_RUNNING,))
            ]
        failed: list[str] = []
        for job_id, kind in running:
            result = read_result(self.job_dir(job_id), kind)
            if result is not None:
                self._record_finished(job_id, result)
                logger.info("job %s had finished before the server stopped: recorded", job_id)
                continue
            self.finish_job(job_id, JOB_FAILURE, RESTART_MESSAGE)
            for name in ("work", "artifacts"):
                shutil.rmtree(self.job_dir(job_id) / name, ignore_errors=True)
            failed.append(job_id)
        return failed

    def _record_finished(self, job_id: str, result: dict[str, Any]) -> None:
        """Record a job whose complete result outlived the server: ``JOB_SUCCESS`` with it.

        Its last progress reports may have died with the server; the result proves every
        stage ran to its end, so none is left running or pending.
        """
        if not self.finish_job(job_id, JOB_SUCCESS, "done", result):
            return
        with self._tx() as conn:
            row = conn.execute("SELECT tasks FROM jobs WHERE id = ?", (job_id,)).fetchone()
            tasks = json.loads(row[0])
            for task in tasks:
                if task["status"] in ACTIVE_STATUSES:
                    task["status"] = JOB_SUCCESS
            conn.execute("UPDATE jobs SET tasks = ? WHERE id = ?", (json.dumps(tasks), job_id))

    def remove_orphan_work(self) -> list[str]:
        """Remove ``jobs/<id>/work`` of every job not running; return those ids.

        A job's scratch space (checkpoints, gigabytes) outlives it only when its process was
        killed with the server; called at start, before the runner, it clears all of them.
        """
        with self._lock:
            running = {
                r[0]
                for r in self._conn.execute("SELECT id FROM jobs WHERE status = ?", (JOB_RUNNING,))
            }
        removed: list[str] = []
        for work in sorted(self.jobs_dir.glob("*/work")):
            job_id = work.parent.name
            if job_id not in running and work.is_dir() and not work.is_symlink():
                shutil.rmtree(work, ignore_errors=True)
                removed.append(job_id)
        return removed


#: What a job's ``result.json`` holds besides ``artifacts``, by kind (``_jobs/main.py`` writes
#: it last, atomically, once every artifact is published).
_RESULT_KEYS = {
    "teacher_evaluation": ("results",),
    "training": ("evaluation_results",),
    "dataset_expand": (),
}


def read_result(job_dir: Path, kind: str) -> dict[str, Any] | None:
    """The complete result a job published in ``job_dir``, or ``None`` when there is none.

    Complete means ``result.json`` is a JSON object with the keys of its kind and an
    ``artifacts`` map whose every file is published under ``artifacts/``: what the job writes
    last, so its presence says the job finished. Anything less (absent, truncated, a missing
    artifact) is no result.
    """
    try:
        result = json.loads((job_dir / "result.json").read_text("utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(result, dict) or not isinstance(result.get("artifacts"), dict):
        return None
    if any(key not in result for key in _RESULT_KEYS.get(kind, ())):
        return None
    artifacts = job_dir / "artifacts"
    for name in result["artifacts"].values():
        # A plain file name inside artifacts/, never a path leading out of it.
        if not isinstance(name, str) or Path(name).name != name or name in ("", ".", ".."):
            return None
        if not (artifacts / name).is_file():
            return None
    return result


def upload_file_name(key: str, file_type: str) -> str:
    """The stored file name of payload entry ``key`` of type ``file_type`` (e.g. ``train.csv``)."""
    return f"{dataset_file(key).stem}.{file_type}"
