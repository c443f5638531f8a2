"""The response side of the pipeline: an answer (or a failure) to a result or a typed error.

Every failure becomes a `DistilError` with a message naming the request (the
URL without its query string, which for presigned URLs is a credential) and what to do.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, TypeVar

import httpx
from pydantic import BaseModel, ValidationError

from ._errors import (
    APIConnectionError,
    APIError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    status_error_class,
)
from ._request import RequestSpec, full_url, redact, wants_auth
from .types._words import plural

if TYPE_CHECKING:
    from ._config import Settings

__all__ = [
    "auth_hint",
    "connection_error",
    "decode_json",
    "error_message",
    "parse_model",
    "protocol_error",
    "should_refresh",
    "status_error",
]

T = TypeVar("T", bound=BaseModel)


def _body(response: httpx.Response) -> Any:
    try:
        return response.json()
    except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError
        return response.text[:2000]


def error_message(body: Any, response: httpx.Response) -> str:
    if isinstance(body, dict):
        for key in ("detail", "message", "error"):
            value = body.get(key)
            if isinstance(value, str) and value:
                return value
            if value:  # FastAPI's 422 detail is a list of dicts
                return json.dumps(value)[:2000]
    if isinstance(body, str) and body.strip():
        return body.strip()[:500]
    return response.reason_phrase or "error"


def auth_hint(response: httpx.Response, spec: RequestSpec, settings: Settings) -> str | None:
    """What to do when the platform rejects the token we sent (None when none was sent)."""
    if response.status_code != 401 or spec.is_auth or not wants_auth(spec, settings.base_url):
        return None
    if not settings.auth.refreshable:
        return (
            "the platform rejected the API token (expired or revoked: the platform's access "
            "tokens last about an hour, while a training takes hours). Create the client with "
            "username= and password= (or DISTIL_USERNAME / DISTIL_PASSWORD), which it renews by "
            "itself, or with token_provider= (or DISTIL_TOKEN_COMMAND), which it calls again for "
            "a fresh token; a job you were waiting for keeps running - call wait() again"
        )
    return (
        "the platform also rejected a freshly obtained token; check that this account may use "
        "the API"
    )


def status_error(
    response: httpx.Response, spec: RequestSpec, base_url: str, hint: str | None = None
) -> APIStatusError:
    body = _body(response)
    cls = status_error_class(response.status_code)
    if spec.is_auth and response.status_code < 500:
        cls = AuthenticationError
    message = error_message(body, response)
    return cls(
        f"{message} - {hint}" if hint else message,
        status_code=response.status_code,
        method=spec.method,
        url=redact(full_url(base_url, spec)),
        body=body,
        response=response,
    )


def connection_error(
    exc: httpx.TransportError, spec: RequestSpec, base_url: str
) -> APIConnectionError:
    url = redact(full_url(base_url, spec))
    if isinstance(exc, httpx.TimeoutException):
        return APITimeoutError(
            f"{spec.method} {url} timed out ({type(exc).__name__})", method=spec.method, url=url
        )
    return APIConnectionError(
        f"could not reach {url}: {type(exc).__name__}: {exc}; check the base URL and your network",
        method=spec.method,
        url=url,
    )


def protocol_error(exc: Exception, spec: RequestSpec, base_url: str) -> APIError:
    """Any other httpx failure: an undecodable body, a redirect loop, an invalid URL."""
    url = redact(full_url(base_url, spec))
    return APIError(
        f"{spec.method} {url} failed: {type(exc).__name__}: {exc}; the answer could not be "
        "read - retry later, and check the base URL and any proxy between you and the platform",
        method=spec.method,
        url=url,
    )


def decode_json(response: httpx.Response, spec: RequestSpec, base_url: str) -> Any:
    if response.status_code == 204 or not response.content:
        return None
    try:
        return response.json()
    except (ValueError, RecursionError) as exc:  # RecursionError: JSON nested too deep
        url = redact(full_url(base_url, spec))
        raise APIError(
            f"{spec.method} {url} returned a non-JSON body", method=spec.method, url=url
        ) from exc


def parse_model(cls: type[T], data: Any, spec: RequestSpec, base_url: str) -> T:
    try:
        return cls.model_validate(data)
    except ValidationError as exc:
        url = redact(full_url(base_url, spec))
        raise APIError(
            f"{spec.method} {url} returned an unexpected {cls.__name__}: "
            f"{plural(exc.error_count(), 'problem')}: "
            f"{exc.errors()[0]['msg']}",
            method=spec.method,
            url=url,
        ) from exc
    except (RecursionError, TypeError, KeyError, AttributeError, ValueError) as exc:
        # A shape so far off that a model's own normaliser tripped over it (or nested too deep).
        url = redact(full_url(base_url, spec))
        raise APIError(
            f"{spec.method} {url} returned a body that is not a {cls.__name__}: "
            f"{type(exc).__name__}: {str(exc)[:200]}",
            method=spec.method,
            url=url,
        ) from exc


def should_refresh(
    response: httpx.Response, token: str | None, settings: Settings, refreshed: bool
) -> bool:
    """Fetch a new token and resend once when a refreshable token was rejected."""
    return (
        response.status_code in (401, 403)
        and token is not None
        and settings.auth.refreshable
        and not refreshed
    )
