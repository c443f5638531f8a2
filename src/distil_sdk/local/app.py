"""The local platform's ASGI app: the platform's v2 REST API over this machine.

Build it with :func:`create_app`; serve it with :mod:`distil_sdk.local.server`. The routes live
in ``_routes_models`` (models, uploads), ``_routes_jobs`` (teacher evaluations, trainings,
deployments) and ``_routes_artifacts`` (presigned downloads, health).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from ._routes_common import LocalContext
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
) -> FastAPI:
    """Build the app serving ``data_dir``; every API route requires ``token``.

    On startup, jobs left ``JOB_RUNNING`` by a previous server are marked ``JOB_FAILURE`` (the
    caller must make sure no other server serves ``data_dir``, see ``server.py``) and pending
    ones are picked up by the runner. ``run_worker=False`` serves the API without running jobs.

    Example:
        >>> app = create_app(Path("/tmp/distil"), token="secret")  # doctest: +SKIP
        >>> uvicorn.run(app, host="127.0.0.1", port=8700)  # doctest: +SKIP
    """
    from . import _routes_artifacts, _routes_jobs, _routes_models

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

    @app.exception_handler(RequestValidationError)
    async def _invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        # The wire contract wants a string `detail`; keep FastAPI's structured list alongside.
        errors = jsonable_encoder(exc.errors())
        parts = [f"{'.'.join(str(p) for p in e.get('loc', ()))}: {e.get('msg')}" for e in errors]
        return JSONResponse(
            status_code=422,
            content={"detail": "invalid request: " + "; ".join(parts), "errors": errors},
        )

    app.include_router(_routes_models.router)
    app.include_router(_routes_jobs.router)
    app.include_router(_routes_artifacts.router)
    return app
