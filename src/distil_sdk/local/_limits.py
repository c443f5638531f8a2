"""The local server's front door: the API token and a body limit, checked before any body is read.

FastAPI reads and parses a request body *before* it runs a route's dependencies, so a token
check in a dependency comes too late: a 256 MB body without a token would be buffered and
parsed only to be refused. `RequestGuard` is a plain ASGI middleware in front of every
route that

- answers 401 from the headers alone unless the route is public (`PUBLIC_ROUTES`);
- answers 413 when ``Content-Length`` announces more than the limit, and counts a streamed
  (chunked) body as the route reads it, refusing it as soon as it passes the limit.

So a refused request never costs more than one network read of its body. The routes keep
their own token dependency too: it documents the scheme in the OpenAPI schema.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from typing import Any, Literal

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ._auth import check_authorization
from ._error_answers import error_body
from ._staging import MAX_BYTES_ENV as MAX_STAGED_ENV

__all__ = [
    "DEFAULT_MAX_BODY_BYTES",
    "MAX_BODY_ENV",
    "PUBLIC_ROUTES",
    "PublicRoute",
    "RequestGuard",
    "parse_size",
    "public_route",
    "resolve_limit",
]

MAX_BODY_ENV = "DISTIL_LOCAL_MAX_BODY_BYTES"
#: Task uploads send every file inline as JSON: 64 MiB holds datasets far beyond what a small
#: classifier needs, while keeping a hostile body from costing gigabytes of memory.
DEFAULT_MAX_BODY_BYTES = 64 * 2**20

UNAUTHORIZED_DETAIL = (
    "missing or invalid API token: send `Authorization: Bearer <token>`; the local "
    "server's token is $DISTIL_API_KEY or the `token` file in its data dir"
)

LimitName = Literal["request", "staging"]


@dataclass(frozen=True)
class PublicRoute:
    """A route answered without the API token (it checks a URL signature itself, or is open).

    Attributes:
        methods: HTTP methods (upper case) the exemption covers.
        pattern: regular expression the whole path must match.
        limit: which body limit applies: ``"request"`` (the API's) or ``"staging"`` (one
            staged file's, ``$DISTIL_LOCAL_MAX_STAGED_BYTES``).
    """

    methods: frozenset[str]
    pattern: str
    limit: LimitName = "request"

    def matches(self, method: str, path: str) -> bool:
        """Whether a ``method`` request for ``path`` is this route."""
        return method in self.methods and re.fullmatch(self.pattern, path) is not None


_READ = frozenset({"GET", "HEAD"})

#: Every route served without the token. Keep it short and explicit: anything not listed here
#: needs the token. Presigned URLs (artifacts, staging) authenticate by their signature.
PUBLIC_ROUTES: list[PublicRoute] = [
    PublicRoute(_READ, r"/health"),
    PublicRoute(_READ, r"/artifacts/[^/]+/[^/]+"),
    PublicRoute(frozenset({"PUT"}), r"/staging/[^/]+/[^/]+/[^/]+", limit="staging"),
    PublicRoute(_READ, r"/files/[^/]+/[^/]+"),
    PublicRoute(_READ, r"/openapi\.json"),
    PublicRoute(_READ, r"/docs(/oauth2-redirect)?"),
    PublicRoute(_READ, r"/redoc"),
]


def public_route(method: str, path: str) -> PublicRoute | None:
    """The `PUBLIC_ROUTES` entry covering ``method path``, or ``None``."""
    for route in PUBLIC_ROUTES:
        if route.matches(method, path):
            return route
    return None


_SIZE = re.compile(r"\s*(\d+)\s*([kmg]i?b?|b)?\s*", re.IGNORECASE)
_UNITS = {"": 1, "b": 1, "k": 2**10, "m": 2**20, "g": 2**30}


def parse_size(text: str) -> int:
    """Bytes from ``"67108864"``, ``"64M"``, ``"64MiB"`` or ``"2G"`` (binary units).

    Raises:
        ValueError: naming the accepted forms.
    """
    match = _SIZE.fullmatch(text)
    if match is None:
        raise ValueError(f"{text!r} is not a size: write bytes (67108864) or 64M, 64MiB, 2G")
    unit = (match.group(2) or "").lower()[:1]
    return int(match.group(1)) * _UNITS[unit]


def resolve_limit(value: int | None, env: str, default: int) -> int:
    """``value`` when given, else ``$env`` (see `parse_size`), else ``default``."""
    if value is not None:
        limit = value
    elif os.environ.get(env, "").strip():
        try:
            limit = parse_size(os.environ[env])
        except ValueError as exc:
            raise ValueError(f"${env}: {exc}") from exc
    else:
        limit = default
    if limit <= 0:
        raise ValueError(f"a request body limit must be positive, got {limit} ({env})")
    return limit


def _describe(limit: int) -> str:
    if limit % 2**20 == 0:
        return f"{limit // 2**20} MiB"
    return f"{limit} bytes"


class _BodyTooLarge(HTTPException):
    """Raised from ``receive`` when a streamed body passes the limit.

    An ``HTTPException`` on purpose: FastAPI re-raises those from its body reading (any other
    error there becomes a generic 400) and the app's handler turns it into the 413 answer.
    """

    def __init__(self, limit: int, env: str) -> None:
        super().__init__(
            413,
            f"request body larger than this server's limit of {_describe(limit)}; "
            f"send less, or raise the limit with ${env} when starting the server",
            # The rest of the body is still on its way: stop it rather than read it for nothing.
            headers={"connection": "close"},
        )


class RequestGuard:
    """ASGI middleware: token check and body limit before the app sees the request.

    Args:
        app: the ASGI app to guard.
        token: the API token non-public routes require.
        max_body_bytes: body limit of API requests.
        max_staging_bytes: body limit of public routes declared with ``limit="staging"``.
    """

    def __init__(
        self, app: ASGIApp, *, token: str, max_body_bytes: int, max_staging_bytes: int
    ) -> None:
        self.app = app
        self.token = token
        self.limits: dict[str, tuple[int, str]] = {
            "request": (max_body_bytes, MAX_BODY_ENV),
            "staging": (max_staging_bytes, MAX_STAGED_ENV),
        }

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = _headers(scope)
        has_body = "transfer-encoding" in headers or headers.get("content-length", "0") != "0"
        route = public_route(scope["method"], scope["path"])
        if route is None and not check_authorization(headers.get("authorization"), self.token):
            await _refuse(send, 401, UNAUTHORIZED_DETAIL, has_body, {"www-authenticate": "Bearer"})
            return
        limit, env = self.limits[route.limit if route is not None else "request"]
        declared = headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            await _refuse(send, 413, _BodyTooLarge(limit, env).detail, has_body)
            return

        received = 0
        started = False

        async def counted_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise _BodyTooLarge(limit, env)
            return message

        async def watched_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted_receive, watched_send)
        except _BodyTooLarge as exc:  # only when no handler inside answered it
            if started:
                raise
            await _refuse(send, 413, exc.detail, True)


def _headers(scope: Scope) -> dict[str, str]:
    """The request headers we look at, first occurrence wins."""
    found: dict[str, str] = {}
    for raw_name, raw_value in scope["headers"]:
        name = raw_name.decode("latin-1").lower()
        if name in ("authorization", "content-length", "transfer-encoding"):
            found.setdefault(name, raw_value.decode("latin-1"))
    return found


async def _refuse(
    send: Send, status: int, message: str, has_body: bool, extra: dict[str, str] | None = None
) -> None:
    """Answer ``status`` with ``{"message"}``; close the connection when a body is still coming.

    Closing stops the client's upload; keeping the connection would make the server read the
    rest of the body just to throw it away.
    """
    body = json.dumps(error_body(message)).encode("utf-8")
    headers: list[tuple[bytes, bytes]] = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode("ascii")),
    ]
    headers += [(k.encode("latin-1"), v.encode("latin-1")) for k, v in (extra or {}).items()]
    if has_body:
        headers.append((b"connection", b"close"))
    start: dict[str, Any] = {"type": "http.response.start", "status": status, "headers": headers}
    await send(start)
    await send({"type": "http.response.body", "body": body})
