"""One request pipeline for both clients: build -> send -> retry -> map errors -> parse.

Every decision (URL, headers, which outcome is retried, how long to wait, which exception to
raise, how to parse) is a plain function below. :class:`SyncTransport` and
:class:`AsyncTransport` only differ in ``await``, so the two clients cannot drift apart.

Retry policy (documented in docs/client.md):

- idempotent requests (GET, HEAD, OPTIONS, PUT, DELETE, and POSTs marked ``idempotent=True``
  such as cancel and the Cognito login) are retried on connection errors, every timeout, and
  408/429/500/502/503/504;
- other POSTs are retried only when the request certainly was not acted upon: a connection
  that never opened (``ConnectError``, ``ConnectTimeout``, ``PoolTimeout``), 408 (the server did
  not receive the whole request), 429 (rejected by rate limiting), and 503 *with* ``Retry-After``
  (the server says it is unavailable and when to come back). A read timeout, a dropped
  connection or any other 5xx may come after the server created the resource, so replaying it
  could create a duplicate: it is raised instead.
"""

from __future__ import annotations

import email.utils
import json
import logging
import random
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, TypedDict, TypeVar

import httpx
import tenacity
from pydantic import BaseModel, ValidationError

from ._errors import (
    APIConnectionError,
    APIError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    status_error_class,
)

if TYPE_CHECKING:
    from ._config import Settings

__all__ = ["AsyncTransport", "CallOptions", "RequestSpec", "SyncTransport"]

logger = logging.getLogger("distil_sdk")

T = TypeVar("T", bound=BaseModel)

RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
# Exceptions raised before any byte of the request left this machine.
NEVER_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
INITIAL_BACKOFF_S = 0.5
MAX_BACKOFF_S = 8.0
MAX_RETRY_AFTER_S = 60.0


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


# ---------------------------------------------------------------- plain pipeline functions


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
    base = min(MAX_BACKOFF_S, INITIAL_BACKOFF_S * 2.0 ** (attempt - 1))
    return base * (1 - 0.25 * rand())


def _body(response: httpx.Response) -> Any:
    try:
        return response.json()
    except (ValueError, UnicodeDecodeError):
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


def status_error(response: httpx.Response, spec: RequestSpec, base_url: str) -> APIStatusError:
    body = _body(response)
    cls = status_error_class(response.status_code)
    if spec.is_auth and response.status_code < 500:
        cls = AuthenticationError
    return cls(
        error_message(body, response),
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


def decode_json(response: httpx.Response, spec: RequestSpec, base_url: str) -> Any:
    if response.status_code == 204 or not response.content:
        return None
    try:
        return response.json()
    except ValueError as exc:
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
            f"{spec.method} {url} returned an unexpected {cls.__name__}: {exc.error_count()} problem(s): "
            f"{exc.errors()[0]['msg']}",
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


# ---------------------------------------------------------------- transports


class _Transport:
    def __init__(self, settings: Settings, clock: Callable[[], float]) -> None:
        self.settings = settings
        self.clock = clock

    @property
    def base_url(self) -> str:
        return self.settings.base_url

    def _retry_kwargs(self, spec: RequestSpec) -> dict[str, Any]:
        retries = self.settings.max_retries if spec.max_retries is None else spec.max_retries

        def outcome_response(state: tenacity.RetryCallState) -> httpx.Response | None:
            outcome = state.outcome
            return None if outcome is None or outcome.failed else outcome.result()

        def retry(state: tenacity.RetryCallState) -> bool:
            outcome = state.outcome
            if outcome is None:
                return False
            if outcome.failed:
                return retryable_exception(spec, outcome.exception())
            return retryable_response(spec, outcome.result())

        def wait(state: tenacity.RetryCallState) -> float:
            return retry_delay(state.attempt_number, outcome_response(state))

        def before_sleep(state: tenacity.RetryCallState) -> None:
            response = outcome_response(state)
            why = (
                f"HTTP {response.status_code}"
                if response is not None
                else repr(state.outcome.exception() if state.outcome else None)
            )
            delay = state.next_action.sleep if state.next_action else 0.0
            logger.info(
                "retrying %s %s in %.2fs (attempt %d of %d): %s",
                spec.method,
                redact(full_url(self.base_url, spec)),
                delay,
                state.attempt_number + 1,
                retries + 1,
                why,
            )

        return {
            "stop": tenacity.stop_after_attempt(retries + 1),
            "retry": retry,
            "wait": wait,
            "before_sleep": before_sleep,
            # After the last attempt hand back the final response (mapped to an error by the
            # caller) or re-raise the final exception, instead of tenacity's RetryError.
            "retry_error_callback": lambda state: state.outcome.result() if state.outcome else None,
        }

    def _log(self, request: httpx.Request, response: httpx.Response) -> None:
        logger.debug("HTTP %s %s -> %d", request.method, redact(request.url), response.status_code)

    def _build(
        self, http: httpx.Client | httpx.AsyncClient, spec: RequestSpec, token: str | None
    ) -> httpx.Request:
        return build_request(
            http, spec, base_url=self.base_url, token=token, default_timeout=self.settings.timeout
        )


class SyncTransport(_Transport):
    """Sends :class:`RequestSpec` with an :class:`httpx.Client`."""

    def __init__(
        self,
        settings: Settings,
        *,
        http_client: httpx.Client | None = None,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(settings, clock)
        self._owns_http = http_client is None
        self.http = http_client or httpx.Client(
            transport=transport, timeout=settings.timeout, follow_redirects=True
        )
        self.sleep = sleep

    def send(self, spec: RequestSpec, *, stream: bool = False) -> httpx.Response:
        """Send with retries; return a 2xx/3xx response or raise the mapped error."""
        refreshed = [False]
        retrying = tenacity.Retrying(sleep=self.sleep, **self._retry_kwargs(spec))
        try:
            response: httpx.Response = retrying(self._attempt, spec, stream, refreshed)
        except httpx.TransportError as exc:
            raise connection_error(exc, spec, self.base_url) from exc
        if response.is_error:
            raise status_error(response, spec, self.base_url)
        return response

    def _attempt(self, spec: RequestSpec, stream: bool, refreshed: list[bool]) -> httpx.Response:
        token = self._token(spec)
        request = self._build(self.http, spec, token)
        response = self.http.send(request, stream=stream)
        self._log(request, response)
        if should_refresh(response, token, self.settings, refreshed[0]):
            refreshed[0] = True
            response.close()
            self.settings.auth.invalidate()
            request = self._build(self.http, spec, self._token(spec))
            response = self.http.send(request, stream=stream)
            self._log(request, response)
        if stream and response.is_error:
            response.read()  # the body carries the error message; reading also closes it
        return response

    def _token(self, spec: RequestSpec) -> str | None:
        if not wants_auth(spec, self.base_url):
            return None
        auth = self.settings.auth
        token = auth.token(self.clock())
        if token is None:
            login = auth.refresh_request()
            token = auth.accept(self.json(login), self.clock())
        return token

    def json(self, spec: RequestSpec) -> Any:
        return decode_json(self.send(spec), spec, self.base_url)

    def request(self, cls: type[T], spec: RequestSpec) -> T:
        return parse_model(cls, self.json(spec), spec, self.base_url)

    def close(self) -> None:
        if self._owns_http:
            self.http.close()


class AsyncTransport(_Transport):
    """Sends :class:`RequestSpec` with an :class:`httpx.AsyncClient`."""

    def __init__(
        self,
        settings: Settings,
        *,
        http_client: httpx.AsyncClient | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        sleep: Callable[[float], Awaitable[None]] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(settings, clock)
        self._owns_http = http_client is None
        self.http = http_client or httpx.AsyncClient(
            transport=transport, timeout=settings.timeout, follow_redirects=True
        )
        if sleep is None:
            import asyncio

            sleep = asyncio.sleep
        self.sleep = sleep

    async def send(self, spec: RequestSpec, *, stream: bool = False) -> httpx.Response:
        """Send with retries; return a 2xx/3xx response or raise the mapped error."""
        refreshed = [False]
        retrying = tenacity.AsyncRetrying(sleep=self.sleep, **self._retry_kwargs(spec))
        try:
            response: httpx.Response = await retrying(self._attempt, spec, stream, refreshed)
        except httpx.TransportError as exc:
            raise connection_error(exc, spec, self.base_url) from exc
        if response.is_error:
            raise status_error(response, spec, self.base_url)
        return response

    async def _attempt(
        self, spec: RequestSpec, stream: bool, refreshed: list[bool]
    ) -> httpx.Response:
        token = await self._token(spec)
        request = self._build(self.http, spec, token)
        response = await self.http.send(request, stream=stream)
        self._log(request, response)
        if should_refresh(response, token, self.settings, refreshed[0]):
            refreshed[0] = True
            await response.aclose()
            self.settings.auth.invalidate()
            request = self._build(self.http, spec, await self._token(spec))
            response = await self.http.send(request, stream=stream)
            self._log(request, response)
        if stream and response.is_error:
            await response.aread()
        return response

    async def _token(self, spec: RequestSpec) -> str | None:
        if not wants_auth(spec, self.base_url):
            return None
        auth = self.settings.auth
        token = auth.token(self.clock())
        if token is None:
            login = auth.refresh_request()
            token = auth.accept(await self.json(login), self.clock())
        return token

    async def json(self, spec: RequestSpec) -> Any:
        return decode_json(await self.send(spec), spec, self.base_url)

    async def request(self, cls: type[T], spec: RequestSpec) -> T:
        return parse_model(cls, await self.json(spec), spec, self.base_url)

    async def close(self) -> None:
        if self._owns_http:
            await self.http.aclose()
