"""Authentication for the local platform: the API token and presigned artifact URLs.

The token is ``DISTIL_API_KEY`` when set when the server starts; otherwise one is generated at
first start and kept in ``<data_dir>/token`` (mode 0600) so that every later start, and every
client attaching to the same data dir, agrees on it. The env key is never written to disk.

Artifact URLs carry ``expires`` and an HMAC of the path keyed by the token, so they work
without the ``Authorization`` header, like the platform's presigned S3 URLs.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import time
from pathlib import Path
from urllib.parse import quote

from ..._fs import write_bytes_atomic

__all__ = [
    "TOKEN_FILE",
    "check_authorization",
    "load_or_create_token",
    "sign_artifact_path",
    "verify_artifact_signature",
]

TOKEN_FILE = "token"
ENV_API_KEY = "DISTIL_API_KEY"
#: Presigned URLs live an hour, as the platform's do; long enough for a slow download to resume.
DEFAULT_URL_TTL_S = 3600


def load_or_create_token(data_dir: Path) -> str:
    """The token the server for ``data_dir`` requires (see the module docstring)."""
    env = os.environ.get(ENV_API_KEY, "").strip()
    if env:
        return env
    path = Path(data_dir) / TOKEN_FILE
    if path.exists():
        token = path.read_text(encoding="utf-8").strip()
        if token:
            return token
    Path(data_dir).mkdir(parents=True, exist_ok=True)
    token = "dsk-local-" + secrets.token_urlsafe(32)
    # 0600 from the start: the token is never world-readable, even for an instant; and
    # replace=False: of two processes racing on first start only one writes it.
    try:
        write_bytes_atomic(path, token.encode("utf-8"), mode=0o600, replace=False)
    except FileExistsError:
        return path.read_text(encoding="utf-8").strip()
    return token


def check_authorization(header: str | None, token: str) -> bool:
    """True when ``header`` is ``Bearer <token>`` or the bare token (constant-time compare)."""
    if not header:
        return False
    value = header.strip()
    scheme, _, rest = value.partition(" ")
    if scheme.lower() == "bearer" and rest:
        value = rest.strip()
    return hmac.compare_digest(value.encode("utf-8"), token.encode("utf-8"))


def _signature(token: str, path: str, expires: int) -> str:
    message = f"{path}\n{expires}".encode()
    return hmac.new(token.encode("utf-8"), message, hashlib.sha256).hexdigest()


def sign_artifact_path(
    token: str, job_id: str, name: str, *, ttl_s: int = DEFAULT_URL_TTL_S, now: float | None = None
) -> str:
    """The presigned path (with query) of artifact ``name`` of job ``job_id``."""
    path = f"/artifacts/{quote(job_id, safe='')}/{quote(name, safe='')}"
    expires = int((time.time() if now is None else now) + ttl_s)
    return f"{path}?expires={expires}&signature={_signature(token, path, expires)}"


def verify_artifact_signature(
    token: str, job_id: str, name: str, expires: int, signature: str, *, now: float | None = None
) -> str | None:
    """``None`` when the signature is valid and not expired, else the reason it is refused."""
    path = f"/artifacts/{quote(job_id, safe='')}/{quote(name, safe='')}"
    if not hmac.compare_digest(_signature(token, path, expires), signature):
        return "invalid signature: request a fresh download URL from the API"
    if (time.time() if now is None else now) > expires:
        return "this download URL has expired: request a fresh one from the API"
    return None
