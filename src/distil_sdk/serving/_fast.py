"""The classification routes' common case as plain ASGI, ahead of FastAPI.

Under load most of a request's CPU outside the model went to FastAPI's routing, its pydantic
body model and the response object (py-spy on the server at 32 clients: about a fifth of the
samples in the event loop, on the same 2 cores as the model). A well-formed ``POST /predict`` or
``POST /v1/classify`` with a small JSON body is answered here: the same validation of the texts,
the same batcher, the same JSON. Anything else (a body that is not the plain shape, no
``Content-Length``, a large body, a generating model) is handed to the FastAPI app unchanged,
with the body replayed, so its errors and answers stay the app's own.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from fastapi.responses import JSONResponse

from ._routes import classify_payload, predict_payload, texts_of
from ._state import ApiError, ServerState, error_response

__all__ = ["FAST_ROUTES", "answer_fast", "header"]

# ASGI's callables (the middleware in `._app` uses them too).
Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
App = Callable[[Scope, Receive, Send], Awaitable[None]]

FAST_ROUTES = frozenset({"/predict", "/v1/classify"})
# Larger bodies (big client batches) gain nothing from the shortcut; FastAPI reads them itself.
_MAX_FAST_BODY = 256 * 1024


def header(scope: Scope, name: bytes) -> bytes | None:
    """The first value of header ``name`` (lower case, as ASGI gives names), or None."""
    for key, value in scope.get("headers", ()):
        if key == name:
            return bytes(value)
    return None


def _takes(scope: Scope) -> bool:
    """A small JSON body of known length: the shortcut's case."""
    length = header(scope, b"content-length")
    kind = header(scope, b"content-type") or b""
    return (
        length is not None
        and length.isdigit()
        and int(length) <= _MAX_FAST_BODY
        and kind.split(b";", 1)[0].strip().lower() == b"application/json"
    )


def _plain_texts(value: Any) -> bool:
    if isinstance(value, str):
        return True
    return isinstance(value, list) and all(isinstance(text, str) for text in value)


def _plain_body(path: str, body: Any) -> dict[str, Any] | None:
    """The request's fields when the body is the plain shape the route's pydantic model accepts
    without coercion; None sends the request to FastAPI."""
    if not isinstance(body, dict):
        return None
    if path == "/predict":
        inputs = body.get("inputs")
        raw, truncate = body.get("raw_scores", False), body.get("truncate", True)
        if _plain_texts(inputs) and type(raw) is bool and type(truncate) is bool:
            return {"texts": inputs, "raw_scores": raw}
        return None
    model = body.get("model")
    if _plain_texts(body.get("input")) and (model is None or isinstance(model, str)):
        return {"texts": body["input"]}
    return None


def _replay(body: bytes, receive: Receive) -> Receive:
    """A ``receive`` that gives ``body`` once, then what the connection says next."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


async def answer_fast(
    state: ServerState, app: App, scope: Scope, receive: Receive, send: Send
) -> None:
    """Answer ``scope`` (a POST to one of `FAST_ROUTES`) here, or through ``app``."""
    if state.generates or not _takes(scope):
        await app(scope, receive, send)
        return
    chunks = []
    while True:
        message = await receive()
        if message["type"] != "http.request":  # the client went away
            return
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    body = b"".join(chunks)
    path = scope["path"]
    try:
        fields = _plain_body(path, json.loads(body))
    except (ValueError, RecursionError):
        fields = None
    if fields is None:
        await app(scope, _replay(body, receive), send)
        return
    try:
        if path == "/predict":
            texts, single = texts_of(fields["texts"], "inputs")
            probs = await state.run(texts)
            payload = predict_payload(state, probs, single, fields["raw_scores"])
        else:
            texts, _ = texts_of(fields["texts"], "input")
            payload = classify_payload(state, await state.run(texts))
    except ApiError as exc:
        await error_response(path, exc.status, exc.message, exc.headers)(scope, receive, send)
        return
    await JSONResponse(payload)(scope, receive, send)
