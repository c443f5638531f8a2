"""Routes: SLMs of the current generation (``POST /slms/from-datasets[-smoke]`` with ``from``,
``POST /slms`` from a staged tarball; ``GET /slms[/{id}]``,
``/{id}/status|logs|metrics|download|download-metadata``)."""

from __future__ import annotations

import json
import uuid
from typing import Any

from fastapi import APIRouter, Request

from ..._errors import DataValidationError
from ...types.entities import (
    SLM,
    CreateSLMRequest,
    EntityStatus,
    JobLogs,
    SLMDownload,
    SLMDownloadMetadata,
    SLMMetrics,
    UploadSLMRequest,
)
from .._jobs.packaging import package_slm, publish_bytes, publish_file
from .._storage.dataset_files import (
    BundleRejected,
    model_client_py,
    slm_readme,
    validate_model_tar,
)
from .._storage.entity_store import SLMS, EntityStore
from .._storage.staging import StagingError, resolve_staged_url
from .._storage.store import JOB_SUCCESS
from .common import Authorized, Ctx, LocalContext, artifact_url, iso
from .entities import (
    Entities,
    file_url,
    job_logs,
    rejected,
    require,
    require_ready,
)
from .submit import submit_job

__all__ = ["router"]

router = APIRouter(dependencies=Authorized, tags=["slms"])
TRAINING_KIND = "training"
MODEL_TAR = "model.tar"
MODEL_CLIENT = "model_client.py"


def slm_record(record: dict[str, Any], *, with_status: bool = True) -> dict[str, Any]:
    """An SLM in wire form (the list carries no status, as on the platform)."""
    out: dict[str, Any] = {
        "id": record["id"],
        "created_at": iso(record["created_at"]),
        "dataset_id": record["dataset_id"],
    }
    if with_status:
        out["status"] = record["status"]
    return out


def _create(body: CreateSLMRequest, ctx: LocalContext, entities: EntityStore, smoke: bool) -> Any:
    try:
        record = submit_job(
            ctx,
            entities,
            collection=SLMS,
            kind=TRAINING_KIND,
            dataset_id=body.from_,
            config=body.config,
            job_description=body.job_description,
            smoke=smoke,
        )
    except BundleRejected as exc:
        return rejected(exc)
    return slm_record(record)


@router.post("/slms/from-datasets", status_code=201, response_model=SLM)
def create_slm(body: CreateSLMRequest, ctx: Ctx, entities: Entities) -> Any:
    """Train a student on a dataset (distillation from the teacher); ``config`` /
    ``job_description`` replace the dataset's files whole. 404 / 409 / 400 as the platform."""
    return _create(body, ctx, entities, smoke=False)


@router.post("/slms/from-datasets-smoke", status_code=201, response_model=SLM)
def create_slm_smoke(body: CreateSLMRequest, ctx: Ctx, entities: Entities) -> Any:
    """A training smoke: one epoch on the 128 longest train rows and the 32 longest test rows."""
    return _create(body, ctx, entities, smoke=True)


@router.post("/slms", status_code=201, response_model=SLM)
def upload_slm(body: UploadSLMRequest, ctx: Ctx, entities: Entities) -> Any:
    """Register an existing model from a staged ``model.tar`` (a ``model/`` folder, as
    ``GET /slms/{id}/download`` gives it) and its ``config.yaml``; trains nothing. 400 when the
    files do not form an SLM."""
    from ...types.task import TaskConfig

    try:
        tar = resolve_staged_url(ctx.token, entities.staging_dir, "slms", "model", body.model)
        config = resolve_staged_url(ctx.token, entities.staging_dir, "slms", "config", body.config)
        extras = validate_model_tar(tar.path)
        config_bytes = config.path.read_bytes()
        TaskConfig.from_text(config_bytes, format="yaml", file="config.yaml")
    except StagingError as exc:
        return rejected(BundleRejected(str(exc), []))
    except BundleRejected as exc:
        return rejected(exc)
    except DataValidationError as exc:
        findings = [f.model_dump(mode="json") for f in exc.report.findings]
        return rejected(BundleRejected(exc.report.summary(), findings))
    files = {"config.yaml": config_bytes}
    if MODEL_CLIENT in extras:
        files[MODEL_CLIENT] = extras[MODEL_CLIENT]
    slm_id = str(uuid.uuid4())
    folder = entities.write_files(slm_id, files)
    publish_file(tar.path, folder / MODEL_TAR)
    return slm_record(entities.add(SLMS, entity_id=slm_id, message="uploaded"))


@router.get("/slms", response_model=list[SLM], response_model_exclude_unset=True)
def list_slms(entities: Entities) -> list[dict[str, Any]]:
    """Every SLM, newest first (no status: ``GET /slms/{id}`` adds it)."""
    return [slm_record(r, with_status=False) for r in entities.list(SLMS)]


@router.get("/slms/{slm_id}", response_model=SLM)
def get_slm(slm_id: str, entities: Entities) -> dict[str, Any]:
    """One SLM, with its status."""
    return slm_record(require(entities, SLMS, slm_id))


@router.get("/slms/{slm_id}/status", response_model=EntityStatus)
def slm_status(slm_id: str, entities: Entities) -> dict[str, Any]:
    """The training job's status (``JOB_SUCCESS`` at once for an uploaded SLM)."""
    record = require(entities, SLMS, slm_id)
    tasks = (record.get("job") or {}).get("tasks") or []
    return {
        "id": record["id"],
        "status": record["status"],
        "message": record["message"],
        "tasks": tasks,
    }


@router.get("/slms/{slm_id}/logs", response_model=JobLogs)
def slm_logs(slm_id: str, ctx: Ctx, entities: Entities) -> dict[str, Any]:
    """The training job's log (its end, when long; "" for an uploaded SLM)."""
    record = require(entities, SLMS, slm_id)
    return {"logs": job_logs(ctx, record["job"])}


@router.get("/slms/{slm_id}/metrics", response_model=SLMMetrics)
def slm_metrics(slm_id: str, request: Request, ctx: Ctx, entities: Entities) -> dict[str, Any]:
    """Base and tuned student scores and the tuned model's predictions URL (null until the
    training succeeds; always null for an uploaded SLM, which nothing evaluated)."""
    record = require(entities, SLMS, slm_id)
    job = record["job"]
    if record["status"] != JOB_SUCCESS or not job or not job["result"]:
        return {
            "base_model_performance": None,
            "tuned_model_performance": None,
            "predictions_download_url": None,
        }
    results = job["result"].get("evaluation_results", {})
    name = job["result"].get("artifacts", {}).get("student-tuned")
    return {
        "base_model_performance": results.get("student-base"),
        "tuned_model_performance": results.get("student-tuned"),
        "predictions_download_url": artifact_url(request, ctx, job["id"], name) if name else None,
    }


def _labels(folder_config: bytes) -> list[str]:
    try:
        return [str(v) for v in json.loads(folder_config).get("classes_description", {})]
    except (ValueError, AttributeError):
        return []


def _ensure_tarball(ctx: LocalContext, entities: EntityStore, record: dict[str, Any]) -> None:
    """Build a trained SLM's tarball (``model/``, ``README.md``, ``model_client.py``) once."""
    folder = entities.files_dir(record["id"])
    if (folder / MODEL_TAR).is_file() or record["job"] is None:
        return
    source = ctx.store.job_dir(record["id"]) / "artifacts" / MODEL_TAR
    jd = folder / "job_description.json"
    labels = _labels(jd.read_bytes()) if jd.is_file() else []
    try:
        job_description = json.loads(jd.read_bytes()) if jd.is_file() else None
    except ValueError:
        job_description = None
    extras = {
        "README.md": slm_readme(record["id"], labels, job_description).encode("utf-8"),
        # The model's own client: its task as SYSTEM_PROMPT, as the platform generates it.
        MODEL_CLIENT: model_client_py(job_description).encode("utf-8"),
    }
    package_slm(source, folder / MODEL_TAR, extras)
    publish_bytes(extras[MODEL_CLIENT], folder / MODEL_CLIENT)


@router.get("/slms/{slm_id}/download", response_model=SLMDownload)
def slm_download(slm_id: str, request: Request, ctx: Ctx, entities: Entities) -> dict[str, Any]:
    """Presigned URLs (no auth header) of the model tarball and its ``config.yaml``; 409 until
    the training succeeds."""
    record = require(entities, SLMS, slm_id)
    require_ready(record, "model files")
    _ensure_tarball(ctx, entities, record)
    return {
        "model_url": file_url(request, ctx, slm_id, MODEL_TAR),
        "config_url": file_url(request, ctx, slm_id, "config.yaml"),
    }


@router.get("/slms/{slm_id}/download-metadata", response_model=SLMDownloadMetadata)
def slm_download_metadata(
    slm_id: str, request: Request, ctx: Ctx, entities: Entities
) -> dict[str, Any]:
    """Presigned URLs of ``config.yaml``, ``job_description.json`` and (once the SLM is ready,
    and for an upload only if its tarball had one) ``model_client.py``."""
    record = require(entities, SLMS, slm_id)
    folder = entities.files_dir(slm_id)
    if record["status"] == JOB_SUCCESS:
        _ensure_tarball(ctx, entities, record)

    def url(name: str) -> str | None:
        return file_url(request, ctx, slm_id, name) if (folder / name).is_file() else None

    return {
        "config_url": url("config.yaml"),
        "job_description_url": url("job_description.json"),
        "model_client_url": url(MODEL_CLIENT) if record["status"] == JOB_SUCCESS else None,
    }
