"""Routes: deployments of SLMs (``POST /deployments/from-slms`` with ``from``;
``GET /deployments/{id}/status|endpoint|logs``; ``DELETE /deployments/{id}``).

Each deployment is a model server process on a loopback port (``_jobs/deployments.py``). The
answers have the platform's shapes (``execution/backend-api.md`` § Deploy an SLM): the
endpoint's ``url`` is the server's base URL without ``/v1``, which clients append
(``deployment.md`` § Serving hosted), and its ``api_key`` is the server's Bearer key.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Request, Response
from fastapi.responses import JSONResponse

from ...types.entities import (
    CreateDeploymentRequest,
    Deployment,
    DeploymentEndpoint,
    DeploymentStatus,
    JobLogs,
)
from .._jobs.deployments import FAILED, RUNNING, DeploymentSupervisor
from .._storage.entity_store import SLMS
from .common import Authorized, Ctx, iso
from .entities import Entities, require, require_ready
from .slms import MODEL_TAR, _ensure_tarball

__all__ = ["router"]

router = APIRouter(dependencies=Authorized, tags=["deployments"])


def get_supervisor(request: Request) -> DeploymentSupervisor:
    """The app's `DeploymentSupervisor` (a FastAPI dependency)."""
    supervisor: DeploymentSupervisor = request.app.state.deployments
    return supervisor


Supervisor = Annotated[DeploymentSupervisor, Depends(get_supervisor)]


def _require(supervisor: DeploymentSupervisor, deployment_id: str) -> dict[str, Any]:
    record = supervisor.get(deployment_id)
    if record is None:
        raise HTTPException(
            404,
            f"deployment {deployment_id!r} not found; POST /deployments/from-slms creates one",
        )
    return record


def _wire(record: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": record["id"],
        "created_at": iso(record["created_at"]),
        "slm_id": record["slm_id"],
        "deployment_status": record["deployment_status"],
        "endpoint_status": record["endpoint_status"],
    }


@router.post("/deployments/from-slms", status_code=201, response_model=Deployment)
def create_deployment(
    body: CreateDeploymentRequest, ctx: Ctx, entities: Entities, supervisor: Supervisor
) -> dict[str, Any]:
    """Serve SLM ``from`` on a free loopback port; poll ``/status`` until
    ``deployment_status`` is ``JOB_SUCCESS``. 404 for an unknown SLM, 409 for one whose
    training has not succeeded."""
    record = require(entities, SLMS, body.from_)
    require_ready(record, "model files")
    _ensure_tarball(ctx, entities, record)  # a trained SLM's tarball is built on first use
    model = entities.files_dir(record["id"]) / MODEL_TAR
    return _wire(supervisor.start(record["id"], model, model_name=record["id"]))


@router.get("/deployments/{deployment_id}/status", response_model=DeploymentStatus)
def deployment_status(deployment_id: str, supervisor: Supervisor) -> dict[str, Any]:
    """``deployment_status`` (``JOB_SUCCESS`` once serving) and ``endpoint_status``
    (``starting``, ``running``, ``failed``, ``stopped``)."""
    record = _require(supervisor, deployment_id)
    return {
        "id": record["id"],
        "deployment_status": record["deployment_status"],
        "endpoint_status": record["endpoint_status"],
        "message": record["message"],
    }


@router.get("/deployments/{deployment_id}/endpoint", response_model=DeploymentEndpoint)
def deployment_endpoint(deployment_id: str, supervisor: Supervisor) -> JSONResponse:
    """The server's base URL (append ``/v1`` for OpenAI clients; null unless it is
    running) and its Bearer key."""
    record = _require(supervisor, deployment_id)
    running = record["endpoint_status"] == RUNNING and record["port"]
    url = f"http://127.0.0.1:{record['port']}" if running else None
    # Sent as built: the response model would mask the key (a SecretStr) as "**********".
    return JSONResponse({"url": url, "api_key": record["api_key"]})


@router.get("/deployments/{deployment_id}/logs", response_model=JobLogs)
def deployment_logs(deployment_id: str, supervisor: Supervisor) -> dict[str, Any]:
    """The model server's output (its end, when long)."""
    record = _require(supervisor, deployment_id)
    logs = supervisor.logs(deployment_id)
    if record["endpoint_status"] == FAILED:  # why it is down: the record knows, not the log
        logs = f"{logs.rstrip()}\n{record['message']}\n".lstrip()
    return {"logs": logs}


@router.delete("/deployments/{deployment_id}", status_code=204, response_model=None)
def delete_deployment(deployment_id: str, supervisor: Supervisor) -> Response:
    """Stop the server (it drains first); ``endpoint_status`` then reads ``stopped``."""
    if supervisor.stop(deployment_id) is None:
        _require(supervisor, deployment_id)
    return Response(status_code=204)
