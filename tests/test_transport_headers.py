"""What every request carries and what every error keeps, on the current generation: the
SDK's ``User-Agent`` (as openai-python and huggingface_hub send theirs) and the server's request
id on :class:`~distil_sdk.APIStatusError` (to quote when asking for support)."""

from __future__ import annotations

import httpx
import pytest
import respx

from _current_platform import API, TOKEN, FakePlatform
from distil_sdk import AsyncDistilClient, DistilClient, NotFoundError, __version__


def test_every_request_names_the_sdk_and_its_version(
    client: DistilClient, platform: FakePlatform
) -> None:
    client.datasets.list()
    client.credits.balances()
    agents = {r.headers["user-agent"] for r in platform.api_calls()}
    assert len(agents) == 1
    (agent,) = agents
    assert agent.startswith(f"distil-sdk/{__version__} python/")
    assert f"httpx/{httpx.__version__}" in agent


def test_the_agent_of_a_callers_own_http_client_is_kept() -> None:
    with respx.mock() as router:
        route = router.get(f"{API}/datasets").respond(json=[])
        http = httpx.Client(headers={"User-Agent": "my-app/2"})
        with DistilClient(base_url=API, api_key=TOKEN, http_client=http) as client:
            client.datasets.list()
        http.close()
    assert route.calls.last.request.headers["user-agent"] == "my-app/2"


@pytest.mark.parametrize("header", ["x-request-id", "x-amzn-RequestId"])
def test_the_request_id_is_kept_on_the_error(header: str) -> None:
    with respx.mock() as router:
        router.get(f"{API}/datasets/nope").respond(
            404, json={"message": "Dataset nope not found"}, headers={header: "req-123"}
        )
        with (
            DistilClient(base_url=API, api_key=TOKEN) as client,
            pytest.raises(NotFoundError) as info,
        ):
            client.datasets.get("nope")
    assert info.value.request_id == "req-123"
    assert "Dataset nope not found" in info.value.message


async def test_the_async_client_sends_and_keeps_the_same() -> None:
    with respx.mock() as router:
        route = router.get(f"{API}/datasets/nope").respond(
            404, json={"message": "no"}, headers={"x-request-id": "req-9"}
        )
        async with AsyncDistilClient(base_url=API, api_key=TOKEN) as client:
            with pytest.raises(NotFoundError) as info:
                await client.datasets.get("nope")
    assert info.value.request_id == "req-9"
    assert route.calls.last.request.headers["user-agent"].startswith("distil-sdk/")


def test_no_request_id_is_none() -> None:
    with respx.mock() as router:
        router.get(f"{API}/datasets/nope").respond(404, json={"message": "no"})
        with (
            DistilClient(base_url=API, api_key=TOKEN) as client,
            pytest.raises(NotFoundError) as info,
        ):
            client.datasets.get("nope")
    assert info.value.request_id is None
