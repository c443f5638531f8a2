"""Credentials: env config, Cognito login and refresh, and secrets kept out of reprs/logs/errors."""

from __future__ import annotations

import json
import logging

import httpx
import pytest
import respx

from distil_sdk import _errors as E
from distil_sdk._auth import DEFAULT_COGNITO_CLIENT_ID, DEFAULT_COGNITO_URL
from distil_sdk._client import DistilClient
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
