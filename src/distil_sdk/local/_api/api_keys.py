"""Routes: inference API keys (``POST|GET /api-keys``, ``DELETE /api-keys/{name}``), kept in
the store's database.

The platform's rules (distil-cli-skill ``execution/backend-api.md`` § Keys,
``inference-endpoints.md`` § Keys): the create answers the key's secret and nothing answers it
again; the list carries names and creation dates, never secrets; an account holds at most 5
keys. Locally the secret is never stored: the table keeps its SHA-256 only. The local platform
has no inference endpoint to link a key to (``_routes_endpoints``).
"""

from __future__ import annotations

import hashlib
import re
import secrets
import sqlite3
import time
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Request, Response
from fastapi.responses import JSONResponse

from ...types.entities import ApiKey, CreateApiKeyRequest, CreatedApiKey
from .._storage.store import Store
from .common import Authorized, control_character, iso
from .errors import validation_answer

__all__ = ["MAX_API_KEYS", "ApiKeyStore", "Keys", "router"]

router = APIRouter(dependencies=Authorized, tags=["API keys"])

#: "An account holds at most 5 keys" (``inference-endpoints.md`` § Keys).
MAX_API_KEYS = 5
#: A key's name is a path segment of the link routes: kept to what needs no quoting.
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS api_keys ("
    " name TEXT PRIMARY KEY, created_at REAL NOT NULL, secret_sha256 TEXT NOT NULL)"
)


class ApiKeyStore:
    """The ``api_keys`` table, in the store's database, under its lock."""

    def __init__(self, store: Store) -> None:
        self.store = store
        with store.transaction() as conn:
            conn.execute(_SCHEMA)

    def create(self, name: str) -> tuple[dict[str, Any], str] | None:
        """Record key ``name``; its row and its secret, or None when the name is taken.
        Raises ``ValueError`` when the account already holds `MAX_API_KEYS`."""
        secret = "dl-local-" + secrets.token_urlsafe(32)
        digest = hashlib.sha256(secret.encode()).hexdigest()
        created = time.time()
        with self.store.transaction() as conn:
            (count,) = conn.execute("SELECT COUNT(*) FROM api_keys").fetchone()
            exists = conn.execute("SELECT 1 FROM api_keys WHERE name = ?", (name,)).fetchone()
            if exists:
                return None
            if count >= MAX_API_KEYS:
                raise ValueError(f"the account already holds {count} keys")
            try:
                conn.execute(
                    "INSERT INTO api_keys (name, created_at, secret_sha256) VALUES (?, ?, ?)",
                    (name, created, digest),
                )
            except sqlite3.IntegrityError:
                return None
        return {"name": name, "created_at": created}, secret

    def list(self) -> list[dict[str, Any]]:
        """Every key, newest first (names and creation times)."""
        return self.store.query(
            "SELECT name, created_at FROM api_keys ORDER BY created_at DESC, name"
        )

    def exists(self, name: str) -> bool:
        return bool(self.store.query("SELECT 1 FROM api_keys WHERE name = ?", (name,)))

    def delete(self, name: str) -> bool:
        """Remove key ``name``; False when there is none."""
        with self.store.transaction() as conn:
            return conn.execute("DELETE FROM api_keys WHERE name = ?", (name,)).rowcount > 0


def get_api_keys(request: Request) -> ApiKeyStore:
    """The app's `ApiKeyStore` (a FastAPI dependency)."""
    keys: ApiKeyStore = request.app.state.api_keys
    return keys


Keys = Annotated[ApiKeyStore, Depends(get_api_keys)]


def _wire(row: dict[str, Any]) -> dict[str, Any]:
    return {"name": row["name"], "created_at": iso(row["created_at"])}


def key_not_found(name: str) -> HTTPException:
    """The 404 for a key this platform does not hold."""
    return HTTPException(404, f"API key {name!r} not found; GET /api-keys lists the keys")


@router.post(
    "/api-keys",
    status_code=201,
    response_model=CreatedApiKey,
    responses={409: {"description": "a key of that name exists, or the account holds 5 keys"}},
)
def create_api_key(body: CreateApiKeyRequest, keys: Keys) -> JSONResponse:
    """Create an inference API key. The answer is the only one that carries its ``secret``.

    422 for a name holding a control character; 400 for a name that is not 1-128 letters,
    digits, ``.``, ``_`` or ``-``; 409 when the name is taken or the account holds 5 keys.
    """
    name = body.api_key_name
    if (reason := control_character(name)) is not None:
        raise HTTPException(
            422,
            validation_answer(
                [{"loc": ("body", "api-key-name"), "msg": reason, "type": "control_character"}]
            ),
        )
    if not _NAME.fullmatch(name):
        raise HTTPException(
            400,
            f"invalid api-key-name {name[:64]!r}: 1-128 letters, digits, '.', '_' or '-', "
            "starting with a letter or digit",
        )
    try:
        created = keys.create(name)
    except ValueError as exc:
        raise HTTPException(
            409,
            f"{exc}: an account holds at most {MAX_API_KEYS} keys; delete one first "
            "(DELETE /api-keys/{name})",
        ) from exc
    if created is None:
        raise HTTPException(409, f"an API key named {name!r} exists; choose another name")
    row, secret = created
    # Sent as built: the response model would mask a SecretStr, and this is the one answer
    # that must carry the secret.
    return JSONResponse(status_code=201, content={**_wire(row), "secret": secret})


@router.get("/api-keys", response_model=list[ApiKey])
def list_api_keys(keys: Keys) -> list[dict[str, Any]]:
    """The account's keys, newest first: names and creation dates, never secrets."""
    return [_wire(row) for row in keys.list()]


@router.delete("/api-keys/{name}", status_code=204, response_model=None)
def delete_api_key(name: str, keys: Keys) -> Response:
    """Revoke a key everywhere."""
    if not keys.delete(name):
        raise key_not_found(name)
    return Response(status_code=204)
