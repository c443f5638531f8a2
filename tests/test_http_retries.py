"""Retry policy, no duplicate POST, error mapping and per-call options (sync and async)."""

from __future__ import annotations

import inspect

import httpx
import pytest
import respx

from distil_sdk import _errors as E
from distil_sdk._http import (
    MAX_RETRY_AFTER_S,
    RequestSpec,
    parse_retry_after,
    retryable_exception,
    retryable_response,
)
from test_client_support import BASE, MODEL, FakeTime, async_client, sync_client


@respx.mock
def test_get_retried_on_429_with_retry_after_seconds() -> None:
    fake = FakeTime()
    route = respx.get(f"{BASE}/models/m1").mock(
        side_effect=[
            httpx.Response(429, headers={"Retry-After": "7"}, json={"detail": "slow down"}),
            httpx.Response(200, json=MODEL),
        ]
    )
    with sync_client(fake) as client:
        assert client.v2.models.get("m1").id == "m1"
    assert route.call_count == 2 and fake.sleeps == [7.0]


@respx.mock
async def test_async_retry_on_503_then_success_with_backoff() -> None:
    fake = FakeTime()
    route = respx.get(f"{BASE}/models/m1").mock(
        side_effect=[httpx.Response(503), httpx.Response(502), httpx.Response(200, json=MODEL)]
    )
    async with async_client(fake) as client:
        assert (await client.v2.models.get("m1")).id == "m1"
    assert route.call_count == 3
    # exponential backoff with jitter: 0.5 then 1.0, each reduced by at most 25%
    assert 0.375 <= fake.sleeps[0] <= 0.5 and 0.75 <= fake.sleeps[1] <= 1.0


@pytest.mark.parametrize(
    "exc", [httpx.ConnectError("refused"), httpx.ReadTimeout("slow"), httpx.ConnectTimeout("x")]
)
@respx.mock
def test_get_retried_on_connection_errors_and_timeouts(exc: Exception) -> None:
    route = respx.get(f"{BASE}/models/m1").mock(side_effect=[exc, httpx.Response(200, json=MODEL)])
    with sync_client() as client:
        assert client.v2.models.get("m1").id == "m1"
    assert route.call_count == 2


@respx.mock
def test_retries_exhausted_raise_mapped_errors() -> None:
    fake = FakeTime()
    route = respx.get(f"{BASE}/models/m1").mock(
        return_value=httpx.Response(500, json={"detail": "boom"})
    )
    with sync_client(fake) as client, pytest.raises(E.InternalServerError) as info:
        client.v2.models.get("m1")
    assert route.call_count == 3 and len(fake.sleeps) == 2
    assert info.value.status_code == 500 and info.value.message == "boom"
    assert info.value.method == "GET" and info.value.url == f"{BASE}/models/m1"
    respx.get(f"{BASE}/models/m2").mock(side_effect=httpx.ReadTimeout("slow"))
    with sync_client() as client, pytest.raises(E.APITimeoutError):
        client.v2.models.get("m2")
    respx.get(f"{BASE}/models/m3").mock(side_effect=httpx.ConnectError("refused"))
    with sync_client() as client, pytest.raises(E.APIConnectionError, match="could not reach"):
        client.v2.models.get("m3")


@pytest.mark.parametrize(
    "outcome",
    [
        httpx.Response(500),
        httpx.Response(502),
        httpx.Response(504),
        httpx.Response(503),
        httpx.ReadTimeout("slow"),
        httpx.RemoteProtocolError("dropped"),
        httpx.ReadError("reset"),
    ],
)
@respx.mock
async def test_no_duplicate_post_when_request_may_have_arrived(outcome: object) -> None:
    for make in (sync_client, async_client):
        route = respx.post(f"{BASE}/models").mock(
            side_effect=[outcome, httpx.Response(200, json=MODEL)]
        )
        client = make()
        with pytest.raises((E.InternalServerError, E.APIConnectionError)):
            result = client.v2.models.create("banking")
            if inspect.isawaitable(result):
                await result
        assert route.call_count == 1, f"{make.__name__} replayed a POST after {outcome!r}"
        respx.routes.clear()


@pytest.mark.parametrize(
    "outcome",
    [
        httpx.ConnectError("refused"),
        httpx.ConnectTimeout("x"),
        httpx.PoolTimeout("x"),
        httpx.Response(429),
        httpx.Response(408),
        httpx.Response(503, headers={"Retry-After": "1"}),
    ],
)
@respx.mock
def test_post_retried_when_surely_not_processed(outcome: object) -> None:
    route = respx.post(f"{BASE}/models").mock(
        side_effect=[outcome, httpx.Response(200, json=MODEL)]
    )
    with sync_client() as client:
        assert client.v2.models.create("banking").id == "m1"
    assert route.call_count == 2


@respx.mock
def test_cancel_post_is_idempotent_and_retried() -> None:
    # Stopping a job is a route of the local platform only (a loopback base URL).
    local = "http://127.0.0.1:8765"
    route = respx.post(f"{local}/trainings/t1/cancel").mock(
        side_effect=[
            httpx.ReadTimeout("x"),
            httpx.Response(200, json={"id": "t1", "status": "JOB_STOPPED"}),
        ]
    )
    with sync_client(base_url=local) as client:
        client.v2.trainings.cancel_local("t1")
    assert route.call_count == 2


@respx.mock
def test_max_retries_per_client_and_per_call() -> None:
    route = respx.get(f"{BASE}/models/m1").mock(return_value=httpx.Response(503))
    with sync_client(max_retries=0) as client:
        with pytest.raises(E.InternalServerError):
            client.v2.models.get("m1")
        assert route.call_count == 1
        with pytest.raises(E.InternalServerError):
            client.v2.models.get("m1", max_retries=4)
        assert route.call_count == 6


@respx.mock
def test_per_call_timeout_reaches_httpx() -> None:
    route = respx.get(f"{BASE}/models/m1").mock(return_value=httpx.Response(200, json=MODEL))
    with sync_client(timeout=httpx.Timeout(30.0)) as client:
        client.v2.models.get("m1")
        assert route.calls.last.request.extensions["timeout"]["read"] == 30.0
        client.v2.models.get("m1", timeout=3.0)
        assert route.calls.last.request.extensions["timeout"]["read"] == 3.0


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (400, E.BadRequestError),
        (401, E.AuthenticationError),
        (402, E.PaymentRequiredError),
        (403, E.PermissionDeniedError),
        (404, E.NotFoundError),
        (409, E.ConflictError),
        (410, E.GoneError),
        (422, E.UnprocessableEntityError),
        (429, E.RateLimitError),
        (500, E.InternalServerError),
        (418, E.APIStatusError),
    ],
)
@respx.mock
async def test_error_mapping(status: int, cls: type[E.APIStatusError]) -> None:
    respx.get(f"{BASE}/models/m1").mock(
        return_value=httpx.Response(status, json={"detail": f"nope {status}"})
    )
    with sync_client(max_retries=0) as client, pytest.raises(cls) as info:
        client.v2.models.get("m1")
    # A rejected token also says what to do about it (tests/test_auth.py checks the advice).
    hint = " - the platform rejected the API token" if status == 401 else ""
    assert type(info.value) is cls and info.value.message.startswith(f"nope {status}{hint}")
    assert str(info.value).startswith(f"{status}: nope {status}{hint}")
    assert str(info.value).endswith(f" (GET {BASE}/models/m1)")
    assert status == 401 or info.value.message == f"nope {status}"
    async with async_client(max_retries=0) as aclient:
        with pytest.raises(cls):
            await aclient.v2.models.get("m1")


@respx.mock
def test_error_message_from_text_and_fastapi_list() -> None:
    respx.get(f"{BASE}/models/a").mock(return_value=httpx.Response(404, text="no such model"))
    respx.get(f"{BASE}/models/b").mock(
        return_value=httpx.Response(422, json={"detail": [{"loc": ["x"], "msg": "bad"}]})
    )
    with sync_client() as client:
        with pytest.raises(E.NotFoundError, match="no such model"):
            client.v2.models.get("a")
        with pytest.raises(E.UnprocessableEntityError, match="bad"):
            client.v2.models.get("b")


@respx.mock
def test_unexpected_body_is_a_clear_error() -> None:
    respx.get(f"{BASE}/models/a").mock(return_value=httpx.Response(200, text="<html>"))
    respx.get(f"{BASE}/models/b").mock(return_value=httpx.Response(200, json={"name": "no id"}))
    with sync_client() as client:
        with pytest.raises(E.APIError, match="non-JSON"):
            client.v2.models.get("a")
        with pytest.raises(E.APIError, match="unexpected Model"):
            client.v2.models.get("b")


def test_retry_after_parsing_and_cap() -> None:
    from datetime import datetime, timezone

    now = datetime(2025, 1, 1, tzinfo=timezone.utc)
    assert parse_retry_after("3", now) == 3.0
    assert parse_retry_after("Wed, 01 Jan 2025 00:00:10 GMT", now) == 10.0
    assert parse_retry_after("Tue, 31 Dec 2024 00:00:00 GMT", now) == 0.0
    assert parse_retry_after("soon", now) is None
    from distil_sdk._http import retry_delay

    assert retry_delay(1, httpx.Response(429, headers={"Retry-After": "3600"})) == MAX_RETRY_AFTER_S


def test_retry_decisions_are_plain_functions() -> None:
    post, get = RequestSpec("POST", "/models"), RequestSpec("GET", "/models")
    assert retryable_response(get, httpx.Response(500)) and not retryable_response(
        post, httpx.Response(500)
    )
    assert not retryable_response(post, httpx.Response(503))
    assert not retryable_response(get, httpx.Response(404))
    assert retryable_exception(post, httpx.ConnectError("x")) and not retryable_exception(
        post, httpx.WriteTimeout("x")
    )
    assert not retryable_exception(get, ValueError("x"))


def test_custom_http_client_is_used_and_not_closed() -> None:
    calls: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        return httpx.Response(200, json=MODEL)

    http = httpx.Client(transport=httpx.MockTransport(handler))
    with sync_client(http_client=http) as client:
        client.v2.models.get("m1")
    assert len(calls) == 1 and not http.is_closed
    http.close()
    with sync_client(transport=httpx.MockTransport(handler)) as client:
        client.v2.models.get("m1")
    assert len(calls) == 2


def test_backoff_grows_then_never_exceeds_the_cap() -> None:
    from distil_sdk._http import INITIAL_BACKOFF_S, MAX_BACKOFF_S, retry_delay

    no_jitter = [retry_delay(n, None, rand=lambda: 0.0) for n in range(1, 5001)]
    assert no_jitter[:4] == [INITIAL_BACKOFF_S * 2**k for k in range(4)]
    assert max(no_jitter) == MAX_BACKOFF_S and no_jitter[-1] == MAX_BACKOFF_S
    jittered = [retry_delay(n, None, rand=lambda: 0.999) for n in range(1, 5001)]
    assert all(d <= MAX_BACKOFF_S for d in jittered)


@respx.mock
def test_many_retries_sleep_at_most_the_cap() -> None:
    fake = FakeTime()
    route = respx.get(f"{BASE}/models/m1").mock(return_value=httpx.Response(503))
    with sync_client(fake, max_retries=40) as client, pytest.raises(E.InternalServerError):
        client.v2.models.get("m1")
    assert route.call_count == 41 and len(fake.sleeps) == 40
    assert max(fake.sleeps) <= 8.0 and max(fake.sleeps) >= 6.0
