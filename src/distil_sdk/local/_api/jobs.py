"""Routes: teacher evaluations, trainings and (unavailable) deployments, in the platform's shapes.

Every route declares its answer's model from ``distil_sdk.types.jobs`` as ``response_model``:
the client parses with the same models, so the wire contract is written once. The shapes are
the hosted platform's (``tests/fixtures/platform/recorded/``): ids as ``teacher_evaluation_id``
/ ``training_id`` (plus ``id``), a training status as the object ``{dag, start_time, end_time,
tasks, logs}``, and unfinished results or model links as HTTP 200 with ``null`` and a message.

``GET /teacher-evaluations/{id}/status`` and ``/cancel`` serve the teacher evaluations of both
route generations (an entity's id is its job's id).
"""

from __future__ import annotations

from typing import Any, NoReturn

from fastapi import APIRouter, HTTPException, Request
from pydantic import BaseModel, ConfigDict

from ...types.jobs import (
    EvaluationResults,
    ModelDownload,
    TeacherEvaluation,
    TeacherEvaluationStatus,
    Training,
    TrainingStatus,
)
from .._storage.store import JOB_RUNNING, JOB_SUCCESS
from .common import Authorized, Ctx, LocalContext, artifact_url, iso, not_found
from .entities import job_logs

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


def _tasks(job: dict[str, Any]) -> list[dict[str, Any]]:
    """The job's stages in the platform's form: ``[{"<stage>": {"status", "reason"}}]``."""
    return [
        {t["name"]: {"status": t["status"], "reason": t.get("message") or ""}} for t in job["tasks"]
    ]


def _artifact(request: Request, ctx: LocalContext, job: dict[str, Any], key: str) -> str:
    """The presigned URL of the job's artifact ``key``; "" (as the platform sends) until done."""
    if job["status"] != JOB_SUCCESS or not job["result"]:
        return ""
    name = job["result"].get("artifacts", {}).get(key)
    return artifact_url(request, ctx, job["id"], name) if name else ""


def _not_completed(job: dict[str, Any]) -> str:
    # The platform's own wording for results and model links of an unfinished training.
    return (
        f"Training not completed successfully: {job['id']}. Use the "
        "/trainings/<training-id>/status endpoint for more details."
    )


# -- teacher evaluations ----------------------------------------------------------------------
def _teacher_record(
    request: Request, ctx: LocalContext, job: dict[str, Any]
) -> TeacherEvaluationStatus:
    done = job["status"] == JOB_SUCCESS and job["result"]
    return TeacherEvaluationStatus.model_validate(
        {
            "id": job["id"],
            "teacher_evaluation_id": job["id"],
            "status": job["status"],
            "message": job["message"],
            "results": job["result"].get("results") if done else None,
            "evaluation_predictions_download_url": _artifact(request, ctx, job, "predictions"),
            "logs": job_logs(ctx, job),
            "tasks": _tasks(job),
        }
    )


@router.post(
    "/models/{model_id}/teacher-evaluations",
    status_code=201,
    tags=["teacher evaluations"],
    response_model=TeacherEvaluation,
)
def start_teacher_evaluation(model_id: str, body: StartJobBody, ctx: Ctx) -> TeacherEvaluation:
    """Queue a teacher evaluation of an upload."""
    job = _start(ctx, TEACHER, model_id, body.upload_id)
    return TeacherEvaluation(
        id=job["id"], upload_id=job["upload_id"], started_at=iso(job["created_at"])
    )


@router.get(
    "/teacher-evaluations/{job_id}/status",
    tags=["teacher evaluations"],
    response_model=TeacherEvaluationStatus,
)
def teacher_evaluation_status(job_id: str, request: Request, ctx: Ctx) -> TeacherEvaluationStatus:
    """Status, message, logs, per-stage ``tasks``; once done, results and the predictions URL."""
    return _teacher_record(request, ctx, _job(ctx, TEACHER, job_id))


@router.post(
    "/teacher-evaluations/{job_id}/cancel",
    tags=["teacher evaluations"],
    response_model=TeacherEvaluationStatus,
)
def cancel_teacher_evaluation(job_id: str, request: Request, ctx: Ctx) -> TeacherEvaluationStatus:
    """Stop a teacher evaluation (``JOB_STOPPED``); a finished one is left as it is."""
    return _teacher_record(request, ctx, _cancel(ctx, TEACHER, job_id))


# -- trainings --------------------------------------------------------------------------------
def _training_record(ctx: LocalContext, job: dict[str, Any]) -> TrainingStatus:
    return TrainingStatus.model_validate(
        {
            "id": job["id"],
            "training_id": job["id"],
            "message": job["message"],
            "status": {
                "dag": job["status"],
                "start_time": iso(job["started_at"]),
                "end_time": iso(job["finished_at"]),
                "tasks": _tasks(job),
                "logs": job_logs(ctx, job),
            },
        }
    )


@router.post(
    "/models/{model_id}/training", status_code=201, tags=["trainings"], response_model=Training
)
def start_training(model_id: str, body: StartJobBody, ctx: Ctx) -> Training:
    """Queue a training (distillation) on an upload."""
    job = _start(ctx, TRAINING, model_id, body.upload_id)
    return Training(id=job["id"], upload_id=job["upload_id"])


@router.get("/trainings/{job_id}/status", tags=["trainings"], response_model=TrainingStatus)
def training_status(job_id: str, ctx: Ctx) -> TrainingStatus:
    """Status as the object ``{dag, start_time, end_time, tasks, logs}``."""
    return _training_record(ctx, _job(ctx, TRAINING, job_id))


@router.post("/trainings/{job_id}/cancel", tags=["trainings"], response_model=TrainingStatus)
def cancel_training(job_id: str, ctx: Ctx) -> TrainingStatus:
    """Stop a training (``JOB_STOPPED``); a finished one is left as it is."""
    return _training_record(ctx, _cancel(ctx, TRAINING, job_id))


@router.get(
    "/trainings/{job_id}/evaluation-results",
    tags=["trainings"],
    response_model=EvaluationResults,
)
def training_evaluation_results(job_id: str, request: Request, ctx: Ctx) -> EvaluationResults:
    """Teacher, student-base and student-tuned metrics with predictions URLs; until the
    training succeeded, ``evaluation_results: null`` and a message (HTTP 200, as the platform)."""
    job = _job(ctx, TRAINING, job_id)
    done = job["status"] == JOB_SUCCESS and job["result"]
    return EvaluationResults.model_validate(
        {
            "training_id": job["id"],
            "message": (
                f"Evaluation results for training: {job['id']}" if done else _not_completed(job)
            ),
            "evaluation_results": job["result"]["evaluation_results"] if done else None,
            "results": {},
            "finetuned_student_evaluation_predictions_download_url": _artifact(
                request, ctx, job, "student-tuned"
            ),
            "base_student_evaluation_predictions_download_url": _artifact(
                request, ctx, job, "student-base"
            ),
            "teacher_evaluation_predictions_download_url": _artifact(request, ctx, job, "teacher"),
        }
    )


@router.get("/trainings/{job_id}/model", tags=["trainings"], response_model=ModelDownload)
def training_model(job_id: str, request: Request, ctx: Ctx) -> ModelDownload:
    """A presigned URL (no auth header needed) of the trained ``model.tar``; until the training
    succeeded, ``s3_url: null`` and a message (HTTP 200, as the platform)."""
    job = _job(ctx, TRAINING, job_id)
    url = _artifact(request, ctx, job, "model")
    message = f"Found model for training: {job['id']}" if url else _not_completed(job)
    return ModelDownload(training_id=job["id"], message=message, s3_url=url or None)


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
