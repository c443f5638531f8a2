"""Routes: presigned artifact downloads and the health probe (both without the auth header)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException
from fastapi.responses import FileResponse

from .._storage.store import JOB_SUCCESS
from .auth import verify_artifact_signature
from .common import Ctx

__all__ = ["router"]

router = APIRouter()

_MEDIA_TYPES = {".jsonl": "application/x-ndjson", ".tar": "application/x-tar"}


def download_artifact(
    job_id: str, name: str, ctx: Ctx, expires: str = "", signature: str = ""
) -> FileResponse:
    """Stream a job artifact; the URL's ``expires`` and ``signature`` stand in for the token.

    Supports ``Range`` requests (206 with ``Content-Range``) so interrupted downloads resume.
    Only artifacts of a job that reached ``JOB_SUCCESS`` are served: nothing half-written.
    """
    try:
        expires_at = int(expires)
    except ValueError:
        raise HTTPException(
            403, "missing or malformed `expires`: use the URL the API returned"
        ) from None
    refusal = verify_artifact_signature(ctx.token, job_id, name, expires_at, signature)
    if refusal:
        raise HTTPException(403, refusal)
    job = ctx.store.get_job(job_id)
    if job is None or job["status"] != JOB_SUCCESS or not job["result"]:
        raise HTTPException(404, f"job {job_id!r} has no published artifacts")
    if name not in job["result"].get("artifacts", {}).values():
        raise HTTPException(404, f"job {job_id!r} has no artifact {name!r}")
    path = ctx.store.job_dir(job_id) / "artifacts" / name
    if not path.is_file():
        raise HTTPException(410, f"artifact {name!r} of job {job_id!r} was deleted")
    suffix = path.suffix
    return FileResponse(
        path, media_type=_MEDIA_TYPES.get(suffix, "application/octet-stream"), filename=name
    )


router.add_api_route(
    "/artifacts/{job_id}/{name}", download_artifact, methods=["GET"], tags=["artifacts"]
)
# HEAD lets a downloader learn the size before resuming; kept out of the schema as a duplicate.
router.add_api_route(
    "/artifacts/{job_id}/{name}", download_artifact, methods=["HEAD"], include_in_schema=False
)


@router.get("/health", tags=["health"])
def health(ctx: Ctx) -> dict[str, Any]:
    """Liveness probe; ``instance`` lets a client check it attached to the server it expects."""
    return {"status": "ok", "server": "distil-sdk-local", "instance": ctx.instance_id}
