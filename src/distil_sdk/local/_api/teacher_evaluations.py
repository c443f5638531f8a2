"""Routes: teacher evaluations of the current generation (``POST /teacher-evaluations`` with
``from_dataset_id``; ``GET /teacher-evaluations[/{id}]``, ``/{id}/logs|metrics|download-metadata``).

``GET /teacher-evaluations/{id}/status`` and ``/cancel`` live in ``_routes_jobs``, which serves
teacher evaluations of both generations: an entity's id is its job's id.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from ...types.entities import (
    CreateTeacherEvaluationRequest,
    DownloadMetadata,
    JobLogs,
    TeacherEvaluation,
    TeacherEvaluationMetrics,
)
from .._storage.dataset_files import BundleRejected
from .._storage.entity_store import TEACHER_EVALUATIONS
from .._storage.store import JOB_SUCCESS
from .common import Authorized, Ctx, artifact_url, iso
from .entities import Entities, file_url, job_logs, rejected, require
from .submit import submit_job

__all__ = ["router"]

router = APIRouter(dependencies=Authorized, tags=["teacher evaluations"])
TEACHER_KIND = "teacher_evaluation"


def teacher_evaluation_record(
    record: dict[str, Any], *, with_status: bool = True
) -> dict[str, Any]:
    """A teacher evaluation in wire form (the list carries no status, as on the platform)."""
    out: dict[str, Any] = {
        "id": record["id"],
        "created_at": iso(record["created_at"]),
        "dataset_id": record["dataset_id"],
    }
    if with_status:
        out["status"] = record["status"]
    return out


@router.post("/teacher-evaluations", status_code=201, response_model=TeacherEvaluation)
def create_teacher_evaluation(
    body: CreateTeacherEvaluationRequest, ctx: Ctx, entities: Entities
) -> Any:
    """Evaluate the teacher on a dataset's test split. ``config`` / ``job_description``, when
    given, replace the dataset's files whole. 404 unknown dataset, 409 not ready, 400 invalid."""
    try:
        record = submit_job(
            ctx,
            entities,
            collection=TEACHER_EVALUATIONS,
            kind=TEACHER_KIND,
            dataset_id=body.from_dataset_id,
            config=body.config,
            job_description=body.job_description,
        )
    except BundleRejected as exc:
        return rejected(exc)
    return teacher_evaluation_record(record)


@router.get(
    "/teacher-evaluations",
    response_model=list[TeacherEvaluation],
    response_model_exclude_unset=True,
)
def list_teacher_evaluations(entities: Entities) -> list[dict[str, Any]]:
    """Every teacher evaluation made from a dataset, newest first (no status)."""
    return [
        teacher_evaluation_record(r, with_status=False) for r in entities.list(TEACHER_EVALUATIONS)
    ]


@router.get("/teacher-evaluations/{evaluation_id}", response_model=TeacherEvaluation)
def get_teacher_evaluation(evaluation_id: str, entities: Entities) -> dict[str, Any]:
    """One teacher evaluation, with its status."""
    return teacher_evaluation_record(require(entities, TEACHER_EVALUATIONS, evaluation_id))


@router.get("/teacher-evaluations/{evaluation_id}/logs", response_model=JobLogs)
def teacher_evaluation_logs(evaluation_id: str, ctx: Ctx, entities: Entities) -> dict[str, Any]:
    """The job's log (its end, when long)."""
    record = require(entities, TEACHER_EVALUATIONS, evaluation_id)
    return {"logs": job_logs(ctx, record["job"])}


@router.get("/teacher-evaluations/{evaluation_id}/metrics", response_model=TeacherEvaluationMetrics)
def teacher_evaluation_metrics(
    evaluation_id: str, request: Request, ctx: Ctx, entities: Entities
) -> dict[str, Any]:
    """``teacher_performance`` (accuracy and one row per class) and the predictions URL; both
    null until the job succeeds."""
    record = require(entities, TEACHER_EVALUATIONS, evaluation_id)
    job = record["job"]
    if record["status"] != JOB_SUCCESS or not job or not job["result"]:
        return {"teacher_performance": None, "predictions_download_url": None}
    name = job["result"].get("artifacts", {}).get("predictions")
    return {
        "teacher_performance": job["result"].get("results"),
        "predictions_download_url": artifact_url(request, ctx, job["id"], name) if name else None,
    }


@router.get(
    "/teacher-evaluations/{evaluation_id}/download-metadata", response_model=DownloadMetadata
)
def teacher_evaluation_download_metadata(
    evaluation_id: str, request: Request, ctx: Ctx, entities: Entities
) -> dict[str, Any]:
    """Presigned URLs of the ``config.yaml`` and ``job_description.json`` it ran with (settled
    at submission, so readable while it runs)."""
    require(entities, TEACHER_EVALUATIONS, evaluation_id)
    return {
        "config_url": file_url(request, ctx, evaluation_id, "config.yaml"),
        "job_description_url": file_url(request, ctx, evaluation_id, "job_description.json"),
    }
