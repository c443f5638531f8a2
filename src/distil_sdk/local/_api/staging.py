"""Routes: presigned staging URLs (``GET /staging-<kind>-s3-urls``, ``PUT /staging/...``) and
presigned downloads of entity files (``GET /files/...``).

The PUT and the file GET take no ``Authorization`` header, like S3's presigned URLs: the
signature in the query (see ``_staging``) is the authorisation. Everything else needs the token.
"""

from __future__ import annotations

import re
from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Request, Response
from fastapi.responses import FileResponse

from ..._fs import atomic_writer
from ...types.entities import StagingUrls
from .._storage.dataset_files import DATASET_FILE_NAMES
from .._storage.staging import (
    STAGING_KINDS,
    max_staged_bytes,
    new_bundle,
    prune_staging,
    sign_path,
    staged_file,
    staging_path,
    valid_target,
    verify_path,
)
from .common import Ctx, require_token
from .entities import Entities

__all__ = ["router"]

router = APIRouter()

#: Entity files a presigned ``/files`` URL may name.
SERVABLE_FILES = frozenset({*DATASET_FILE_NAMES, "model.tar", "model_client.py"})
_ENTITY_ID_RE = re.compile(r"^[A-Za-z0-9-]{1,64}$")
_MEDIA_TYPES = {
    ".jsonl": "application/x-ndjson",
    ".tar": "application/x-tar",
    ".yaml": "application/yaml",
    ".json": "application/json",
    ".py": "text/x-python",
}


def _staging_urls(kind: str, request: Request, ctx: Ctx, entities: Entities) -> dict[str, Any]:
    prune_staging(entities.staging_dir)
    bundle = new_bundle()
    base = str(request.base_url).rstrip("/")
    return {
        key: base + sign_path(ctx.token, "PUT", staging_path(kind, bundle, key))
        for key in STAGING_KINDS[kind].values()
    }


@router.get(
    "/staging-datasets-s3-urls",
    response_model=StagingUrls,
    response_model_exclude_none=True,  # only the keys of this kind, as the platform answers
    dependencies=[Depends(require_token)],
    tags=["staging"],
)
def staging_datasets_urls(request: Request, ctx: Ctx, entities: Entities) -> dict[str, Any]:
    """One presigned PUT URL per dataset file (``config_yaml``, ``job_description_json``,
    ``train_data_jsonl``, ``test_data_jsonl``, ``traces_jsonl``), valid for an hour."""
    return _staging_urls("datasets", request, ctx, entities)


@router.get(
    "/staging-slms-s3-urls",
    response_model=StagingUrls,
    response_model_exclude_none=True,  # only the keys of this kind, as the platform answers
    dependencies=[Depends(require_token)],
    tags=["staging"],
)
def staging_slms_urls(request: Request, ctx: Ctx, entities: Entities) -> dict[str, Any]:
    """Presigned PUT URLs for an SLM upload: ``model_tar`` and ``config_yaml``."""
    return _staging_urls("slms", request, ctx, entities)


@router.get(
    "/staging-prepared-traces-s3-urls",
    response_model=StagingUrls,
    response_model_exclude_none=True,  # only the keys of this kind, as the platform answers
    dependencies=[Depends(require_token)],
    tags=["prepared traces"],
)
def staging_prepared_traces_urls(request: Request, ctx: Ctx, entities: Entities) -> dict[str, Any]:
    """A presigned PUT URL for a trace file: ``traces_jsonl``."""
    return _staging_urls("prepared-traces", request, ctx, entities)


@router.put("/staging/{kind}/{bundle}/{key}", status_code=200, tags=["staging"])
async def put_staged_file(
    kind: str,
    bundle: str,
    key: str,
    request: Request,
    ctx: Ctx,
    entities: Entities,
    expires: str = "",
    signature: str = "",
) -> Response:
    """Receive one staged file (no auth header: the URL's signature authorises the PUT).

    The body is streamed to a temporary file and renamed into place, so a create never reads
    half a file; a body over ``$DISTIL_LOCAL_MAX_STAGED_BYTES`` is refused with 413.
    """
    if not valid_target(kind, bundle, key):
        raise HTTPException(403, "not a staging URL this server issues")
    refusal = verify_path(ctx.token, "PUT", staging_path(kind, bundle, key), expires, signature)
    if refusal:
        raise HTTPException(403, refusal)
    limit = max_staged_bytes()
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise HTTPException(413, f"{key}: {declared} bytes is over the {limit}-byte limit")
    dest = staged_file(entities.staging_dir, bundle, key)
    dest.parent.mkdir(parents=True, exist_ok=True)
    size = 0
    with atomic_writer(dest) as out:  # removed, and dest untouched, on a 413 or a dropped body
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise HTTPException(413, f"{key}: the file is over the {limit}-byte limit")
            out.write(chunk)
    return Response(status_code=200)


def download_file(
    entity_id: str,
    name: str,
    ctx: Ctx,
    entities: Entities,
    expires: str = "",
    signature: str = "",
) -> FileResponse:
    """Stream an entity file; the URL's ``expires`` and ``signature`` stand in for the token.

    Supports ``Range`` requests, so an interrupted download resumes.
    """
    if not _ENTITY_ID_RE.fullmatch(entity_id) or name not in SERVABLE_FILES:
        raise HTTPException(404, f"no file {name!r} of {entity_id!r}")
    refusal = verify_path(ctx.token, "GET", f"/files/{entity_id}/{name}", expires, signature)
    if refusal:
        raise HTTPException(403, refusal)
    path = entities.files_dir(entity_id) / name
    if not path.is_file():
        raise HTTPException(404, f"{entity_id!r} has no file {name!r} (deleted?)")
    media = _MEDIA_TYPES.get(path.suffix, "application/octet-stream")
    return FileResponse(path, media_type=media, filename=name)


router.add_api_route("/files/{entity_id}/{name}", download_file, methods=["GET"], tags=["staging"])
# HEAD lets a downloader learn the size before resuming; kept out of the schema as a duplicate.
router.add_api_route(
    "/files/{entity_id}/{name}", download_file, methods=["HEAD"], include_in_schema=False
)
