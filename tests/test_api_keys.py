"""``client.api_keys``: create (the secret once, never shown), list, delete - sync and async
against the respx platform of ``tests/_current_platform.py``, then the local platform's SQLite
store over loopback.

The reference (distil-cli-skill ``execution/backend-api.md``, newest, stored id 71207846318,
§ Keys): ``post("/api-keys", {"api-key-name": "support-prod"})`` answers ``key["secret"]``,
"returned by this response and by nothing else"; ``GET /api-keys`` "lists names and creation
dates, never secrets"; ``DELETE /api-keys/<name>`` "revokes the key everywhere".
``inference-endpoints.md`` § Keys: "An account holds at most 5 keys."
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import respx

from _current_platform import API, ENDPOINT, TOKEN, FakePlatform
from distil_sdk import (
    APIError,
    ApiKey,
    AsyncDistilClient,
    ConflictError,
    CreatedApiKey,
    DistilClient,
    NotFoundError,
)
from distil_sdk.local.server import LocalServer


@pytest.fixture
def platform() -> Iterator[FakePlatform]:
    with respx.mock(assert_all_called=False) as router:
        fake = FakePlatform(router)
        fake.add_endpoint()
        yield fake


@pytest.fixture
def client(platform: FakePlatform) -> Iterator[DistilClient]:
    with DistilClient(base_url=API, api_key=TOKEN, _sleep=lambda _: None) as c:
        yield c


def test_create_sends_the_reference_body_and_hides_the_secret(
    client: DistilClient, platform: FakePlatform, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="distil_sdk")
    key = client.api_keys.create("support-prod")
    assert platform.bodies["POST /api-keys"] == [{"api-key-name": "support-prod"}]
    secret = platform.api_keys["support-prod"]["secret"]
    assert isinstance(key, CreatedApiKey) and key.name == "support-prod"
    assert key.secret.get_secret_value() == secret
    for shown in (repr(key), str(key), repr(key.model_dump()), caplog.text):
        assert secret not in shown


def test_list_has_names_and_dates_never_secrets(
    client: DistilClient, platform: FakePlatform
) -> None:
    client.api_keys.create("a")
    client.api_keys.create("b")
    keys = client.api_keys.list()
    assert [k.name for k in keys] == ["a", "b"] and all(isinstance(k, ApiKey) for k in keys)
    assert all(k.created_at for k in keys) and not any(hasattr(k, "secret") for k in keys)


def test_delete_revokes_the_key_and_its_links(client: DistilClient, platform: FakePlatform) -> None:
    client.api_keys.create("a")
    client.inference_endpoints.link_api_key(ENDPOINT, "a")
    client.api_keys.delete("a")
    assert client.api_keys.list() == [] and not platform.links
    with pytest.raises(NotFoundError):
        client.api_keys.delete("a")


def test_a_taken_name_is_a_conflict(client: DistilClient) -> None:
    client.api_keys.create("a")
    with pytest.raises(ConflictError, match="already exists"):
        client.api_keys.create("a")


def test_an_answer_without_the_secret_never_quotes_it() -> None:
    with respx.mock() as router:
        # A body that does not fit: the error names the field, never the values it holds.
        router.post(f"{API}/api-keys").mock(
            return_value=httpx.Response(201, json={"name": "a", "secret": {"value": "sk-LEAK"}})
        )
        with (
            DistilClient(base_url=API, api_key=TOKEN) as client,
            pytest.raises(APIError, match="secret") as info,
        ):
            client.api_keys.create("a")
    assert "sk-LEAK" not in str(info.value) and info.value.__cause__ is None
    assert "client.api_keys.delete('a')" in str(info.value)


def test_a_list_in_an_object_is_read_too() -> None:
    with respx.mock() as router:
        router.get(f"{API}/api-keys").mock(
            return_value=httpx.Response(200, json={"api_keys": [{"name": "a"}]})
        )
        with DistilClient(base_url=API, api_key=TOKEN) as client:
            assert [k.name for k in client.api_keys.list()] == ["a"]


async def test_api_keys_async(platform: FakePlatform) -> None:
    async with AsyncDistilClient(base_url=API, api_key=TOKEN) as client:
        key = await client.api_keys.create("k")
        assert key.secret.get_secret_value() == platform.api_keys["k"]["secret"]
        assert [k.name for k in await client.api_keys.list()] == ["k"]
        await client.api_keys.delete("k")
        assert await client.api_keys.list() == []


# -------------------------------------------------------------------------- the local platform


@pytest.fixture
def local(tmp_path: Path) -> Iterator[LocalServer]:
    server = LocalServer(tmp_path / "data", run_worker=False)
    server.start()
    try:
        yield server
    finally:
        server.close()


def test_the_local_platform_keeps_keys_in_its_store(local: LocalServer, tmp_path: Path) -> None:
    with DistilClient(base_url=local.base_url, api_key=local.token) as client:
        key = client.api_keys.create("support-prod")
        secret = key.secret.get_secret_value()
        assert secret and key.created_at
        assert [k.name for k in client.api_keys.list()] == ["support-prod"]
        with pytest.raises(ConflictError, match="exists"):
            client.api_keys.create("support-prod")
        # The secret is shown once: the store keeps its hash only.
        database = next((tmp_path / "data").glob("*.db"))
        with sqlite3.connect(database) as conn:
            rows = conn.execute("SELECT * FROM api_keys").fetchall()
        assert rows and secret not in repr(rows)
        client.api_keys.delete("support-prod")
        assert client.api_keys.list() == []
        with pytest.raises(NotFoundError):
            client.api_keys.delete("support-prod")


def test_the_local_platform_holds_at_most_five_keys(local: LocalServer) -> None:
    with DistilClient(base_url=local.base_url, api_key=local.token) as client:
        for n in range(5):
            client.api_keys.create(f"k{n}")
        with pytest.raises(ConflictError, match="at most 5"):
            client.api_keys.create("k5")
        assert len(client.api_keys.list()) == 5
        client.api_keys.delete("k0")
        client.api_keys.create("k5")


def test_the_local_platform_refuses_a_name_that_is_no_path_segment(local: LocalServer) -> None:
    headers = {"Authorization": f"Bearer {local.token}"}
    answer = httpx.post(f"{local.base_url}/api-keys", json={"api-key-name": "a/b"}, headers=headers)
    assert answer.status_code == 400 and "api-key-name" in answer.json()["message"]
    extra = httpx.post(
        f"{local.base_url}/api-keys", json={"api-key-name": "a", "x": 1}, headers=headers
    )
    assert extra.status_code == 422


async def test_the_local_platform_keys_async(local: LocalServer) -> None:
    async with AsyncDistilClient(base_url=local.base_url, api_key=local.token) as client:
        key = await client.api_keys.create("a")
        assert [k.name for k in await client.api_keys.list()] == [key.name]
        await client.api_keys.delete("a")
