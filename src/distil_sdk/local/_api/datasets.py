"""Routes: datasets of the current route generation (``POST /datasets`` from staged files,
``POST /datasets/from-datasets[-smoke]``, and the reads of ``GET /datasets[/{id}/...]``)."""

from __future__ import annotations

import json
import os
import uuid
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, HTTPException, Request

from ...types._dataset_files import DATASET_FILES
from ...types.entities import (
    CreateDatasetRequest,
    Dataset,
    DatasetDownload,
    DatasetMetrics,
    DatasetSample,
    DeriveDatasetRequest,
    DownloadMetadata,
    EntityStatus,
    JobLogs,
)
from .._jobs.expand import (
    EXPAND_KIND,
    NEEDS_LLM_TEACHER,
    RELABEL_OPERATIONS,
    TEACHER_BASE_URL_ENV,
    generation_target,
    materialize,
    relabel_count,
    write_expand_input,
)
from .._storage.dataset_files import (
    DATASET_FILE_NAMES,
    BundleRejected,
    apply_overrides,
    bundle_from_files,
    read_dataset_files,
)
from .._storage.entity_store import DATASETS, EntityStore
from .._storage.staging import StagingError, resolve_staged_url
from .._storage.store import JOB_SUCCESS
from .common import Authorized, Ctx, LocalContext, iso
from .entities import Entities, file_url, job_logs, rejected, require, require_ready

if TYPE_CHECKING:
    from ...types.data import TaskBundle

__all__ = ["router"]

router = APIRouter(dependencies=Authorized, tags=["datasets"])

#: ``/sample`` answers at most this many train rows, as the platform does.
SAMPLE_ROWS = 128
DIRECT_UPLOAD = "direct_upload"
TEACHER_MODEL_ENV = "DISTIL_TEACHER_MODEL"
NO_TEACHER_MODEL = (
    "{op} asks the LLM teacher at ${url} for examples, and no model is named: set "
    "base.teacher_model_name in the config (or a config override), or {env} in the local "
    "server's environment"
)
GENERATION_HOSTED_ONLY = (
    "dataset {dataset!r} is a {task!r} task: the local platform generates synthetic data for "
    "classification only (its LLM teacher writes and labels class examples). Run {op} on the "
    "hosted platform: DistilClient() with DISTIL_API_KEY set."
)


def dataset_record(record: dict[str, Any], *, with_status: bool = True) -> dict[str, Any]:
    """A dataset in wire form (the list carries no status, as on the platform)."""
    out: dict[str, Any] = {
        "id": record["id"],
        "created_at": iso(record["created_at"]),
        "operation": record["operation"],
        "parent_dataset_id": record["parent_dataset_id"],
        "parent_prepared_traces_id": record.get("parent_prepared_traces_id"),
    }
    if with_status:
        out["status"] = record["status"]
    return out


@router.post("/datasets", status_code=201, response_model=Dataset)
def create_dataset(body: CreateDatasetRequest, ctx: Ctx, entities: Entities) -> Any:
    """Create a dataset from staged files (``GET /staging-datasets-s3-urls`` then a PUT each).

    The files are validated as the platform does (400 with every finding when they fail) and
    stored as they are; a dataset no job produces is ``JOB_SUCCESS`` at once. A split left out
    is empty.
    """
    files = dict.fromkeys(DATASET_FILE_NAMES, b"")  # a file left out is an empty split
    try:
        for entry in DATASET_FILES:
            url = getattr(body, entry.field, None) if entry.staging_key else None
            if url is None:
                continue
            staged = resolve_staged_url(
                ctx.token, entities.staging_dir, "datasets", entry.field, url
            )
            files[entry.name] = staged.path.read_bytes()
    except StagingError as exc:
        return rejected(BundleRejected(str(exc), []))
    try:
        bundle_from_files(files)
    except BundleRejected as exc:
        return rejected(exc)
    dataset_id = str(uuid.uuid4())
    entities.write_files(dataset_id, files)
    record = entities.add(DATASETS, entity_id=dataset_id, operation=DIRECT_UPLOAD)
    return dataset_record(record)


def _generation_refusal(bundle: TaskBundle, operation: str, dataset_id: str) -> str | None:
    """Why the local platform cannot generate for ``bundle`` (400), or ``None``."""
    if bundle.task != "classification":
        return GENERATION_HOSTED_ONLY.format(dataset=dataset_id, task=bundle.task, op=operation)
    if not (bundle.config.base.teacher_model_name or os.environ.get(TEACHER_MODEL_ENV)):
        return NO_TEACHER_MODEL.format(
            op=operation, url=TEACHER_BASE_URL_ENV, env=TEACHER_MODEL_ENV
        )
    return None


def _derive(
    body: DeriveDatasetRequest, ctx: LocalContext, entities: EntityStore, *, smoke: bool
) -> Any:
    parent = _dataset(ctx, entities, body.from_)
    require_ready(parent, "rows")
    relabel = body.operation in RELABEL_OPERATIONS
    if not relabel and not os.environ.get(TEACHER_BASE_URL_ENV):
        # Read per request: the job subprocesses inherit the same environment.
        raise HTTPException(501, NEEDS_LLM_TEACHER.format(op=body.operation))
    files = read_dataset_files(entities.files_dir(parent["id"]))
    files = apply_overrides(files, body.config, body.job_description)
    try:
        bundle = bundle_from_files(files)
        refusal = None if relabel else _generation_refusal(bundle, body.operation, parent["id"])
        if refusal:
            raise BundleRejected(refusal, [])
    except BundleRejected as exc:
        return rejected(exc)
    count = (
        relabel_count(files["config.yaml"], body.operation, smoke=smoke)
        if relabel
        else generation_target(bundle.config, body.operation, smoke=smoke)
    )
    spec = {"operation": body.operation, "count": count}
    input_id = str(uuid.uuid4())
    write_expand_input(ctx.store.uploads_dir, input_id, files, spec)
    job = ctx.store.create_job(EXPAND_KIND, "", input_id)
    record = entities.add(
        DATASETS,
        entity_id=job["id"],
        job_id=job["id"],
        parent_dataset_id=parent["id"],
        operation=body.operation,
        smoke=smoke,
    )
    ctx.worker.wake()
    return dataset_record(record)


_DERIVE_RESPONSES: dict[int | str, dict[str, Any]] = {
    501: {
        "description": "synthetic data generation needs an LLM teacher "
        "($DISTIL_TEACHER_BASE_URL) the server was not given"
    }
}


@router.post(
    "/datasets/from-datasets",
    status_code=201,
    response_model=Dataset,
    responses=_DERIVE_RESPONSES,
)
def derive_dataset(body: DeriveDatasetRequest, ctx: Ctx, entities: Entities) -> Any:
    """An expand operation on a parent dataset (404 unknown parent, 409 parent not ready).

    ``relabel_traces_{train,test}`` run a job that labels traces with the teacher and writes a
    new dataset; ``generate_synthetic_data_*`` run a job in which the LLM teacher writes new
    rows (501 naming ``$DISTIL_TEACHER_BASE_URL`` when the server has no LLM teacher).
    """
    return _derive(body, ctx, entities, smoke=False)


@router.post(
    "/datasets/from-datasets-smoke",
    status_code=201,
    response_model=Dataset,
    responses=_DERIVE_RESPONSES,
)
def derive_dataset_smoke(body: DeriveDatasetRequest, ctx: Ctx, entities: Entities) -> Any:
    """The smoke of ``POST /datasets/from-datasets``: the trace count (relabelling) or the
    generation target is forced to 128."""
    return _derive(body, ctx, entities, smoke=True)


def _dataset(ctx: LocalContext, entities: EntityStore, dataset_id: str) -> dict[str, Any]:
    """The dataset, with the files of a successful expand in place."""
    record = require(entities, DATASETS, dataset_id)
    materialize(ctx.store, entities, record)
    return record


@router.get("/datasets", response_model=list[Dataset], response_model_exclude_unset=True)
def list_datasets(entities: Entities) -> list[dict[str, Any]]:
    """Every dataset, newest first (no status: ``GET /datasets/{id}`` adds it)."""
    return [dataset_record(r, with_status=False) for r in entities.list(DATASETS)]


@router.get("/datasets/{dataset_id}", response_model=Dataset)
def get_dataset(dataset_id: str, entities: Entities) -> dict[str, Any]:
    """One dataset, with its status."""
    return dataset_record(require(entities, DATASETS, dataset_id))


@router.get("/datasets/{dataset_id}/status", response_model=EntityStatus)
def dataset_status(dataset_id: str, entities: Entities) -> dict[str, Any]:
    """``JOB_SUCCESS`` at once for an uploaded dataset."""
    record = require(entities, DATASETS, dataset_id)
    return {"id": record["id"], "status": record["status"], "message": record["message"]}


@router.get("/datasets/{dataset_id}/logs", response_model=JobLogs)
def dataset_logs(dataset_id: str, ctx: Ctx, entities: Entities) -> dict[str, Any]:
    """The log of the job that produced the dataset ("" for an uploaded one)."""
    record = require(entities, DATASETS, dataset_id)
    return {"logs": job_logs(ctx, record["job"])}


@router.get("/datasets/{dataset_id}/metrics", response_model=DatasetMetrics)
def dataset_metrics(dataset_id: str, ctx: Ctx, entities: Entities) -> dict[str, Any]:
    """The size in bytes of each data file (null until the dataset is ready)."""
    record = _dataset(ctx, entities, dataset_id)
    folder = entities.files_dir(dataset_id)
    ready = record["status"] == JOB_SUCCESS

    def size(name: str) -> int | None:
        path = folder / name
        return path.stat().st_size if ready and path.is_file() else None

    return {
        "train_data_size_bytes": size("train.jsonl"),
        "test_data_size_bytes": size("test.jsonl"),
        "traces_size_bytes": size("traces.jsonl"),
    }


@router.get("/datasets/{dataset_id}/sample", response_model=DatasetSample)
def dataset_sample(dataset_id: str, ctx: Ctx, entities: Entities) -> dict[str, Any]:
    """Up to 128 rows of the train split (409 until the dataset is ready)."""
    record = _dataset(ctx, entities, dataset_id)
    require_ready(record, "rows")
    rows: list[dict[str, Any]] = []
    path = entities.files_dir(dataset_id) / "train.jsonl"
    with path.open("r", encoding="utf-8", errors="replace") as fh:
        for line in fh:
            if len(rows) >= SAMPLE_ROWS:
                break
            try:
                row = json.loads(line)
            except ValueError:
                continue  # validation already refused malformed rows; blank lines remain
            if isinstance(row, dict):
                rows.append(row)
    return {"rows": rows}


@router.get("/datasets/{dataset_id}/download", response_model=DatasetDownload)
def dataset_download(
    dataset_id: str, request: Request, ctx: Ctx, entities: Entities
) -> dict[str, Any]:
    """Presigned URLs (no auth header) of all five files; an empty split is an empty file."""
    record = _dataset(ctx, entities, dataset_id)
    require_ready(record, "files")
    return {
        f"{entry.field}_url": file_url(request, ctx, dataset_id, entry.name)
        for entry in DATASET_FILES
        if entry.staging_key
    }


@router.get("/datasets/{dataset_id}/download-metadata", response_model=DownloadMetadata)
def dataset_download_metadata(
    dataset_id: str, request: Request, ctx: Ctx, entities: Entities
) -> dict[str, Any]:
    """Presigned URLs of the dataset's ``config.yaml`` and ``job_description.json`` (null
    until a produced dataset's job has succeeded)."""
    record = _dataset(ctx, entities, dataset_id)
    if record["status"] != JOB_SUCCESS:
        return {"config_url": None, "job_description_url": None}
    return {
        "config_url": file_url(request, ctx, dataset_id, "config.yaml"),
        "job_description_url": file_url(request, ctx, dataset_id, "job_description.json"),
    }
