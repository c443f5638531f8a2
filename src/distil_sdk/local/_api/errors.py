"""The local server's error answers, in the platform's shape: ``{"message": "..."}``.

The hosted platform answers an error with ``{"message": "..."}`` (its recorded 500,
``tests/fixtures/platform/recorded/2025-06-30-error-500.json``). Every error body of the local
server is made here, by `error_body`: the human text under ``message`` and, beside it,
the structured extras a client can act on (``findings`` of a rejected bundle, ``errors`` of an
invalid request). `install_error_handlers` turns every ``HTTPException`` a route raises
(and Starlette's own 404 and 405), every request-validation error and every unexpected
exception into such a body, so routes raise ``HTTPException(status, message)`` and never
shape a body themselves.

Example:
    >>> error_body("dataset 'x' not found")
    {'message': "dataset 'x' not found"}
    >>> error_body("invalid files", findings=[])
    {'message': 'invalid files', 'findings': []}
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import JSONResponse, Response

__all__ = [
    "INTERNAL_ERROR",
    "MAX_LOCATION_CHARS",
    "MAX_MESSAGE_CHARS",
    "MAX_REPORTED_ERRORS",
    "error_body",
    "error_response",
    "install_error_handlers",
    "validation_answer",
]

#: The text of a 500, the platform's own (its recorded answer): nothing about the cause leaks.
INTERNAL_ERROR = "Internal Server Error"

#: Bounds of a 422 answer: it names what is wrong, it never carries the request back.
MAX_REPORTED_ERRORS = 20
MAX_MESSAGE_CHARS = 200
MAX_LOCATION_CHARS = 64


def error_body(message: str, **extra: Any) -> dict[str, Any]:
    """An error answer's JSON body: ``{"message": message, **extra}``.

    ``extra`` holds structured details kept beside the text (e.g. ``findings=[...]``); it may
    not replace ``message``.
    """
    return {"message": message, **extra}


def error_response(
    status_code: int, message: str, *, headers: dict[str, str] | None = None, **extra: Any
) -> JSONResponse:
    """A JSON response of status ``status_code`` with `error_body` ``(message, **extra)``."""
    return JSONResponse(
        status_code=status_code, content=error_body(message, **extra), headers=headers
    )


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
    return error_body("invalid request: " + "; ".join(parts), errors=safe)


def _http_error_body(detail: Any) -> dict[str, Any]:
    """The body for an ``HTTPException``'s ``detail``: a text, or a dict with a ``message``."""
    if isinstance(detail, dict) and isinstance(detail.get("message"), str):
        return error_body(**detail)
    if isinstance(detail, str):
        return error_body(detail)
    return error_body(json.dumps(detail, default=str)[:2000])


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    headers = dict(exc.headers) if exc.headers else None
    if exc.status_code in (204, 304):  # no body allowed
        return Response(status_code=exc.status_code, headers=headers)
    return JSONResponse(
        status_code=exc.status_code, content=_http_error_body(exc.detail), headers=headers
    )


async def _invalid_request(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    return JSONResponse(status_code=422, content=validation_answer(exc.errors()))


async def _server_error(request: Request, exc: Exception) -> Response:
    # Starlette re-raises the exception after sending this answer: the server logs it.
    return error_response(500, INTERNAL_ERROR)


def install_error_handlers(app: FastAPI) -> None:
    """Make every error answer of ``app`` an `error_body`: HTTP errors (Starlette's 404
    and 405 included), request-validation errors (422, with ``errors``) and unexpected
    exceptions (500)."""
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _invalid_request)
    app.add_exception_handler(Exception, _server_error)
