"""What the current-generation route modules share: the entity store, signed file URLs, logs,
and the platform's answers for a missing or unready parent."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any, NoReturn

from fastapi import Depends, HTTPException, Request
from fastapi.responses import JSONResponse

from .._storage.dataset_files import BundleRejected
from .._storage.entity_store import EntityStore
from .._storage.staging import sign_path
from .._storage.store import JOB_SUCCESS
from .common import LocalContext
from .errors import error_response

__all__ = [
    "LOG_LIMIT_BYTES",
    "Entities",
    "file_url",
    "get_entities",
    "job_logs",
    "not_ready",
    "rejected",
    "require",
]

#: ``/logs`` answers at most the last this many bytes of a job's log.
LOG_LIMIT_BYTES = 256 * 1024

_LABELS = {
    "datasets": "dataset",
    "teacher-evaluations": "teacher evaluation",
    "slms": "SLM",
    "prepared-traces": "prepared traces",
}


def get_entities(request: Request) -> EntityStore:
    """The `EntityStore` of the app serving ``request`` (a FastAPI dependency)."""
    entities: EntityStore = request.app.state.entities
    return entities


Entities = Annotated[EntityStore, Depends(get_entities)]


def require(entities: EntityStore, collection: str, entity_id: str) -> dict[str, Any]:
    """The entity, or the platform's 404 naming it."""
    record = entities.get(collection, entity_id)
    if record is None:
        raise HTTPException(
            404,
            f"{_LABELS[collection]} {entity_id!r} not found; GET /{collection} lists them",
        )
    return record


def not_ready(record: dict[str, Any], what: str) -> NoReturn:
    """The 409 for an entity whose job has not succeeded (the platform's "not ready")."""
    label = _LABELS[record["collection"]]
    message = f" ({record['message']})" if record.get("message") else ""
    raise HTTPException(
        409,
        f"{label} {record['id']!r} is {record['status']}{message}: its {what} exist once it "
        f"reaches JOB_SUCCESS; poll GET /{record['collection']}/{record['id']}/status",
    )


def require_ready(record: dict[str, Any], what: str) -> None:
    """Refuse with 409 unless ``record`` reached ``JOB_SUCCESS``."""
    if record["status"] != JOB_SUCCESS:
        not_ready(record, what)


def rejected(exc: BundleRejected) -> JSONResponse:
    """The platform's 400 for files or overrides that fail validation, with every finding."""
    return error_response(400, exc.detail, findings=exc.findings)


def file_url(request: Request, ctx: LocalContext, entity_id: str, name: str) -> str:
    """An absolute presigned GET URL (no auth header needed) of file ``name`` of an entity."""
    base = str(request.base_url).rstrip("/")
    return base + sign_path(ctx.token, "GET", f"/files/{entity_id}/{name}")


def job_logs(ctx: LocalContext, job: dict[str, Any] | None) -> str:
    """The tail (at most `LOG_LIMIT_BYTES`) of the job's ``stderr.log``; "" when none."""
    if job is None:
        return ""
    path: Path = ctx.store.job_dir(job["id"]) / "stderr.log"
    try:
        with path.open("rb") as fh:
            fh.seek(0, os.SEEK_END)
            size = fh.tell()
            fh.seek(max(0, size - LOG_LIMIT_BYTES))
            text = fh.read().decode("utf-8", "replace")
    except OSError:
        text = ""
    if job["status"] != JOB_SUCCESS and job.get("message"):
        # A failure's cause may be in the message only (e.g. the job could not start).
        first = str(job["message"]).splitlines()[0]
        text = f"{text}\n[{job['status']}] {first}".lstrip("\n")
    return text
