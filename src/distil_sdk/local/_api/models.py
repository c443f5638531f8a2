"""Routes: models and uploads.

Each route declares its answer's model from ``distil_sdk.types.jobs`` as ``response_model``, the
same model the client parses with (see "One wire contract" in ``docs/architecture.md``).
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import IO, Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from ..._fs import staged_folder
from ...types._dataset_files import DATASET_FILES
from ...types.jobs import Model, ModelList, Upload, UploadStatus
from .._storage.store import JOB_SUCCESS, upload_file_name
from .bodies import UnreadableBody, is_json, parse_json_body, spool_body
from .common import Authorized, Ctx, LocalContext, PrintableName, iso, not_found
from .errors import error_response

__all__ = ["router"]

router = APIRouter(dependencies=Authorized)


class CreateModelBody(BaseModel):
    """``POST /models``."""

    model_config = ConfigDict(extra="forbid")
    name: PrintableName = Field(min_length=1, max_length=200)


_PART_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"type": {"type": "string"}, "content": {"type": "string"}},
    "required": ["type", "content"],
}
# Documented by hand rather than as a pydantic body: a malformed upload must get the SDK
# validator's findings (as the client would report them), not FastAPI's generic errors.
_UPLOAD_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": (
        "The task files, each {type, content}: job_description (json), train_data and "
        "test_data (csv|jsonl), optional unstructured_data (csv|jsonl) and config (yaml|json)."
    ),
    "properties": {f.field: _PART_SCHEMA for f in DATASET_FILES if f.upload_types},
    "required": [f.field for f in DATASET_FILES if f.upload_required],
    "additionalProperties": False,
}


def _model_record(ctx: LocalContext, model: dict[str, Any]) -> Model:
    return Model(
        id=model["id"],
        name=model["name"],
        created_at=iso(model["created_at"]),
        upload_ids=ctx.store.upload_ids(model["id"]),
    )


def _upload_record(upload: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": upload["id"],
        "model_id": upload["model_id"],
        "status": upload["status"],
        "message": upload["message"],
        "created_at": iso(upload["created_at"]),
        "warnings": upload["warnings"],
    }


@router.post("/models", status_code=201, tags=["models"], response_model=Model)
def create_model(body: CreateModelBody, ctx: Ctx) -> Model:
    """Create a model (a named container for uploads and jobs)."""
    return _model_record(ctx, ctx.store.create_model(body.name))


@router.get("/models", tags=["models"], response_model=ModelList)
def list_models(ctx: Ctx) -> ModelList:
    """List the models, oldest first."""
    return ModelList(models=[_model_record(ctx, m) for m in ctx.store.list_models()])


@router.get("/models/{model_id}", tags=["models"], response_model=Model)
def get_model(model_id: str, ctx: Ctx) -> Model:
    """One model."""
    model = ctx.store.get_model(model_id) or not_found("model", model_id)
    return _model_record(ctx, model)


@router.delete("/models/{model_id}", status_code=204, tags=["models"])
def delete_model(model_id: str, ctx: Ctx) -> Response:
    """Delete a model with its uploads, jobs and artifacts (a running job is killed first)."""
    job_ids = ctx.store.delete_model(model_id)
    if job_ids is None:
        not_found("model", model_id)
    for job_id in job_ids:
        ctx.worker.cancel(job_id)
        shutil.rmtree(ctx.store.job_dir(job_id), ignore_errors=True)
    return Response(status_code=204)


def _validation_error(message: str, findings: list[Any]) -> JSONResponse:
    return error_response(422, message, findings=findings)


@router.post(
    "/models/{model_id}/uploads",
    status_code=201,
    tags=["uploads"],
    response_model=Upload,
    responses={422: {"description": "invalid bundle: `{message, findings}`"}},
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": _UPLOAD_SCHEMA}},
        }
    },
)
async def create_upload(model_id: str, request: Request, ctx: Ctx) -> Any:
    """Validate a task bundle with the SDK's validator and store it.

    An invalid bundle is refused with 422 ``{"message": summary, "findings": [...]}`` and nothing
    is stored; a valid one is stored and its status is ``JOB_SUCCESS`` at once. The body (up to
    ``$DISTIL_LOCAL_MAX_BODY_BYTES``) is spooled to disk as it arrives, not held in memory.
    """
    ctx.store.get_model(model_id) or not_found("model", model_id)
    if not is_json(request.headers.get("content-type")):
        # As FastAPI answered a declared JSON body sent as anything else: not an object.
        return _validation_error("the upload body must be a JSON object", [])
    spooled = await spool_body(request, ctx.store.uploads_dir)
    try:
        # Parsing and validating megabytes is CPU work: off the event loop, like a sync route.
        return await run_in_threadpool(_validate_and_store, ctx, model_id, spooled)
    finally:
        spooled.close()


def _validate_and_store(ctx: LocalContext, model_id: str, spooled: IO[bytes]) -> Any:
    """The upload answer for the spooled body: stored, or refused with 422 and findings."""
    from ..._errors import DataValidationError
    from ...types.data import TaskBundle

    # Read here, not by the caller: the raw bytes are freed as soon as they are parsed.
    body = _parse_upload(spooled.read())
    if not isinstance(body, dict):
        return _validation_error("the upload body must be a JSON object", [])
    payload = {key: value for key, value in body.items() if value is not None}
    try:
        bundle = TaskBundle.from_upload_payload(payload)
    except DataValidationError as exc:
        findings = [f.model_dump(mode="json") for f in exc.report.findings]
        return _validation_error(exc.report.summary(), findings)
    report = bundle.validate()
    findings = [f.model_dump(mode="json") for f in report.findings]
    if not report.ok:
        return _validation_error(report.summary(), findings)

    upload_id = ctx.store.new_upload_id()
    _store_files(ctx.store.uploads_dir, upload_id, payload)
    warnings = [f for f in findings if f.get("severity") == "warning"]
    message = "stored and valid" + (f" ({len(warnings)} warning(s))" if warnings else "")
    upload = ctx.store.create_upload(upload_id, model_id, JOB_SUCCESS, message, warnings)
    return Upload.model_validate(_upload_record(upload))


def _parse_upload(data: bytes) -> Any:
    if not data:  # as FastAPI answered a missing required body
        raise UnreadableBody("missing", "Field required")
    return parse_json_body(data)


def _store_files(uploads_dir: Path, upload_id: str, payload: dict[str, Any]) -> None:
    # Written into a temporary folder renamed into place: a job never reads a partial upload.
    with staged_folder(uploads_dir / upload_id, replace=False) as tmp:
        for key, entry in payload.items():
            name = upload_file_name(key, entry["type"])
            (tmp / name).write_text(entry["content"], encoding="utf-8")


@router.get("/uploads/{upload_id}/status", tags=["uploads"], response_model=UploadStatus)
def upload_status(upload_id: str, ctx: Ctx) -> UploadStatus:
    """The status of an upload (``JOB_SUCCESS`` once stored: validation is synchronous)."""
    upload = ctx.store.get_upload(upload_id) or not_found("upload", upload_id)
    return UploadStatus.model_validate(_upload_record(upload))
