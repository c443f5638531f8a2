"""Routes: teacher evaluations, trainings and (unavailable) deployments."""

from __future__ import annotations

from typing import Any, NoReturn

from fastapi import APIRouter, HTTPException, Request
from pydantic import BaseModel, ConfigDict

from ._routes_common import Authorized, Ctx, LocalContext, artifact_url, job_times, not_found
from .store import JOB_RUNNING, JOB_SUCCESS

__all__ = ["router"]

router = APIRouter(dependencies=Authorized)

TEACHER = "teacher_evaluation"
TRAINING = "training"
#: How long a cancel request waits for the killed job to be recorded as stopped.
CANCEL_WAIT_S = 15.0


class StartJobBody(BaseModel):
    """``POST /models/{id}/teacher-evaluations`` and ``POST /models/{id}/training``."""

    model_config = ConfigDict(extra="forbid")
    upload_id: str


def _start(ctx: LocalContext, kind: str, model_id: str, upload_id: str) -> dict[str, Any]:
    ctx.store.get_model(model_id) or not_found("model", model_id)
    upload = ctx.store.get_upload(upload_id)
    if upload is None or upload["model_id"] != model_id:
        not_found(f"upload of model {model_id!r}", upload_id)
    if upload["status"] != JOB_SUCCESS:
        raise HTTPException(409, f"upload {upload_id!r} is {upload['status']}: upload again")
    job = ctx.store.create_job(kind, model_id, upload_id)
    ctx.worker.wake()
    return job


def _job(ctx: LocalContext, kind: str, job_id: str) -> dict[str, Any]:
    label = "teacher evaluation" if kind == TEACHER else "training"
    return ctx.store.get_job(job_id, kind) or not_found(label, job_id)


def _cancel(ctx: LocalContext, kind: str, job_id: str) -> dict[str, Any]:
    _job(ctx, kind, job_id)
    if ctx.store.request_cancel(job_id) == JOB_RUNNING:
        ctx.worker.cancel(job_id)
        ctx.worker.wait_final(job_id, CANCEL_WAIT_S)
    return _job(ctx, kind, job_id)


def _base_record(job: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": job["id"],
        "model_id": job["model_id"],
        "upload_id": job["upload_id"],
        "status": job["status"],
        "message": job["message"],
        "tasks": job["tasks"],
        **job_times(job),
    }


def _artifact(request: Request, ctx: LocalContext, job: dict[str, Any], key: str) -> str | None:
    """The presigned URL of the job's artifact ``key``, once the job has succeeded."""
    if job["status"] != JOB_SUCCESS or not job["result"]:
        return None
    name = job["result"].get("artifacts", {}).get(key)
    return artifact_url(request, ctx, job["id"], name) if name else None


def _require_success(job: dict[str, Any], what: str) -> None:
    if job["status"] != JOB_SUCCESS:
        raise HTTPException(
            409,
            f"training {job['id']!r} is {job['status']}: its {what} exist once it reaches "
            f"JOB_SUCCESS ({job['message']})",
        )


# -- teacher evaluations ----------------------------------------------------------------------
def _teacher_record(request: Request, ctx: LocalContext, job: dict[str, Any]) -> dict[str, Any]:
    result = job["result"] if job["status"] == JOB_SUCCESS else None
    return {
        **_base_record(job),
        "results": result.get("results") if result else None,
        "evaluation_predictions_download_url": _artifact(request, ctx, job, "predictions"),
    }


@router.post(
    "/models/{model_id}/teacher-evaluations", status_code=201, tags=["teacher evaluations"]
)
def start_teacher_evaluation(
    model_id: str, body: StartJobBody, request: Request, ctx: Ctx
) -> dict[str, Any]:
    """Queue a teacher evaluation of an upload."""
    return _teacher_record(request, ctx, _start(ctx, TEACHER, model_id, body.upload_id))


@router.get("/teacher-evaluations/{job_id}/status", tags=["teacher evaluations"])
def teacher_evaluation_status(job_id: str, request: Request, ctx: Ctx) -> dict[str, Any]:
    """Status, per-stage tasks, and (once done) results and the predictions URL."""
    return _teacher_record(request, ctx, _job(ctx, TEACHER, job_id))


@router.post("/teacher-evaluations/{job_id}/cancel", tags=["teacher evaluations"])
def cancel_teacher_evaluation(job_id: str, request: Request, ctx: Ctx) -> dict[str, Any]:
    """Stop a teacher evaluation (``JOB_STOPPED``); a finished one is left as it is."""
    return _teacher_record(request, ctx, _cancel(ctx, TEACHER, job_id))


# -- trainings --------------------------------------------------------------------------------
@router.post("/models/{model_id}/training", status_code=201, tags=["trainings"])
def start_training(model_id: str, body: StartJobBody, ctx: Ctx) -> dict[str, Any]:
    """Queue a training (distillation) on an upload."""
    return _base_record(_start(ctx, TRAINING, model_id, body.upload_id))


@router.get("/trainings/{job_id}/status", tags=["trainings"])
def training_status(job_id: str, ctx: Ctx) -> dict[str, Any]:
    """Status with per-stage ``tasks``."""
    return _base_record(_job(ctx, TRAINING, job_id))


@router.post("/trainings/{job_id}/cancel", tags=["trainings"])
def cancel_training(job_id: str, ctx: Ctx) -> dict[str, Any]:
    """Stop a training (``JOB_STOPPED``); a finished one is left as it is."""
    return _base_record(_cancel(ctx, TRAINING, job_id))


@router.get("/trainings/{job_id}/evaluation-results", tags=["trainings"])
def training_evaluation_results(job_id: str, request: Request, ctx: Ctx) -> dict[str, Any]:
    """Teacher, student-base and student-tuned metrics, with predictions URLs (409 until done)."""
    job = _job(ctx, TRAINING, job_id)
    _require_success(job, "evaluation results")
    return {
        "id": job["id"],
        "status": job["status"],
        "evaluation_results": job["result"]["evaluation_results"],
        "finetuned_student_evaluation_predictions_download_url": _artifact(
            request, ctx, job, "student-tuned"
        ),
        "base_student_evaluation_predictions_download_url": _artifact(
            request, ctx, job, "student-base"
        ),
        "teacher_evaluation_predictions_download_url": _artifact(request, ctx, job, "teacher"),
    }


@router.get("/trainings/{job_id}/model", tags=["trainings"])
def training_model(job_id: str, request: Request, ctx: Ctx) -> dict[str, Any]:
    """A presigned URL (no auth header needed) of the trained ``model.tar``."""
    job = _job(ctx, TRAINING, job_id)
    _require_success(job, "model")
    return {
        "message": "presigned URL of model.tar (members under model/); valid for one hour",
        "s3_url": _artifact(request, ctx, job, "model"),
        "training_id": job["id"],
    }


# -- deployments ------------------------------------------------------------------------------
DEPLOYMENT_UNAVAILABLE = (
    "deployment is not available on the local platform; download the model "
    "(GET /trainings/{id}/model) and run it with distil_sdk.LocalClassifier"
)


def deployment(job_id: str) -> NoReturn:
    """Deployments are a hosted-platform feature: always 501 here."""
    raise HTTPException(501, DEPLOYMENT_UNAVAILABLE)


for _method in ("POST", "GET", "DELETE"):
    router.add_api_route(
        "/trainings/{job_id}/deployment",
        deployment,
        methods=[_method],
        status_code=501,
        response_model=None,
        tags=["deployments"],
        operation_id=f"{_method.lower()}_deployment",
        summary=f"{_method} deployment (not available locally: 501)",
        responses={501: {"description": "not available on the local platform"}},
    )
