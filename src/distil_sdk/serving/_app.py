"""The model server's FastAPI app: error shapes, auth and metrics middleware, lifespan."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from ._batcher import Batcher
from ._fast import FAST_ROUTES, Message, Receive, Scope, Send, answer_fast, header
from ._routes import add_routes
from ._state import ROUTES, ApiError, ServerState, error_response
from ._workers import predict_pool

__all__ = ["create_app"]


class _Middleware:
    """Bearer auth (every route but ``/health``), the request metrics and the classification
    routes' fast path (`._fast`), as plain ASGI: the cheapest place to see every answer,
    including FastAPI's own 404 and 422."""

    def __init__(self, app: Any, state: ServerState) -> None:
        self.app = app
        self.state = state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope["path"]
        route = path if path in ROUTES else "other"
        started = time.perf_counter()
        status = 500

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            if path != "/health" and not self._authorized(scope):
                response = error_response(
                    path, 401, "missing or wrong API key: send 'Authorization: Bearer KEY'"
                )
                await response(scope, receive, sending)
            elif path in FAST_ROUTES and scope["method"] == "POST":
                await answer_fast(self.state, self.app, scope, receive, sending)
            else:
                await self.app(scope, receive, sending)
        finally:
            self.state.metrics.request_done(route, status, time.perf_counter() - started)

    def _authorized(self, scope: Scope) -> bool:
        value = header(scope, b"authorization")
        return self.state.authorized(None if value is None else value.decode("latin-1"))


def _validation_message(exc: RequestValidationError) -> str:
    parts = []
    for error in exc.errors()[:5]:
        where = ".".join(str(p) for p in error.get("loc", ()) if p != "body") or "body"
        parts.append(f"{where}: {error.get('msg', 'invalid')}")
    return "invalid request: " + "; ".join(parts)


def create_app(state: ServerState) -> FastAPI:
    """The app serving ``state``'s model; the batcher starts with the app's lifespan."""

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        workers = state.workers or 1
        state.batcher = Batcher(
            state.predict,
            max_batch_size=state.max_batch_size,
            max_wait_s=state.max_wait_s,
            max_queue=state.max_queue,
            metrics=state.metrics,
            workers=workers,
            executor=predict_pool(workers, state.model),
        )
        state.batcher.start()
        state.loop = asyncio.get_running_loop()
        try:
            yield
        finally:
            await state.batcher.drain()
            await state.batcher.stop()

    app = FastAPI(title="distil_sdk model server", lifespan=lifespan, docs_url=None, redoc_url=None)

    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError) -> JSONResponse:
        return error_response(request.url.path, exc.status, exc.message, exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        return error_response(request.url.path, 422, _validation_message(exc))

    app.state.serving = state
    app.add_middleware(_Middleware, state=state)
    add_routes(app)
    return app
