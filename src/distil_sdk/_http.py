"""One request pipeline for both clients: build -> send -> retry -> map errors -> parse.

Every decision (URL, headers, which outcome is retried, how long to wait, which exception to
raise, how to parse) is a plain function below. `SyncTransport` and
`AsyncTransport` only differ in ``await``, so the two clients cannot drift apart.

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

Every failure reaches the caller as a `DistilError`: transport errors as
`APIConnectionError`, error statuses by code, and everything else httpx can
raise (an undecodable compressed body, a redirect loop, an invalid URL) as
`APIError`, always with the httpx exception chained.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeVar

import httpx
import tenacity
from pydantic import BaseModel

from ._logging import install_httpx_redaction
from ._request import (
    IDEMPOTENT_METHODS,
    INITIAL_BACKOFF_S,
    MAX_BACKOFF_S,
    MAX_RETRY_AFTER_S,
    NEVER_SENT,
    RETRY_STATUSES,
    CallOptions,
    RequestSpec,
    build_request,
    full_url,
    is_idempotent,
    parse_retry_after,
    redact,
    retry_delay,
    retryable_exception,
    retryable_response,
    same_origin,
    wants_auth,
)
from ._responses import (
    auth_hint,
    connection_error,
    decode_json,
    error_message,
    parse_model,
    protocol_error,
    should_refresh,
    status_error,
)

if TYPE_CHECKING:
    from ._config import Settings

# The transports, and - re-exported for the resources and tests - the pipeline's plain functions.
__all__ = [
    "IDEMPOTENT_METHODS",
    "INITIAL_BACKOFF_S",
    "MAX_BACKOFF_S",
    "MAX_RETRY_AFTER_S",
    "NEVER_SENT",
    "RETRY_STATUSES",
    "AsyncTransport",
    "CallOptions",
    "RequestSpec",
    "SyncTransport",
    "auth_hint",
    "build_request",
    "connection_error",
    "decode_json",
    "error_message",
    "full_url",
    "is_idempotent",
    "parse_model",
    "parse_retry_after",
    "protocol_error",
    "redact",
    "retry_delay",
    "retryable_exception",
    "retryable_response",
    "same_origin",
    "should_refresh",
    "status_error",
    "wants_auth",
]

logger = logging.getLogger("distil_sdk")

T = TypeVar("T", bound=BaseModel)


# ---------------------------------------------------------------- transports


class _Transport:
    def __init__(self, settings: Settings, clock: Callable[[], float]) -> None:
        self.settings = settings
        self.clock = clock
        # httpx logs every URL at INFO, presigned query strings (credentials) included.
        install_httpx_redaction()

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
    """Sends `RequestSpec` with an `httpx.Client`."""

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
        self._login_lock = threading.Lock()

    def send(self, spec: RequestSpec, *, stream: bool = False) -> httpx.Response:
        """Send with retries; return a 2xx/3xx response or raise the mapped error."""
        # One refresh of the token per logical request, whatever the number of retries.
        refreshed = [False]
        retrying = tenacity.Retrying(sleep=self.sleep, **self._retry_kwargs(spec))
        try:
            response: httpx.Response = retrying(self._attempt, spec, stream, refreshed)
        except httpx.TransportError as exc:
            raise connection_error(exc, spec, self.base_url) from exc
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            raise protocol_error(exc, spec, self.base_url) from exc
        if response.is_error:
            hint = auth_hint(response, spec, self.settings)
            raise status_error(response, spec, self.base_url, hint)
        return response

    def _attempt(self, spec: RequestSpec, stream: bool, refreshed: list[bool]) -> httpx.Response:
        token = self._token(spec)
        request = self._build(self.http, spec, token)
        response = self.http.send(request, stream=stream)
        self._log(request, response)
        if should_refresh(response, token, self.settings, refreshed[0]):
            refreshed[0] = True
            response.close()
            self.settings.auth.invalidate(token)
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
        if token is not None:
            return token
        # Single flight: threads that find no token wait for the one login under way.
        with self._login_lock:
            token = auth.token(self.clock())
            if token is None:
                login = auth.refresh_request()
                if login is None:
                    token = auth.fetch(self.clock())
                else:
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
    """Sends `RequestSpec` with an `httpx.AsyncClient`."""

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
            sleep = asyncio.sleep
        self.sleep = sleep
        self._login_locks: dict[asyncio.AbstractEventLoop, asyncio.Lock] = {}

    def _login_lock(self) -> asyncio.Lock:
        # An asyncio.Lock belongs to one event loop; a client may outlive its first loop.
        loop = asyncio.get_running_loop()
        lock = self._login_locks.get(loop)
        if lock is None:
            self._login_locks = {loop: asyncio.Lock()}  # forget locks of closed loops
            lock = self._login_locks[loop]
        return lock

    async def send(self, spec: RequestSpec, *, stream: bool = False) -> httpx.Response:
        """Send with retries; return a 2xx/3xx response or raise the mapped error."""
        refreshed = [False]
        retrying = tenacity.AsyncRetrying(sleep=self.sleep, **self._retry_kwargs(spec))
        try:
            response: httpx.Response = await retrying(self._attempt, spec, stream, refreshed)
        except httpx.TransportError as exc:
            raise connection_error(exc, spec, self.base_url) from exc
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            raise protocol_error(exc, spec, self.base_url) from exc
        if response.is_error:
            hint = auth_hint(response, spec, self.settings)
            raise status_error(response, spec, self.base_url, hint)
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
            self.settings.auth.invalidate(token)
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
        if token is not None:
            return token
        # Single flight: concurrent calls on a fresh client share one login.
        async with self._login_lock():
            token = auth.token(self.clock())
            if token is None:
                login = auth.refresh_request()
                if login is None:
                    # A token provider may run a command: keep the event loop free meanwhile.
                    token = await asyncio.to_thread(auth.fetch, self.clock())
                else:
                    token = auth.accept(await self.json(login), self.clock())
        return token

    async def json(self, spec: RequestSpec) -> Any:
        return decode_json(await self.send(spec), spec, self.base_url)

    async def request(self, cls: type[T], spec: RequestSpec) -> T:
        return parse_model(cls, await self.json(spec), spec, self.base_url)

    async def close(self) -> None:
        if self._owns_http:
            await self.http.aclose()
