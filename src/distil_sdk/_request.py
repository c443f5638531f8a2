"""The request side of the pipeline: what one logical request is, where it goes, and the retry
policy (which outcome is retried, how long to wait). Plain functions, shared by both transports
in `distil_sdk._http`, whose docstring states the policy.
"""

from __future__ import annotations

import email.utils
import platform
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, TypedDict

import httpx

from ._version import __version__

__all__ = [
    "IDEMPOTENT_METHODS",
    "INITIAL_BACKOFF_S",
    "MAX_BACKOFF_S",
    "MAX_RETRY_AFTER_S",
    "NEVER_SENT",
    "RETRY_STATUSES",
    "CallOptions",
    "RequestSpec",
    "build_request",
    "full_url",
    "is_idempotent",
    "parse_retry_after",
    "redact",
    "retry_delay",
    "retryable_exception",
    "retryable_response",
    "same_origin",
    "wants_auth",
]

RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
# Exceptions raised before any byte of the request left this machine.
NEVER_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
INITIAL_BACKOFF_S = 0.5
MAX_BACKOFF_S = 8.0
MAX_RETRY_AFTER_S = 60.0
# 2**32 * INITIAL_BACKOFF_S is far past MAX_BACKOFF_S; a larger exponent only risks OverflowError.
_MAX_BACKOFF_EXPONENT = 32


class CallOptions(TypedDict, total=False):
    """Per-call overrides accepted by every resource method."""

    timeout: float | httpx.Timeout | None
    max_retries: int


@dataclass(frozen=True)
class RequestSpec:
    """Everything needed to send one logical request (retries included)."""

    method: str
    url: str  # a path under the base URL ("/models") or an absolute URL
    json: Any = field(default=None, repr=False)
    content: bytes | None = field(default=None, repr=False)  # may hold a password
    params: Mapping[str, str] | None = None
    headers: Mapping[str, str] | None = field(default=None, repr=False)
    auth: bool = True
    idempotent: bool | None = None  # None: decided by the method
    is_auth: bool = False  # the login request itself: its errors are AuthenticationError
    timeout: float | httpx.Timeout | None = None
    max_retries: int | None = None


def is_idempotent(spec: RequestSpec) -> bool:
    return (
        spec.idempotent
        if spec.idempotent is not None
        else spec.method.upper() in IDEMPOTENT_METHODS
    )


def full_url(base_url: str, spec: RequestSpec) -> str:
    if spec.url.startswith(("http://", "https://")):
        return spec.url
    return base_url.rstrip("/") + "/" + spec.url.lstrip("/")


def same_origin(url: str, base_url: str) -> bool:
    a, b = httpx.URL(url), httpx.URL(base_url)
    return (a.scheme, a.host, a.port) == (b.scheme, b.host, b.port)


def wants_auth(spec: RequestSpec, base_url: str) -> bool:
    # The token only ever goes to the API's own origin: presigned (S3) URLs carry their own
    # signature and must never see it.
    return spec.auth and same_origin(full_url(base_url, spec), base_url)


def redact(url: str | httpx.URL) -> str:
    """The URL without its query string, which for presigned URLs is a credential."""
    return str(httpx.URL(str(url)).copy_with(query=None))


#: Sent with every request, as openai-python and huggingface_hub do: which client and version
#: asked, for the platform's logs and support.
USER_AGENT = (
    f"distil-sdk/{__version__} python/{platform.python_version()} httpx/{httpx.__version__}"
)


def build_request(
    http: httpx.Client | httpx.AsyncClient,
    spec: RequestSpec,
    *,
    base_url: str,
    token: str | None,
    default_timeout: httpx.Timeout,
) -> httpx.Request:
    headers = dict(spec.headers or {})
    headers.setdefault("Accept", "application/json")
    if "user-agent" not in {k.lower() for k in headers} and http.headers.get(
        "user-agent", ""
    ).startswith("python-httpx/"):
        headers["User-Agent"] = USER_AGENT  # a caller's own http_client agent is kept
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    timeout = default_timeout if spec.timeout is None else spec.timeout
    return http.build_request(
        spec.method,
        full_url(base_url, spec),
        json=spec.json,
        content=spec.content,
        params=spec.params,
        headers=headers,
        timeout=timeout,
    )


def retryable_response(spec: RequestSpec, response: httpx.Response) -> bool:
    code = response.status_code
    if code not in RETRY_STATUSES:
        return False
    if is_idempotent(spec):
        return True
    return code in (408, 429) or (code == 503 and "retry-after" in response.headers)


def retryable_exception(spec: RequestSpec, exc: BaseException | None) -> bool:
    if not isinstance(exc, httpx.TransportError):
        return False
    return is_idempotent(spec) or isinstance(exc, NEVER_SENT)


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or HTTP-date)."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, (when - (now or datetime.now(timezone.utc))).total_seconds())


def retry_delay(
    attempt: int, response: httpx.Response | None, rand: Callable[[], float] = random.random
) -> float:
    """Retry-After when the server gives one (capped), else exponential backoff with jitter."""
    if response is not None:
        after = parse_retry_after(response.headers.get("retry-after"))
        if after is not None:
            return min(after, MAX_RETRY_AFTER_S)
    exponent = min(max(attempt - 1, 0), _MAX_BACKOFF_EXPONENT)
    base = min(MAX_BACKOFF_S, INITIAL_BACKOFF_S * 2.0**exponent)
    return base * (1 - 0.25 * rand())
