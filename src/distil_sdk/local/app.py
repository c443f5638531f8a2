"""The local platform's ASGI app: the platform's REST API over this machine.

Build it with `create_app`; serve it with `distil_sdk.local.server`. The routes live in
``_api``: one module per entity (``models``, ``jobs``, ``datasets``, ``slms``, ...), behind the
front door of ``_api/limits.py`` (token, body limits) and the error answers of
``_api/errors.py``.
"""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI

from ._api.common import LocalContext
from ._api.errors import install_error_handlers
from ._api.limits import (
    DEFAULT_MAX_BODY_BYTES,
    DEFAULT_MAX_JSON_BYTES,
    MAX_BODY_ENV,
    MAX_JSON_ENV,
    RequestGuard,
    public_route,
    resolve_limit,
)
from ._jobs.worker import Worker
from ._storage.staging import max_staged_bytes
from ._storage.store import Store

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
    max_json_bytes: int | None = None,
    max_staging_bytes: int | None = None,
) -> FastAPI:
    """Build the app serving ``data_dir``; every API route requires ``token``.

    On startup, jobs left ``JOB_RUNNING`` by a previous server are recorded as they finished
    when their result was written, else marked ``JOB_FAILURE`` (the caller must make sure no
    other server serves ``data_dir``, see ``server.py``), and pending ones are picked up by the
    runner. ``run_worker=False`` serves the API without running jobs.

    The token is checked, and the body size bounded, before any route reads a body (see
    ``_api/limits.py``): ``max_json_bytes`` (default ``$DISTIL_LOCAL_MAX_JSON_BYTES``, else
    1 MiB) for JSON API requests, ``max_body_bytes`` (default ``$DISTIL_LOCAL_MAX_BODY_BYTES``,
    else 64 MiB) for ``/models`` uploads and as the ceiling of both, ``max_staging_bytes``
    (default ``$DISTIL_LOCAL_MAX_STAGED_BYTES``, else 4 GiB) for presigned staging PUTs.
    Beyond them: 413.

    Example:
        >>> app = create_app(Path("/tmp/distil"), token="secret")  # doctest: +SKIP
        >>> uvicorn.run(app, host="127.0.0.1", port=8700)  # doctest: +SKIP
    """
    from ._api.api_keys import ApiKeyStore
    from ._api.endpoint_store import EndpointStore
    from ._jobs.deployments import DeploymentSupervisor
    from ._storage.entity_store import EntityStore

    # Resolved first: a malformed $DISTIL_LOCAL_MAX_*_BYTES stops here, before the store opens.
    body_limit = resolve_limit(max_body_bytes, MAX_BODY_ENV, DEFAULT_MAX_BODY_BYTES)
    json_limit = resolve_limit(max_json_bytes, MAX_JSON_ENV, DEFAULT_MAX_JSON_BYTES)
    staging_limit = max_staging_bytes if max_staging_bytes is not None else max_staged_bytes()
    store = Store(Path(data_dir))
    worker = Worker(store, poll_interval=poll_interval)
    app = FastAPI(
        title="distil_sdk local platform",
        version="2",
        description=(
            "The distil labs platform's v2 REST API served from this machine. Authenticate with "
            "`Authorization: Bearer <token>` (the bare token is accepted too)."
        ),
        lifespan=_lifespan(store, worker, run_worker=run_worker),
    )
    app.state.ctx = LocalContext(Path(data_dir), store, worker, token, instance_id)
    app.openapi = _documented_openapi(app)  # type: ignore[method-assign]
    # The current route generation's entities share the store's database and lock.
    app.state.entities = EntityStore(store)
    app.state.api_keys = ApiKeyStore(store)
    # Inference endpoints, their key links and records (served by `_api/gateway.py`).
    app.state.inference_endpoints = EndpointStore(store)
    # Deployments: model server processes, stopped with the app (see `_lifespan`).
    app.state.deployments = DeploymentSupervisor(store)
    app.add_middleware(
        RequestGuard,
        token=token,
        max_body_bytes=body_limit,
        max_json_bytes=json_limit,
        max_staging_bytes=staging_limit,
    )
    # Every error answer is the platform's `{"message": ...}` (see `_api/errors.py`).
    install_error_handlers(app)
    _include_routes(app)
    return app


def _lifespan(
    store: Store, worker: Worker, *, run_worker: bool
) -> Callable[[FastAPI], AbstractAsyncContextManager[None]]:
    """The app's lifespan: settle what a previous server left, run the worker, close."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        abandoned = store.fail_abandoned_jobs()
        if abandoned:
            logger.warning(
                "marked %d job(s) abandoned by a previous server as failed", len(abandoned)
            )
        # Before the runner starts, no job is running: every work folder left is an orphan.
        store.remove_orphan_work()
        gone = app.state.deployments.recover()
        if gone:
            logger.warning("marked %d deployment(s) whose server is gone as failed", len(gone))
        if run_worker:
            worker.start()
        try:
            yield
        finally:
            # A model server outliving its platform would hold a port and a model in memory.
            app.state.deployments.stop_all()
            worker.stop()
            store.close()

    return lifespan


def _include_routes(app: FastAPI) -> None:
    """Mount every route module's router on ``app``."""
    from ._api import (
        api_keys,
        artifacts,
        credits,
        datasets,
        deployments,
        endpoints,
        gateway,
        jobs,
        legacy,
        models,
        prepared_traces,
        slms,
        staging,
        teacher_evaluations,
    )

    # The /models generation, then the current one (datasets, prepared traces, teacher
    # evaluations, SLMs, credits, staging, inference endpoints with their gateway, and API keys)
    # and the reads of the entities it replaced.
    for module in (
        models,
        jobs,
        artifacts,
        staging,
        datasets,
        prepared_traces,
        teacher_evaluations,
        slms,
        credits,
        deployments,
        endpoints,
        gateway,
        api_keys,
        legacy,
    ):
        app.include_router(module.router)


_ERROR_REF = {"$ref": "#/components/schemas/ErrorAnswer"}
_ANSWER_SCHEMAS: dict[str, Any] = {
    # Every error answer (``_api/errors.error_body``): the platform's ``{"message": ...}``.
    "ErrorAnswer": {
        "title": "ErrorAnswer",
        "type": "object",
        "properties": {
            "message": {"type": "string"},
            "findings": {
                "type": "array",
                "items": {"type": "object"},
                "description": "files that fail validation: each problem found",
            },
            "errors": {
                "type": "array",
                "items": {"$ref": "#/components/schemas/ValidationError"},
                "description": "an invalid request: each error found",
            },
        },
        "required": ["message"],
    },
    # What ``validation_answer`` sends, replacing FastAPI's (a list ``detail`` with inputs).
    "HTTPValidationError": {
        "title": "HTTPValidationError",
        "type": "object",
        "properties": {
            "message": {"type": "string"},
            "errors": {"type": "array", "items": {"$ref": "#/components/schemas/ValidationError"}},
        },
        "required": ["message", "errors"],
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
#: Reads refused with 409 until their entity's job succeeded (``require_ready``), which no rule
#: below can see. ``tests/test_local_error_answers.py`` checks every status sent is declared.
_NOT_READY_READS = frozenset(
    {
        ("get", "/datasets/{dataset_id}/sample"),
        ("get", "/datasets/{dataset_id}/download"),
        ("get", "/slms/{slm_id}/download"),
    }
)


def _documented_openapi(app: FastAPI) -> Any:
    """``app.openapi`` plus the answers every route can give that no route declares itself.

    The guard's 401 and 413, 400 for a refused body, 404 for a route with an id
    in its path, 404 and 409 for a create naming its parent in the body (missing, not ready),
    402 for a metered create (the platform's; never sent locally), 403 for a presigned URL (a
    ``signature`` parameter), 500 everywhere, the real shape of a 422 answer, the error schema
    on every error a route declared without one, and the path parameters a route left
    undeclared.
    """
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = generate()
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        components.update(_ANSWER_SCHEMAS)
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
                parent = _names_parent(operation, components)
                succeeds = any(str(status).startswith("2") for status in responses)
                answers = {
                    "400": "requestBody" in operation,
                    "401": public_route(method.upper(), path) is None,
                    "402": succeeds and _metered(method, path),
                    "403": "signature" in params,
                    "404": "{" in path or parent,
                    "409": parent or (method, path) in _NOT_READY_READS,
                    # The guard reads Content-Length before any route: any request can be refused.
                    "413": True,
                    "500": True,
                }
                for status, applies in answers.items():
                    if applies and status not in responses:
                        responses[status] = {
                            "description": _ERROR_DESCRIPTIONS[status],
                            "content": {"application/json": {"schema": _ERROR_REF}},
                        }
                # An error a route declared itself (a fixed 410 or 501 is even its own status
                # code) comes without a body shape, or with an empty one: it is the error's.
                for status, response in responses.items():
                    content = response.get("content", {}).get("application/json", {})
                    if str(status)[0] in "45" and not content.get("schema"):
                        response["content"] = {"application/json": {"schema": _ERROR_REF}}
        app.openapi_schema = schema
        return schema

    return openapi


def _names_parent(operation: dict[str, Any], components: dict[str, Any]) -> bool:
    """Whether the operation's JSON body names a parent by id (``from``, ``from_dataset_id``,
    ``upload_id``): it answers 404 when there is none, 409 when it is not ready."""
    body = operation.get("requestBody", {}).get("content", {}).get("application/json", {})
    ref = body.get("schema", {}).get("$ref", "")
    fields = components.get(ref.rsplit("/", 1)[-1], {}).get("properties", {}) if ref else {}
    return any(name == "from" or name.endswith("_id") for name in fields)


def _metered(method: str, path: str) -> bool:
    """Whether the platform meters ``method path`` (a key of ``METERED_ROUTES``, e.g.
    ``datasets_post``, or one per operation, ``datasets_from_datasets_relabel_traces_post``)."""
    from ._api.credits import METERED_ROUTES

    slug = path.strip("/").replace("/", "_").replace("-", "_")
    for key in METERED_ROUTES:
        rest = key.removeprefix(f"{slug}_")
        if rest == method or (rest != key and rest.endswith(f"_{method}") and "from_" not in rest):
            return True
    return False


_ERROR_DESCRIPTIONS = {
    "400": "the body is refused (`findings` say why)",
    "401": "missing or invalid API token",
    "402": (
        "the route's credits are spent (the platform's answer; the local platform meters "
        "nothing and never sends it)"
    ),
    "403": "invalid or expired presigned URL",
    "404": "no such resource, or no such parent named in the body",
    "409": "the parent or entity is not ready: its job has not reached JOB_SUCCESS",
    "413": "request body larger than the server's limit",
    "500": "an unexpected error of the server",
}
