"""Credentials: env config, Cognito login and refresh, and secrets kept out of reprs/logs/errors."""

from __future__ import annotations

import asyncio
import json
import logging
import shlex
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
import respx

from distil_sdk import _errors as E
from distil_sdk._auth import DEFAULT_COGNITO_CLIENT_ID, DEFAULT_COGNITO_URL
from distil_sdk._client import AsyncDistilClient, DistilClient
from test_client_support import BASE, KEY, MODEL, FakeTime, async_client, sync_client

COGNITO = "https://cognito.test/"
PASSWORD = "hunter2-PASSWORD"


def _cognito(*tokens: str, expires: int = 3600) -> respx.Route:
    return respx.post(COGNITO).mock(
        side_effect=[
            httpx.Response(
                200, json={"AuthenticationResult": {"AccessToken": t, "ExpiresIn": expires}}
            )
            for t in tokens
        ]
    )


def _pw_client(fake: FakeTime | None = None, **kw: object) -> DistilClient:
    return sync_client(
        fake,
        username="me@example.com",
        password=PASSWORD,
        cognito_url=COGNITO,
        cognito_client_id="cid",
        **kw,
    )


@respx.mock
def test_cognito_login_request_shape_and_bearer() -> None:
    login = _cognito("tok-1")
    api = respx.get(f"{BASE}/models/m1").mock(return_value=httpx.Response(200, json=MODEL))
    with _pw_client() as client:
        client.v2.models.get("m1")
        client.v2.models.get("m1")
    assert login.call_count == 1  # cached
    req = login.calls.last.request
    assert req.headers["x-amz-target"] == "AWSCognitoIdentityProviderService.InitiateAuth"
    assert req.headers["content-type"] == "application/x-amz-json-1.1"
    assert "authorization" not in req.headers
    assert json.loads(req.content) == {
        "AuthParameters": {"USERNAME": "me@example.com", "PASSWORD": PASSWORD},
        "AuthFlow": "USER_PASSWORD_AUTH",
        "ClientId": "cid",
    }
    assert api.calls.last.request.headers["authorization"] == "Bearer tok-1"


@respx.mock
def test_token_refreshed_before_expiry() -> None:
    fake = FakeTime()
    login = _cognito("tok-1", "tok-2", expires=600)
    api = respx.get(f"{BASE}/models/m1").mock(return_value=httpx.Response(200, json=MODEL))
    with _pw_client(fake) as client:
        client.v2.models.get("m1")
        fake.now += 545  # inside the last 60 s of the 600 s lifetime
        client.v2.models.get("m1")
    assert (
        login.call_count == 2 and api.calls.last.request.headers["authorization"] == "Bearer tok-2"
    )


@pytest.mark.parametrize("status", [401, 403])
@respx.mock
async def test_refresh_once_on_401_403(status: int) -> None:
    login = _cognito("old", "new", "old2", "new2")
    api = respx.post(f"{BASE}/models").mock(
        side_effect=[
            httpx.Response(status),
            httpx.Response(200, json=MODEL),
            httpx.Response(status),
            httpx.Response(200, json=MODEL),
        ]
    )
    with _pw_client() as client:
        assert client.v2.models.create("x").id == "m1"
    async with async_client(username="u", password=PASSWORD, cognito_url=COGNITO) as aclient:
        assert (await aclient.v2.models.create("x")).id == "m1"
    assert login.call_count == 4
    auths = [c.request.headers["authorization"] for c in api.calls]
    assert auths == ["Bearer old", "Bearer new", "Bearer old2", "Bearer new2"]


@respx.mock
def test_refresh_only_once_then_error() -> None:
    _cognito("a", "b")
    api = respx.get(f"{BASE}/models/m1").mock(
        return_value=httpx.Response(401, json={"detail": "bad token"})
    )
    with _pw_client() as client, pytest.raises(E.AuthenticationError, match="bad token"):
        client.v2.models.get("m1")
    assert api.call_count == 2


@respx.mock
def test_static_key_401_is_not_retried() -> None:
    api = respx.get(f"{BASE}/models/m1").mock(return_value=httpx.Response(401))
    with sync_client() as client, pytest.raises(E.AuthenticationError):
        client.v2.models.get("m1")
    assert api.call_count == 1


@respx.mock
def test_wrong_password_is_authentication_error_without_password() -> None:
    respx.post(COGNITO).mock(
        return_value=httpx.Response(
            400,
            json={"__type": "NotAuthorizedException", "message": "Incorrect username or password."},
        )
    )
    with _pw_client() as client, pytest.raises(E.AuthenticationError) as info:
        client.v2.models.get("m1")
    assert "Incorrect username or password" in str(info.value)
    assert PASSWORD not in repr(info.value) and PASSWORD not in str(info.value.body)


def test_env_configuration(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in (
        "DISTIL_API_KEY",
        "DISTIL_USERNAME",
        "DISTIL_PASSWORD",
        "DISTIL_BASE_URL",
        "DISTIL_COGNITO_URL",
        "DISTIL_COGNITO_CLIENT_ID",
    ):
        monkeypatch.delenv(var, raising=False)
    with pytest.raises(E.DistilError, match="No credentials"):
        DistilClient()
    monkeypatch.setenv("DISTIL_USERNAME", "u")
    monkeypatch.setenv("DISTIL_PASSWORD", PASSWORD)
    client = DistilClient()
    auth = client._transport.settings.auth
    assert client.base_url == "https://api.distillabs.ai"
    assert (auth.url, auth.client_id) == (DEFAULT_COGNITO_URL, DEFAULT_COGNITO_CLIENT_ID)  # type: ignore[attr-defined]
    monkeypatch.setenv("DISTIL_COGNITO_URL", COGNITO)
    monkeypatch.setenv("DISTIL_COGNITO_CLIENT_ID", "other")
    monkeypatch.setenv("DISTIL_BASE_URL", "http://localhost:8000/")
    client = DistilClient()
    assert client.base_url == "http://localhost:8000"
    assert client._transport.settings.auth.client_id == "other"  # type: ignore[attr-defined]
    monkeypatch.setenv("DISTIL_API_KEY", KEY)
    assert type(DistilClient()._transport.settings.auth).__name__ == "TokenAuth"


@respx.mock
def test_secrets_absent_from_repr_logs_and_errors(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    caplog.set_level(logging.DEBUG, logger="distil_sdk")
    _cognito("tok-SECRET-1")
    respx.get(f"{BASE}/models/m1").mock(
        side_effect=[httpx.Response(503), httpx.Response(404, json={"detail": "gone"})]
    )
    respx.get("https://s3.test/x").mock(return_value=httpx.Response(403, text="denied"))
    with _pw_client() as client:
        text = repr(client) + repr(client._transport.settings)
        with pytest.raises(E.NotFoundError) as info:
            client.v2.models.get("m1")
        from distil_sdk._http import RequestSpec

        with pytest.raises(E.PermissionDeniedError) as s3:
            client._transport.send(
                RequestSpec("GET", "https://s3.test/x?X-Amz-Signature=SECRETSIG")
            )
    with sync_client() as keyed:
        text += repr(keyed) + repr(keyed._transport.settings)
    text += str(info.value) + repr(info.value) + str(s3.value) + caplog.text
    assert "HTTP GET https://api.test/models/m1 -> 503" in caplog.text
    for secret in ("tok-SECRET-1", PASSWORD, KEY, "SECRETSIG"):
        assert secret not in text


def test_distil_log_env_turns_on_debug(monkeypatch: pytest.MonkeyPatch) -> None:
    logger = logging.getLogger("distil_sdk")
    before = (logger.level, list(logger.handlers))
    monkeypatch.setenv("DISTIL_LOG", "debug")
    try:
        sync_client()
        sync_client()
        assert logger.level == logging.DEBUG
        assert sum(getattr(h, "_distil_sdk", False) for h in logger.handlers) == 1
    finally:
        logger.setLevel(before[0])
        logger.handlers[:] = before[1]


# ---------------------------------------------------------------- tokens that expire mid-wait


def _running_then(*final: httpx.Response) -> list[httpx.Response]:
    return [httpx.Response(200, json={"id": "t1", "status": "JOB_RUNNING"}), *final]


@respx.mock
async def test_static_token_expiring_mid_wait_is_one_clear_error() -> None:
    expired = httpx.Response(401, json={"message": "The incoming token has expired"})
    route = respx.get(f"{BASE}/trainings/t1/status").mock(side_effect=_running_then(expired) * 2)
    fake = FakeTime()
    with sync_client(fake) as client, pytest.raises(E.AuthenticationError) as info:
        client.v2.trainings.wait("t1")
    text = str(info.value)
    assert "The incoming token has expired" in text and "rejected the API token" in text
    for advice in ("username=", "token_provider=", "DISTIL_TOKEN_COMMAND", "wait() again"):
        assert advice in text
    assert route.call_count == 2 and fake.sleeps == [2.0]  # no retry, no outage pauses
    async with async_client() as aclient:
        with pytest.raises(E.AuthenticationError, match="rejected the API token"):
            await aclient.v2.trainings.wait("t1")
    assert route.call_count == 4


@respx.mock
def test_password_login_renews_an_expired_token_mid_wait() -> None:
    login = _cognito("tok-1", "tok-2")
    route = respx.get(f"{BASE}/trainings/t1/status").mock(
        side_effect=_running_then(
            httpx.Response(401, json={"message": "expired"}),
            httpx.Response(200, json={"id": "t1", "status": "JOB_SUCCESS"}),
        )
    )
    with _pw_client() as client:
        assert client.v2.trainings.wait("t1").status.value == "JOB_SUCCESS"
    assert login.call_count == 2
    auths = [c.request.headers["authorization"] for c in route.calls]
    assert auths == ["Bearer tok-1", "Bearer tok-1", "Bearer tok-2"]


@respx.mock
async def test_token_provider_is_called_again_when_rejected() -> None:
    issued: list[str] = []

    def provider() -> str:
        issued.append(f"prov-{len(issued) + 1}")
        return issued[-1]

    route = respx.get(f"{BASE}/models/m1").mock(
        side_effect=[
            httpx.Response(200, json=MODEL),
            httpx.Response(200, json=MODEL),
            httpx.Response(401),
            httpx.Response(200, json=MODEL),
        ]
    )
    with DistilClient(base_url=BASE, token_provider=provider) as client:
        for _ in range(3):
            client.v2.models.get("m1")
        assert "prov-" not in repr(client) and "provider" in repr(client)
    assert issued == ["prov-1", "prov-2"]
    auths = [c.request.headers["authorization"] for c in route.calls]
    assert auths == ["Bearer prov-1", "Bearer prov-1", "Bearer prov-1", "Bearer prov-2"]
    route.side_effect = [httpx.Response(200, json=MODEL)]
    async with AsyncDistilClient(base_url=BASE, token_provider=provider) as aclient:
        await aclient.v2.models.get("m1")
    assert issued[-1] == "prov-3"


@respx.mock
def test_failing_token_provider_is_a_distil_error_with_cause() -> None:
    def provider() -> str:
        raise RuntimeError("vault sealed")

    client = DistilClient(base_url=BASE, token_provider=provider)
    with (
        client,
        pytest.raises(E.DistilError, match=r"provider provider failed.*vault sealed") as info,
    ):
        client.v2.models.get("m1")
    assert isinstance(info.value.__cause__, RuntimeError)
    client = DistilClient(base_url=BASE, token_provider=lambda: "")
    with client, pytest.raises(E.DistilError, match="non-empty token"):
        client.v2.models.get("m1")


@respx.mock
def test_token_command_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for var in ("DISTIL_API_KEY", "DISTIL_USERNAME", "DISTIL_PASSWORD"):
        monkeypatch.delenv(var, raising=False)
    counter = tmp_path / "n"
    script = tmp_path / "token.py"
    script.write_text(
        "import pathlib, sys\n"
        f"p = pathlib.Path({str(counter)!r})\n"
        "n = int(p.read_text()) + 1 if p.exists() else 1\n"
        "p.write_text(str(n))\n"
        "print(f'cmd-token-{n}')\n"
    )
    monkeypatch.setenv(
        "DISTIL_TOKEN_COMMAND", f"{shlex.quote(sys.executable)} {shlex.quote(str(script))}"
    )
    route = respx.get(f"{BASE}/models/m1").mock(
        side_effect=[httpx.Response(401), httpx.Response(200, json=MODEL)]
    )
    with DistilClient(base_url=BASE) as client:
        client.v2.models.get("m1")
    auths = [c.request.headers["authorization"] for c in route.calls]
    assert auths == ["Bearer cmd-token-1", "Bearer cmd-token-2"]
    monkeypatch.setenv(
        "DISTIL_TOKEN_COMMAND", f"{shlex.quote(sys.executable)} -c 'import sys; sys.exit(3)'"
    )
    with DistilClient(base_url=BASE) as client, pytest.raises(E.DistilError, match="exited with 3"):
        client.v2.models.get("m1")


def test_only_one_kind_of_explicit_credentials() -> None:
    with pytest.raises(E.DistilError, match="only one kind"):
        DistilClient(base_url=BASE, api_key=KEY, token_provider=lambda: "x")
    with pytest.raises(E.DistilError, match="only one kind"):
        DistilClient(base_url=BASE, api_key=KEY, username="u", password="p")
    with pytest.raises(E.DistilError, match="callable"):
        DistilClient(base_url=BASE, token_provider="not-callable")  # type: ignore[arg-type]


@respx.mock
def test_exactly_one_refresh_per_request_even_across_retries() -> None:
    # 401 -> refresh -> 503 -> retry -> 401 again: the request already had its refresh, so the
    # second rejection is the caller's error (no second login, no fourth request).
    login = _cognito("a", "b", "c")
    api = respx.get(f"{BASE}/models/m1").mock(
        side_effect=[
            httpx.Response(401),
            httpx.Response(503),
            httpx.Response(401, json={"detail": "still no"}),
            httpx.Response(200, json=MODEL),
        ]
    )
    with _pw_client() as client, pytest.raises(E.AuthenticationError, match="still no"):
        client.v2.models.get("m1")
    assert login.call_count == 2 and api.call_count == 3


# ---------------------------------------------------------------- single-flight login


def _login_answer(token: str) -> httpx.Response:
    return httpx.Response(
        200, json={"AuthenticationResult": {"AccessToken": token, "ExpiresIn": 3600}}
    )


async def test_concurrent_async_calls_share_one_login() -> None:
    logins: list[int] = []

    async def handler(request: httpx.Request) -> httpx.Response:
        if request.url.host == "cognito.test":
            logins.append(1)
            for _ in range(5):  # let every other task reach its login meanwhile
                await asyncio.sleep(0)
            return _login_answer("tok-1")
        await asyncio.sleep(0)
        return httpx.Response(200, json=MODEL)

    client = AsyncDistilClient(
        base_url=BASE,
        username="u",
        password=PASSWORD,
        cognito_url=COGNITO,
        transport=httpx.MockTransport(handler),
    )
    async with client:
        models = await asyncio.gather(*(client.v2.models.get("m1") for _ in range(20)))
    assert len(models) == 20 and len(logins) == 1


def test_threads_of_a_sync_client_share_one_login() -> None:
    logins: list[int] = []
    lock = threading.Lock()
    second = threading.Event()

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.host == "cognito.test":
            with lock:
                logins.append(1)
                if len(logins) > 1:
                    second.set()
            # Hold the first login open a moment: without single flight a second one starts.
            second.wait(0.3)
            return _login_answer("tok-1")
        return httpx.Response(200, json=MODEL)

    with (
        DistilClient(
            base_url=BASE,
            username="u",
            password=PASSWORD,
            cognito_url=COGNITO,
            transport=httpx.MockTransport(handler),
        ) as client,
        ThreadPoolExecutor(8) as pool,
    ):
        results = list(pool.map(lambda _: client.v2.models.get("m1"), range(16)))
    assert len(results) == 16 and len(logins) == 1


async def test_concurrent_rejections_refresh_once() -> None:
    # Many calls see the old token rejected, some only after the first renewal finished: those
    # must use the renewed token instead of throwing it away and logging in again.
    logins: list[str] = []
    delays = iter(range(10**6))
    expired = [False]

    async def handler(request: httpx.Request) -> httpx.Response:
        if request.url.host == "cognito.test":
            logins.append("x")
            await asyncio.sleep(0)
            return _login_answer(f"tok-{len(logins)}")
        for _ in range(next(delays) % 13):  # answers arrive in a spread-out order
            await asyncio.sleep(0)
        if expired[0] and request.headers["authorization"] == "Bearer tok-1":
            return httpx.Response(401)
        return httpx.Response(200, json=MODEL)

    client = AsyncDistilClient(
        base_url=BASE,
        username="u",
        password=PASSWORD,
        cognito_url=COGNITO,
        transport=httpx.MockTransport(handler),
    )
    async with client:
        await client.v2.models.get("m1")
        expired[0] = True  # tok-1 expires while 30 calls are in flight with it
        await asyncio.gather(*(client.v2.models.get("m1") for _ in range(30)))
    assert logins == ["x", "x"], logins
