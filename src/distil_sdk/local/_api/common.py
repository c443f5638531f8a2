"""What every route module shares: the app context, authentication, record shaping helpers."""

from __future__ import annotations

import datetime as dt
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, NoReturn

from fastapi import Depends, HTTPException, Request, Security
from fastapi.security import APIKeyHeader
from pydantic import AfterValidator
from pydantic_core import PydanticCustomError

from .._jobs.worker import Worker
from .._storage.store import Store
from .auth import check_authorization, sign_artifact_path

__all__ = [
    "Authorized",
    "Ctx",
    "LocalContext",
    "PrintableName",
    "artifact_url",
    "control_character",
    "get_context",
    "iso",
    "not_found",
    "require_token",
]


@dataclass
class LocalContext:
    """What the routes share: the data dir, its store, the job runner and the API token."""

    data_dir: Path
    store: Store
    worker: Worker
    token: str
    instance_id: str


def get_context(request: Request) -> LocalContext:
    """The `LocalContext` of the app serving ``request`` (a FastAPI dependency)."""
    ctx: LocalContext = request.app.state.ctx
    return ctx


Ctx = Annotated[LocalContext, Depends(get_context)]

# Declared as an API-key header (not HTTPBearer) because the bare token is accepted too; this
# also documents the scheme in the OpenAPI schema.
_authorization_header = APIKeyHeader(
    name="Authorization",
    auto_error=False,
    description="`Bearer <token>` or the bare token",
)


def require_token(
    ctx: Ctx, authorization: Annotated[str | None, Security(_authorization_header)]
) -> None:
    """Refuse the request with 401 unless it carries the server's token."""
    if not check_authorization(authorization, ctx.token):
        raise HTTPException(
            status_code=401,
            detail=(
                "missing or invalid API token: send `Authorization: Bearer <token>`; the local "
                "server's token is $DISTIL_API_KEY or the `token` file in its data dir"
            ),
            headers={"WWW-Authenticate": "Bearer"},
        )


Authorized = [Depends(require_token)]


#: Control characters (NUL, escapes, newlines) and the Unicode line and paragraph separators:
#: in a name they break logs, terminals, file names and the lines of a listing.
_CONTROL_CATEGORIES = frozenset({"Cc", "Zl", "Zp"})


def control_character(value: str) -> str | None:
    """Why ``value`` is not a printable name (its first control character and where), or
    ``None`` when it has none."""
    for index, char in enumerate(value):
        if unicodedata.category(char) in _CONTROL_CATEGORIES:
            return (
                f"holds the control character U+{ord(char):04X} at position {index}; "
                "a name is printable text"
            )
    return None


def _printable(value: str) -> str:
    reason = control_character(value)
    if reason is not None:
        # A custom error: the 422 says the reason itself, without pydantic's "Value error, ".
        raise PydanticCustomError("control_character", reason)
    return value


#: A name given in a request body: refused with 422 naming the field when it holds a control
#: character (`control_character`).
PrintableName = Annotated[str, AfterValidator(_printable)]


def iso(timestamp: float | None) -> str | None:
    """A POSIX timestamp as an ISO 8601 UTC string."""
    if timestamp is None:
        return None
    return dt.datetime.fromtimestamp(timestamp, tz=dt.timezone.utc).isoformat()


def artifact_url(request: Request, ctx: LocalContext, job_id: str, name: str) -> str:
    """An absolute presigned URL of artifact ``name`` of ``job_id`` on this server."""
    base = str(request.base_url).rstrip("/")
    return base + sign_artifact_path(ctx.token, job_id, name)


def not_found(what: str, ident: str) -> NoReturn:
    """Raise the 404 for a missing ``what`` (e.g. ``"model"``) with id ``ident``."""
    raise HTTPException(status_code=404, detail=f"{what} {ident!r} not found")


def job_times(job: dict[str, Any]) -> dict[str, Any]:
    """The timestamps of a job record in wire form."""
    return {
        "created_at": iso(job["created_at"]),
        "started_at": iso(job["started_at"]),
        "finished_at": iso(job["finished_at"]),
    }
