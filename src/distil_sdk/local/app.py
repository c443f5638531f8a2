"""The local platform's ASGI app: the platform's v2 REST API over this machine.

Build it with :func:`create_app`; serve it with :mod:`distil_sdk.local.server`. The routes live
in ``_routes_models`` (models, uploads), ``_routes_jobs`` (teacher evaluations, trainings,
deployments) and ``_routes_artifacts`` (presigned downloads, health).
"""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from ._limits import (
    DEFAULT_MAX_BODY_BYTES,
    MAX_BODY_ENV,
    RequestGuard,
    public_route,
    resolve_limit,
)
from ._routes_common import LocalContext
from ._staging import max_staged_bytes
from .store import Store
from .worker import Worker

__all__ = ["LocalContext", "create_app"]

logger = logging.getLogger("distil_sdk.local")


def create_app(
    data_dir: Path,
    token: str,
    *,
    run_worker: bool = True,
    instance_id: str = "",
    poll_interval: float = 1.0,
    max_body_bytes: int | None = None,
    max_staging_bytes: int | None = None,
) -> FastAPI:
    """Build the app serving ``data_dir``; every API route requires ``token``.

    On startup, jobs left ``JOB_RUNNING`` by a previous server are marked ``JOB_FAILURE`` (the
    caller must make sure no other server serves ``data_dir``, see ``server.py``) and pending
    ones are picked up by the runner. ``run_worker=False`` serves the API without running jobs.

    The token is checked, and the body size bounded, before any route reads a body (see
    ``_limits``): ``max_body_bytes`` (default ``$DISTIL_LOCAL_MAX_BODY_BYTES``, else 64 MiB)
    for API requests, ``max_staging_bytes`` (default ``$DISTIL_LOCAL_MAX_STAGED_BYTES``, else
    4 GiB) for presigned staging PUTs. Beyond them: 413.

    Example:
        >>> app = create_app(Path("/tmp/distil"), token="secret")  # doctest: +SKIP
        >>> uvicorn.run(app, host="127.0.0.1", port=8700)  # doctest: +SKIP
    """
    from . import (
        _routes_artifacts,
        _routes_credits,
        _routes_datasets,
        _routes_jobs,
        _routes_models,
        _routes_slms,
        _routes_staging,
        _routes_teacher_evaluations,
    )
    from .entity_store import EntityStore

    request_limit = resolve_limit(max_body_bytes, MAX_BODY_ENV, DEFAULT_MAX_BODY_BYTES)
    staging_limit = max_staging_bytes if max_staging_bytes is not None else max_staged_bytes()
    store = Store(Path(data_dir))
    worker = Worker(store, poll_interval=poll_interval)
    ctx = LocalContext(Path(data_dir), store, worker, token, instance_id)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        abandoned = store.fail_abandoned_jobs()
        if abandoned:
            logger.warning(
                "marked %d job(s) abandoned by a previous server as failed", len(abandoned)
            )
        # Before the runner starts, no job is running: every work folder left is an orphan.
        store.remove_orphan_work()
        if run_worker:
            worker.start()
        try:
            yield
        finally:
            worker.stop()
            store.close()

    app = FastAPI(
        title="distil_sdk local platform",
        version="2",
        description=(
            "The distil labs platform's v2 REST API served from this machine. Authenticate with "
            "`Authorization: Bearer <token>` (the bare token is accepted too)."
        ),
        lifespan=lifespan,
    )
    app.state.ctx = ctx
    app.openapi = _documented_openapi(app)  # type: ignore[method-assign]
    # The current route generation's entities share the store's database and lock.
    app.state.entities = EntityStore(store)
    app.add_middleware(
        RequestGuard,
        token=token,
        max_body_bytes=request_limit,
        max_staging_bytes=staging_limit,
    )

    @app.exception_handler(RequestValidationError)
    async def _invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        # The wire contract wants a string `detail`; keep a structured list alongside.
        return JSONResponse(status_code=422, content=validation_answer(exc.errors()))

    app.include_router(_routes_models.router)
    app.include_router(_routes_jobs.router)
    app.include_router(_routes_artifacts.router)
    # The current route generation (datasets, teacher evaluations, SLMs, credits, staging).
    for module in (
        _routes_staging,
        _routes_datasets,
        _routes_teacher_evaluations,
        _routes_slms,
        _routes_credits,
    ):
        app.include_router(module.router)
    return app


#: Bounds of a 422 answer: it names what is wrong, it never carries the request back.
MAX_REPORTED_ERRORS = 20
MAX_MESSAGE_CHARS = 200
MAX_LOCATION_CHARS = 64


def validation_answer(errors: Any) -> dict[str, Any]:
    """The 422 body for FastAPI's validation ``errors``: locations, messages and types only.

    FastAPI's own answer includes each error's ``input`` (for a bad body, the whole body) and
    ``ctx``; echoing either would send a client's upload back to it, or let one request make
    the server write many megabytes. Every part is bounded.
    """
    errors = list(errors)
    safe: list[dict[str, Any]] = []
    for error in errors[:MAX_REPORTED_ERRORS]:
        loc = [
            p if isinstance(p, int) else str(p)[:MAX_LOCATION_CHARS] for p in error.get("loc", ())
        ]
        safe.append(
            {
                "loc": loc,
                "msg": str(error.get("msg", ""))[:MAX_MESSAGE_CHARS],
                "type": str(error.get("type", ""))[:MAX_LOCATION_CHARS],
            }
        )
    parts = [f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in safe]
    if len(errors) > len(safe):
        parts.append(f"and {len(errors) - len(safe)} more error(s)")
    return {"detail": "invalid request: " + "; ".join(parts), "errors": safe}


_ERROR_REF = {"$ref": "#/components/schemas/ErrorAnswer"}
_ANSWER_SCHEMAS: dict[str, Any] = {
    "ErrorAnswer": {
        "title": "ErrorAnswer",
        "type": "object",
        "properties": {"detail": {"type": "string"}},
        "required": ["detail"],
    },
    # What ``validation_answer`` sends, replacing FastAPI's (a list ``detail`` with inputs).
    "HTTPValidationError": {
        "title": "HTTPValidationError",
        "type": "object",
        "properties": {
            "detail": {"type": "string"},
            "errors": {"type": "array", "items": {"$ref": "#/components/schemas/ValidationError"}},
        },
        "required": ["detail", "errors"],
    },
    "ValidationError": {
        "title": "ValidationError",
        "type": "object",
        "properties": {
            "loc": {"type": "array", "items": {"anyOf": [{"type": "string"}, {"type": "integer"}]}},
            "msg": {"type": "string"},
            "type": {"type": "string"},
        },
        "required": ["loc", "msg", "type"],
    },
}
_METHODS = {"get", "put", "post", "delete", "patch", "head", "options"}


def _documented_openapi(app: FastAPI) -> Any:
    """``app.openapi`` plus the answers every route can give that no route declares itself.

    The guard's 401 and 413, 400 for an unreadable body, 404 for a route with an id in its path,
    403 for a presigned URL (a ``signature`` parameter), the real shape of a 422 answer, and
    the path parameters a route left undeclared.
    """
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = generate()
        schema.setdefault("components", {}).setdefault("schemas", {}).update(_ANSWER_SCHEMAS)
        for path, item in schema.get("paths", {}).items():
            for method, operation in item.items():
                if method not in _METHODS:
                    continue
                responses = operation.setdefault("responses", {})
                params = {p.get("name") for p in operation.get("parameters", [])}
                # A route that ignores its path's ids (a fixed 410 or 501) declares none, which
                # makes the schema invalid for generators and clients: declare them.
                for name in re.findall(r"\{([^}/]+)\}", path):
                    if name not in params:
                        operation.setdefault("parameters", []).append(
                            {
                                "name": name,
                                "in": "path",
                                "required": True,
                                "schema": {"type": "string"},
                            }
                        )
                answers = {
                    "400": "requestBody" in operation,
                    "401": public_route(method.upper(), path) is None,
                    "403": "signature" in params,
                    "404": "{" in path,
                    "413": "requestBody" in operation,
                }
                for status, applies in answers.items():
                    if applies and status not in responses:
                        responses[status] = {
                            "description": _ERROR_DESCRIPTIONS[status],
                            "content": {"application/json": {"schema": _ERROR_REF}},
                        }
        app.openapi_schema = schema
        return schema

    return openapi


_ERROR_DESCRIPTIONS = {
    "400": "the body cannot be read (not UTF-8 JSON) or is refused",
    "401": "missing or invalid API token",
    "403": "invalid or expired presigned URL",
    "404": "no such resource",
    "413": "request body larger than the server's limit",
}
