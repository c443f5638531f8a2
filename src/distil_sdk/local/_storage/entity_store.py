"""Entities of the current route generation: datasets, teacher evaluations, SLMs, prepared
traces.

A companion of `Store`: its table lives in the same database and
every write goes through the store's connection and lock (``Store.transaction``), so the two
never disagree. Jobs are not duplicated here: a teacher evaluation or a trained SLM *is* a row
of the store's ``jobs`` table (kind ``teacher_evaluation`` / ``training``) whose id is the
entity's id and whose ``upload_id`` names the folder under ``uploads/`` it reads (the dataset's
own, or one holding the overridden files). This table adds what the ``jobs`` table lacks: the
collection, the parent dataset, how a dataset was made, and the status of entities no job
produces (an uploaded dataset or SLM is ``JOB_SUCCESS`` once its create returns). A prepared
traces' ``source`` (``direct_upload`` or ``inference_endpoint``) is kept in ``operation``, and a
dataset made from one names it in ``parent_prepared_traces_id``.

Files, under ``data_dir``::

    entities/<id>/            the entity's own files: a dataset's config.yaml,
                              job_description.json, train.jsonl, test.jsonl, traces.jsonl (as
                              staged); a job's config.yaml + job_description.json as settled at
                              submission; an SLM's model.tar and model_client.py
    staging/<bundle>/<key>    files PUT to presigned staging URLs (see ``_staging``)
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..._fs import staged_folder
from .private import make_private_dir
from .store import JOB_FAILURE, JOB_SUCCESS, Store

__all__ = ["COLLECTIONS", "PREPARED_TRACES", "EntityStore"]

DATASETS = "datasets"
TEACHER_EVALUATIONS = "teacher-evaluations"
SLMS = "slms"
PREPARED_TRACES = "prepared-traces"
COLLECTIONS = (DATASETS, TEACHER_EVALUATIONS, SLMS, PREPARED_TRACES)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS entities (
    id TEXT PRIMARY KEY, collection TEXT NOT NULL, created_at REAL NOT NULL,
    job_id TEXT, dataset_id TEXT, parent_dataset_id TEXT, operation TEXT,
    smoke INTEGER NOT NULL DEFAULT 0, status TEXT, message TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS entities_collection ON entities (collection, created_at)
"""
#: Columns added after the table's first release: added in place to an older data dir's table.
_ADDED_COLUMNS = {"parent_prepared_traces_id": "TEXT"}


class EntityStore:
    """The ``entities`` table and the ``entities/`` / ``staging/`` folders of a data dir."""

    def __init__(self, store: Store) -> None:
        self.store = store
        # Users' files: private like the rest of the data dir.
        make_private_dir(self.entities_dir)
        make_private_dir(self.staging_dir)
        with store.transaction() as conn:
            for statement in _SCHEMA.split(";"):
                if statement.strip():
                    conn.execute(statement)
            have = {row[1] for row in conn.execute("PRAGMA table_info(entities)")}
            for column, kind in _ADDED_COLUMNS.items():
                if column not in have:
                    conn.execute(f"ALTER TABLE entities ADD COLUMN {column} {kind}")

    @property
    def entities_dir(self) -> Path:
        """Folder holding one sub-folder of files per entity."""
        return self.store.data_dir / "entities"

    @property
    def staging_dir(self) -> Path:
        """Folder holding the staged bundles."""
        return self.store.data_dir / "staging"

    def files_dir(self, entity_id: str) -> Path:
        """The folder of the files of entity ``entity_id``."""
        return self.entities_dir / entity_id

    # -- writes ---------------------------------------------------------------------------------
    def write_files(self, entity_id: str, files: Mapping[str, bytes]) -> Path:
        """Write ``files`` (name -> content) as the entity's folder, all at once.

        Written into a temporary folder renamed into place: a reader sees all of them or none.
        """
        dest = self.files_dir(entity_id)
        # An entity's files are written once: a second write fails rather than replace them.
        with staged_folder(dest, replace=False) as tmp:
            for name, content in files.items():
                (tmp / name).write_bytes(content)
        return dest

    def add(
        self,
        collection: str,
        *,
        entity_id: str | None = None,
        job_id: str | None = None,
        dataset_id: str | None = None,
        parent_dataset_id: str | None = None,
        parent_prepared_traces_id: str | None = None,
        operation: str | None = None,
        smoke: bool = False,
        status: str | None = None,
        message: str = "",
    ) -> dict[str, Any]:
        """Record an entity whose files are already in place; return it."""
        if collection not in COLLECTIONS:
            raise ValueError(f"unknown collection {collection!r}")
        entity_id = entity_id or str(uuid.uuid4())
        with self.store.transaction() as conn:
            conn.execute(
                "INSERT INTO entities (id, collection, created_at, job_id, dataset_id,"
                " parent_dataset_id, parent_prepared_traces_id, operation, smoke, status, message)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    entity_id,
                    collection,
                    time.time(),
                    job_id,
                    dataset_id,
                    parent_dataset_id,
                    parent_prepared_traces_id,
                    operation,
                    int(smoke),
                    status,
                    message,
                ),
            )
        record = self.get(collection, entity_id)
        assert record is not None
        return record

    # -- reads ----------------------------------------------------------------------------------
    def get(self, collection: str, entity_id: str) -> dict[str, Any] | None:
        """The entity ``entity_id`` of ``collection`` (with its job, if any) or ``None``."""
        rows = self.store.query(
            "SELECT * FROM entities WHERE id = ? AND collection = ?", (entity_id, collection)
        )
        return self._with_job(rows[0]) if rows else None

    def list(self, collection: str) -> list[dict[str, Any]]:
        """Every entity of ``collection``, newest first (as the platform lists them)."""
        rows = self.store.query(
            "SELECT * FROM entities WHERE collection = ? ORDER BY created_at DESC, id DESC",
            (collection,),
        )
        return [self._with_job(row) for row in rows]

    def _with_job(self, row: dict[str, Any]) -> dict[str, Any]:
        """Add ``job`` and the effective ``status``/``message`` (the job's when there is one)."""
        record = dict(row)
        job = self.store.get_job(record["job_id"]) if record["job_id"] else None
        record["job"] = job
        if job is not None:
            record["status"], record["message"] = job["status"], job["message"]
        elif record["job_id"]:  # its job row is gone: it can never produce anything
            record["status"] = JOB_FAILURE
            record["message"] = "the job behind this entity no longer exists"
        elif not record["status"]:
            record["status"] = JOB_SUCCESS
        return record
