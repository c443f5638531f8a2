"""Routes: prepared traces (``POST /prepared-traces``, ``GET /prepared-traces[/{id}[/download]]``)
and the Dataset made from one (``POST /datasets/from-prepared-traces``), in the platform's shapes
(distil-cli-skill ``execution/backend-api.md`` § Creating the job inputs, § Traces from an
endpoint; ``platform.md`` § Entities and jobs).

- A PreparedTraces is a trace file: one staged ``traces_jsonl`` (``source: direct_upload``), or
  the records an inference endpoint of this server holds (``inference_endpoint_name``, ``source:
  inference_endpoint``), written as the endpoint's traces export writes them. The create checks
  only that the file or the endpoint is there; no job runs, so it is ``JOB_SUCCESS`` at once.
- ``POST /datasets/from-prepared-traces`` copies the traces into a new Dataset with the config
  and the job description sent inline; train and test are empty, no job runs. The config's
  ``trace_processing.observation_format`` must name the traces' shape (``langfuse`` for an
  endpoint's records): the Dataset is validated as ``POST /datasets`` validates it, 400 with
  every finding otherwise. Relabelling (``POST /datasets/from-datasets``) then labels them.
"""

from __future__ import annotations

import shutil
import uuid
from typing import Any

from fastapi import APIRouter, HTTPException, Request

from ..._fs import staged_folder
from ...types._serving import (
    CreatePreparedTracesRequest,
    PreparedTraces,
    PreparedTracesDownload,
)
from ...types._traces import TRACES_FILE
from ...types.entities import Dataset, DatasetFromPreparedTracesRequest
from .._storage.dataset_files import (
    DATASET_FILE_NAMES,
    BundleRejected,
    apply_overrides,
    bundle_from_files,
)
from .._storage.entity_store import DATASETS, PREPARED_TRACES
from .._storage.staging import StagingError, resolve_staged_url
from .common import Authorized, Ctx, iso
from .datasets import DIRECT_UPLOAD, dataset_record
from .endpoints import Endpoints
from .entities import Entities, file_url, rejected, require

__all__ = ["FROM_PREPARED_TRACES", "INFERENCE_ENDPOINT", "router"]

TAG = "prepared traces"
router = APIRouter(dependencies=Authorized, tags=[TAG])

INFERENCE_ENDPOINT = "inference_endpoint"
#: A Dataset's ``operation`` when it was made from a PreparedTraces.
FROM_PREPARED_TRACES = "from_prepared_traces"


def prepared_traces_record(record: dict[str, Any], *, with_status: bool = True) -> dict[str, Any]:
    """A PreparedTraces in wire form (the list carries no status, as on the platform)."""
    out: dict[str, Any] = {
        "id": record["id"],
        "created_at": iso(record["created_at"]),
        "source": record["operation"],
    }
    if with_status:
        out["status"] = record["status"]
    return out


@router.post(
    "/prepared-traces",
    status_code=201,
    response_model=PreparedTraces,
    responses={404: {"description": "no inference endpoint of that name"}},
)
def create_prepared_traces(
    body: CreatePreparedTracesRequest, ctx: Ctx, entities: Entities, endpoints: Endpoints
) -> Any:
    """A PreparedTraces from a staged ``traces_jsonl`` (``GET /staging-prepared-traces-s3-urls``
    then a PUT) or from the records of the inference endpoint ``inference_endpoint_name``
    (404 when this server has none of that name)."""
    entity_id = str(uuid.uuid4())
    if body.traces_jsonl is not None:
        try:
            staged = resolve_staged_url(
                ctx.token,
                entities.staging_dir,
                "prepared-traces",
                "traces_jsonl",
                body.traces_jsonl,
            )
        except StagingError as exc:
            return rejected(BundleRejected(str(exc), []))
        with staged_folder(entities.files_dir(entity_id), replace=False) as tmp:
            shutil.copyfile(staged.path, tmp / TRACES_FILE)
        source = DIRECT_UPLOAD
    else:
        name = str(body.inference_endpoint_name)
        if endpoints.get(name) is None:
            raise HTTPException(
                404,
                f"inference endpoint {name!r} not found; GET /inference-endpoints lists them "
                "by unique_endpoint_name",
            )
        with staged_folder(entities.files_dir(entity_id), replace=False) as tmp:
            endpoints.write_records(name, (None, None), tmp / TRACES_FILE)
        source = INFERENCE_ENDPOINT
    record = entities.add(PREPARED_TRACES, entity_id=entity_id, operation=source)
    return prepared_traces_record(record)


@router.get(
    "/prepared-traces", response_model=list[PreparedTraces], response_model_exclude_unset=True
)
def list_prepared_traces(entities: Entities) -> list[dict[str, Any]]:
    """Every PreparedTraces, newest first (no status: ``GET /prepared-traces/{id}`` adds it)."""
    return [prepared_traces_record(r, with_status=False) for r in entities.list(PREPARED_TRACES)]


@router.get("/prepared-traces/{prepared_traces_id}", response_model=PreparedTraces)
def get_prepared_traces(prepared_traces_id: str, entities: Entities) -> dict[str, Any]:
    """One PreparedTraces, with its status (``JOB_SUCCESS``: no job makes one)."""
    return prepared_traces_record(require(entities, PREPARED_TRACES, prepared_traces_id))


@router.get("/prepared-traces/{prepared_traces_id}/download", response_model=PreparedTracesDownload)
def download_prepared_traces(
    prepared_traces_id: str, request: Request, ctx: Ctx, entities: Entities
) -> dict[str, Any]:
    """A presigned URL (no auth header) of the trace file."""
    require(entities, PREPARED_TRACES, prepared_traces_id)
    return {"traces_url": file_url(request, ctx, prepared_traces_id, TRACES_FILE)}


@router.post(
    "/datasets/from-prepared-traces", status_code=201, response_model=Dataset, tags=["datasets"]
)
def dataset_from_prepared_traces(body: DatasetFromPreparedTracesRequest, entities: Entities) -> Any:
    """A Dataset holding the traces of ``from`` (404 unknown), the config and the job
    description sent, and empty train and test splits; ``JOB_SUCCESS`` at once. 400 with every
    finding when the files fail validation (a config whose observation format does not fit the
    traces, say)."""
    parent = require(entities, PREPARED_TRACES, body.from_)
    files = dict.fromkeys(DATASET_FILE_NAMES, b"")
    files[TRACES_FILE] = (entities.files_dir(parent["id"]) / TRACES_FILE).read_bytes()
    files = apply_overrides(files, body.config, body.job_description)
    try:
        bundle_from_files(files)
    except BundleRejected as exc:
        return rejected(exc)
    dataset_id = str(uuid.uuid4())
    entities.write_files(dataset_id, files)
    record = entities.add(
        DATASETS,
        entity_id=dataset_id,
        operation=FROM_PREPARED_TRACES,
        parent_prepared_traces_id=parent["id"],
    )
    return dataset_record(record)
