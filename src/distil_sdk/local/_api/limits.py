"""The local server's front door: the API token and a body limit, checked before any body is read.

FastAPI reads and parses a request body *before* it runs a route's dependencies, so a token
check in a dependency comes too late: a 256 MB body without a token would be buffered and
parsed only to be refused. `RequestGuard` is a plain ASGI middleware in front of every
route that

- answers 401 from the headers alone unless the route is public (`PUBLIC_ROUTES`);
- answers 413 when ``Content-Length`` announces more than the route's limit, and counts a
  streamed (chunked) body as the route reads it, refusing it as soon as it passes the limit;
- answers 422 naming the problem when a JSON body a route reads cannot be read within the
  parsing limits (not UTF-8, nested too deep, a huge number: see ``bodies.py``).

Three limits: the JSON API's (`DEFAULT_MAX_JSON_BYTES`, 1 MiB: no JSON request needs more),
the ``/models`` uploads' (`UPLOAD_ROUTES`, `DEFAULT_MAX_BODY_BYTES`: their files come inline;
that route spools its body to disk) and the staging PUTs' (streamed to disk). So a refused
request never costs more than one network read of its body, and an accepted JSON body at most
the JSON limit in memory. The routes keep their own token dependency too: it documents the
scheme in the OpenAPI schema.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
from dataclasses import dataclass
from typing import Any, Literal

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .._storage.staging import MAX_BYTES_ENV as MAX_STAGED_ENV
from .auth import check_authorization
from .bodies import check_json_body, is_json
from .errors import error_body

__all__ = [
    "DEFAULT_MAX_BODY_BYTES",
    "DEFAULT_MAX_JSON_BYTES",
    "MAX_BODY_ENV",
    "MAX_JSON_ENV",
    "PUBLIC_ROUTES",
    "UPLOAD_ROUTES",
    "PublicRoute",
    "RequestGuard",
    "parse_size",
    "public_route",
    "resolve_limit",
    "route_limit",
]

MAX_BODY_ENV = "DISTIL_LOCAL_MAX_BODY_BYTES"
#: Task uploads send every file inline as JSON: 64 MiB holds datasets far beyond what a small
#: classifier needs, while keeping a hostile body from costing gigabytes of disk.
DEFAULT_MAX_BODY_BYTES = 64 * 2**20
MAX_JSON_ENV = "DISTIL_LOCAL_MAX_JSON_BYTES"
#: Every other API body is a small JSON document (ids, names, config overrides): a body
#: FastAPI buffers and parses in memory, so its limit is what one request can cost.
DEFAULT_MAX_JSON_BYTES = 2**20

UNAUTHORIZED_DETAIL = (
    "missing or invalid API token: send `Authorization: Bearer <token>`; the local "
    "server's token is $DISTIL_API_KEY or the `token` file in its data dir"
)

LimitName = Literal["json", "upload", "staging"]


@dataclass(frozen=True)
class PublicRoute:
    """A route answered without the API token (it checks a URL signature itself, or is open).

    Attributes:
        methods: HTTP methods (upper case) the exemption covers.
        pattern: regular expression the whole path must match.
        limit: which body limit applies: ``"json"`` (the JSON API's), ``"upload"`` (a
            ``/models`` upload's) or ``"staging"`` (one staged file's,
            ``$DISTIL_LOCAL_MAX_STAGED_BYTES``).
    """

    methods: frozenset[str]
    pattern: str
    limit: LimitName = "json"

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
    PublicRoute(_READ, r"/inference-endpoints/[^/]+/traces-exports/[^/]+/download"),
    # The inference gateway authenticates by an API key linked to the endpoint (``gateway``).
    PublicRoute(frozenset({"POST"}), r"/inference/v1/chat/completions"),
    PublicRoute(_READ, r"/openapi\.json"),
    PublicRoute(_READ, r"/docs(/oauth2-redirect)?"),
    PublicRoute(_READ, r"/redoc"),
]


#: Token routes whose body is more than a small JSON document: the ``/models`` upload sends
#: the task's files inline. Its route spools the body to disk (``bodies.spool_body``).
UPLOAD_ROUTES: list[PublicRoute] = [
    PublicRoute(frozenset({"POST"}), r"/models/[^/]+/uploads", limit="upload"),
]


def public_route(method: str, path: str) -> PublicRoute | None:
    """The `PUBLIC_ROUTES` entry covering ``method path``, or ``None``."""
    for route in PUBLIC_ROUTES:
        if route.matches(method, path):
            return route
    return None


def route_limit(method: str, path: str) -> LimitName:
    """Which body limit applies to ``method path``: a public or upload route's own, else
    ``"json"``."""
    for route in (*PUBLIC_ROUTES, *UPLOAD_ROUTES):
        if route.matches(method, path):
            return route.limit
    return "json"


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
    """ASGI middleware: token check, body limits and readable JSON before the app sees a body.

    Args:
        app: the ASGI app to guard.
        token: the API token non-public routes require.
        max_body_bytes: body limit of the ``/models`` upload route (`UPLOAD_ROUTES`), and the
            ceiling of every API body.
        max_json_bytes: body limit of every other API route (at most ``max_body_bytes``).
        max_staging_bytes: body limit of public routes declared with ``limit="staging"``.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        token: str,
        max_body_bytes: int,
        max_json_bytes: int,
        max_staging_bytes: int,
    ) -> None:
        self.app = app
        self.token = token
        # A JSON limit above the ceiling is the ceiling: raising it is what would help then.
        json_limit = (
            (max_json_bytes, MAX_JSON_ENV)
            if max_json_bytes <= max_body_bytes
            else (max_body_bytes, MAX_BODY_ENV)
        )
        self.limits: dict[str, tuple[int, str]] = {
            "json": json_limit,
            "upload": (max_body_bytes, MAX_BODY_ENV),
            "staging": (max_staging_bytes, MAX_STAGED_ENV),
        }

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = _headers(scope)
        has_body = "transfer-encoding" in headers or headers.get("content-length", "0") != "0"
        public = public_route(scope["method"], scope["path"]) is not None
        if not public and not check_authorization(headers.get("authorization"), self.token):
            await _refuse(send, 401, UNAUTHORIZED_DETAIL, has_body, {"www-authenticate": "Bearer"})
            return
        kind = route_limit(scope["method"], scope["path"])
        limit, env = self.limits[kind]
        declared = headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            await _refuse(send, 413, _BodyTooLarge(limit, env).detail, has_body)
            return
        # Only the JSON API's bodies are checked here, once the route has read all of one
        # (at most the JSON limit): an upload route parses its spooled body itself.
        check = kind == "json" and is_json(headers.get("content-type"))
        receive = _guarded_receive(receive, limit, env, check=check)
        started = False

        async def watched_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, watched_send)
        except _BodyTooLarge as exc:  # only when no handler inside answered it
            if started:
                raise
            await _refuse(send, 413, exc.detail, True)


def _guarded_receive(receive: Receive, limit: int, env: str, *, check: bool) -> Receive:
    """``receive`` counting the body against ``limit`` and, with ``check``, refusing a JSON
    body that cannot be read within the parsing limits once its last part arrived."""
    received = 0
    parts: list[bytes] = []

    async def guarded() -> Message:
        nonlocal received
        message = await receive()
        if message["type"] == "http.request":
            body = message.get("body", b"")
            received += len(body)
            if received > limit:
                raise _BodyTooLarge(limit, env)
            if check:
                parts.append(body)
                if not message.get("more_body", False):
                    # Raises UnreadableBody (422), which FastAPI re-raises from its body
                    # reading; text that is no JSON at all is left to FastAPI's own 422.
                    with contextlib.suppress(json.JSONDecodeError):
                        check_json_body(b"".join(parts))
                    parts.clear()
        return message

    return guarded


def _headers(scope: Scope) -> dict[str, str]:
    """The request headers we look at, first occurrence wins."""
    found: dict[str, str] = {}
    for raw_name, raw_value in scope["headers"]:
        name = raw_name.decode("latin-1").lower()
        if name in ("authorization", "content-length", "content-type", "transfer-encoding"):
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
