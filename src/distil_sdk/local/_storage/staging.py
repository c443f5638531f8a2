"""Staging files through presigned URLs that the local server signs for itself.

The platform stages every file of a Dataset (and the tarball of an uploaded SLM) by handing out
one presigned S3 PUT URL per file; the create call then names each file by field with its URL.
Here the "bucket" is ``<data_dir>/staging/<bundle>/<key>`` and the URLs point back at this
server. A URL carries ``expires`` and an HMAC (keyed by the API token, bound to the HTTP method
and the exact path), so a PUT needs no ``Authorization`` header, a URL cannot be altered or
reused for another file, and it stops working when it expires.

Signed GET URLs of entity files (``/files/...``) use the same scheme with method ``GET``.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import secrets
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, quote, urlsplit

from ...types.entities import (
    DATASET_STAGING_KEYS,
    PREPARED_TRACES_STAGING_KEYS,
    SLM_STAGING_KEYS,
)

__all__ = [
    "DATASET_FIELDS",
    "SLM_FIELDS",
    "STAGING_KINDS",
    "STAGING_TTL_S",
    "StagedFile",
    "StagingError",
    "max_staged_bytes",
    "new_bundle",
    "prune_staging",
    "resolve_staged_url",
    "sign_path",
    "verify_path",
]

#: Staged bundles and presigned URLs expire after an hour, like the platform's.
STAGING_TTL_S = 3600
#: Environment variable overriding the size limit of one staged file (bytes).
MAX_BYTES_ENV = "DISTIL_LOCAL_MAX_STAGED_BYTES"
DEFAULT_MAX_BYTES = 4 << 30

# A staging response names each file by extension, a create body by field (as on the platform).
# The maps are the wire contract's (types/entities.py), never a copy of them.
DATASET_FIELDS = DATASET_STAGING_KEYS
SLM_FIELDS = SLM_STAGING_KEYS
#: ``GET /staging-<kind>-s3-urls`` -> the file keys it hands out.
STAGING_KINDS: dict[str, dict[str, str]] = {
    "datasets": DATASET_FIELDS,
    "slms": SLM_FIELDS,
    "prepared-traces": PREPARED_TRACES_STAGING_KEYS,
}

_BUNDLE_RE = re.compile(r"^[A-Za-z0-9_-]{16,64}$")
_SIGNING_PURPOSE = b"distil-sdk-local presigned url v1"


class StagingError(ValueError):
    """A staged URL in a create body cannot be used; the message says why and what to do."""


@dataclass(frozen=True)
class StagedFile:
    """A file PUT to a staging URL: its field in the create body and where it lies."""

    field: str
    path: Path


def max_staged_bytes() -> int:
    """The most bytes one staged file may have (``$DISTIL_LOCAL_MAX_STAGED_BYTES``, 4 GiB)."""
    raw = os.environ.get(MAX_BYTES_ENV, "").strip()
    try:
        return int(raw) if raw else DEFAULT_MAX_BYTES
    except ValueError:
        return DEFAULT_MAX_BYTES


def _key(token: str) -> bytes:
    # A key of its own, derived from the token: these signatures can never be confused with
    # the artifact signatures of ``_auth`` even for a coinciding path.
    return hmac.new(token.encode("utf-8"), _SIGNING_PURPOSE, hashlib.sha256).digest()


def _signature(token: str, method: str, path: str, expires: int) -> str:
    message = f"{method.upper()}\n{path}\n{expires}".encode()
    return hmac.new(_key(token), message, hashlib.sha256).hexdigest()


def sign_path(
    token: str, method: str, path: str, *, ttl_s: int = STAGING_TTL_S, now: float | None = None
) -> str:
    """``path`` with ``expires`` and ``signature`` query parameters for ``method``."""
    expires = int((time.time() if now is None else now) + ttl_s)
    return f"{path}?expires={expires}&signature={_signature(token, method, path, expires)}"


def verify_path(
    token: str, method: str, path: str, expires: str, signature: str, *, now: float | None = None
) -> str | None:
    """``None`` when the signature of ``path`` is valid and unexpired, else the refusal reason."""
    try:
        expires_at = int(expires)
    except ValueError:
        return "missing or malformed `expires`: use the URL exactly as the API returned it"
    if not hmac.compare_digest(_signature(token, method, path, expires_at), signature):
        return "invalid signature: this URL was altered or not issued by this server"
    if (time.time() if now is None else now) > expires_at:
        return "this presigned URL has expired: request a fresh one from the API"
    return None


def staging_path(kind: str, bundle: str, key: str) -> str:
    """The URL path of file ``key`` of staged ``bundle`` of ``kind``."""
    return f"/staging/{quote(kind, safe='')}/{quote(bundle, safe='')}/{quote(key, safe='')}"


def new_bundle() -> str:
    """A fresh, unguessable staging bundle id."""
    return secrets.token_urlsafe(18)


def valid_target(kind: str, bundle: str, key: str) -> bool:
    """Whether ``kind``/``bundle``/``key`` names a file a staging response can hand out."""
    return (
        kind in STAGING_KINDS
        and key in STAGING_KINDS[kind].values()
        and bool(_BUNDLE_RE.fullmatch(bundle))
    )


def staged_file(staging_dir: Path, bundle: str, key: str) -> Path:
    """Where the file PUT to ``bundle``/``key`` is kept."""
    return Path(staging_dir) / bundle / key


def resolve_staged_url(
    token: str, staging_dir: Path, kind: str, field: str, url: str, *, now: float | None = None
) -> StagedFile:
    """Check that ``url``, given for ``field`` of a ``kind`` create, is a staging URL this
    server issued for that field, unexpired, with a file PUT to it.

    Raises:
        StagingError: with a message naming the field and what to do next.
    """
    expected = STAGING_KINDS[kind][field]
    parts = urlsplit(url)
    segments = parts.path.split("/")
    if len(segments) != 5 or segments[1] != "staging":
        raise StagingError(
            f"{field}: {url[:200]!r} is not a staging URL of this server; PUT the file to the "
            f"`{expected}` URL of GET /staging-{kind}-s3-urls and send that URL"
        )
    _, _, url_kind, bundle, key = segments
    if url_kind != kind or key != expected:
        raise StagingError(
            f"{field}: the URL was handed out for `{key}` of /staging-{url_kind}-s3-urls, not "
            f"for `{expected}` of /staging-{kind}-s3-urls; send each file's own URL"
        )
    query = parse_qs(parts.query)
    refusal = verify_path(
        token,
        "PUT",
        parts.path,
        (query.get("expires") or [""])[0],
        (query.get("signature") or [""])[0],
        now=now,
    )
    if refusal or not valid_target(kind, bundle, key):
        reason = refusal or "not a staging URL this server issues"
        raise StagingError(f"{field}: {reason}; stage the file again")
    path = staged_file(staging_dir, bundle, key)
    if not path.is_file():
        raise StagingError(
            f"{field}: nothing was PUT to its staging URL yet; PUT the file there first"
        )
    return StagedFile(field, path)


def prune_staging(staging_dir: Path, *, older_than_s: float = 2 * STAGING_TTL_S) -> int:
    """Delete staged bundles untouched for ``older_than_s`` (their URLs expired long ago)."""
    removed = 0
    cutoff = time.time() - older_than_s
    try:
        entries = list(Path(staging_dir).iterdir())
    except OSError:
        return 0
    for entry in entries:
        try:
            if entry.stat().st_mtime < cutoff:
                shutil.rmtree(entry, ignore_errors=True)
                removed += 1
        except OSError:
            continue
    return removed
