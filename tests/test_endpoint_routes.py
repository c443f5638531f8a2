"""Inference endpoints beyond create/get/list: their records (cursor paging in a time window),
traces exports, linking API keys (a 409 while a key change propagates is waited out) and the
call itself through the real ``openai`` client - sync and async, against the respx platform of
``tests/_current_platform.py``, then the local platform's answers over loopback.

Shapes quoted from distil-cli-skill ``execution/backend-api.md`` (newest, stored id 71207846318,
commit 8848a333) § Inference endpoints, and ``data-preparation/traces.md`` (id 71597399549)
§ From an inference endpoint.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx

from _current_platform import API, ENDPOINT, INFERENCE, TOKEN, FakePlatform, endpoint_record
from distil_sdk import (
    AsyncDistilClient,
    ConflictError,
    DistilClient,
    DistilError,
    EndpointTrace,
    JobNotFinishedError,
    JobStatus,
    NotFoundError,
)
from distil_sdk.local.server import LocalServer
from distil_sdk.resources.api_keys import propagation_pauses
from distil_sdk.resources.inference_endpoints import INFERENCE_URL_ENV
from test_client_support import FakeTime

SEPT = "2026-09-01T00:00:00Z"  # the window of the reference's example
OCT = "2026-10-01T00:00:00Z"


@pytest.fixture
def fake() -> FakeTime:
    return FakeTime()


@pytest.fixture
def platform() -> Iterator[FakePlatform]:
    with respx.mock(assert_all_called=False) as router:
        fake_platform = FakePlatform(router)
        fake_platform.add_endpoint()
        yield fake_platform


@pytest.fixture
def client(platform: FakePlatform, fake: FakeTime) -> Iterator[DistilClient]:
    with DistilClient(base_url=API, api_key=TOKEN, _sleep=fake.sleep, _clock=fake.clock) as c:
        yield c


def aclient(fake: FakeTime) -> AsyncDistilClient:
    return AsyncDistilClient(base_url=API, api_key=TOKEN, _sleep=fake.asleep, _clock=fake.clock)


def _trace_queries(platform: FakePlatform) -> list[dict[str, str]]:
    path = f"/inference-endpoints/{ENDPOINT}/traces"
    return [dict(r.url.params) for r in platform.api_calls("GET", path)]


# ------------------------------------------------------------------------------------ traces


def test_traces_follow_the_cursor_until_it_is_null(
    client: DistilClient, platform: FakePlatform
) -> None:
    records = [endpoint_record(n) for n in range(5)]
    # An empty page can still carry a cursor: paging goes on past it (backend-api.md).
    platform.seed_traces([records[:2], [], records[2:]])
    traces = list(client.inference_endpoints.traces(ENDPOINT, since=SEPT, until=OCT))
    assert [t.model_extra["id"] for t in traces if t.model_extra] == [r["id"] for r in records]
    queries = _trace_queries(platform)
    window = {"from-start-time": SEPT, "to-start-time": OCT}
    assert queries == [window, {**window, "pagination-cursor": "cursor-1"},
                       {**window, "pagination-cursor": "cursor-2"}]  # fmt: skip


def test_trace_records_read_as_the_reference_describes(
    client: DistilClient, platform: FakePlatform
) -> None:
    platform.seed_traces([[endpoint_record(1), endpoint_record(2, status=500)]])
    ok, failed = client.inference_endpoints.traces(ENDPOINT, since=SEPT, until=OCT)
    assert isinstance(ok, EndpointTrace) and ok.metadata is not None
    assert ok.metadata.status == 200 and ok.metadata.source == "fallback" and ok.latency == 0.42
    assert ok.request == {
        "model": ENDPOINT,
        "messages": [{"role": "user", "content": "question 1"}],
    }
    # The reference's conversion: the request's messages plus choices[0].message.
    assert ok.to_trace_row() == {"messages": [{"role": "user", "content": "question 1"},
                                              {"role": "assistant", "content": "answer 1"}]}  # fmt: skip
    assert failed.to_trace_row() is None  # a failed call is no training data


def test_limit_caps_records_not_pages_and_pages_are_whole(
    client: DistilClient, platform: FakePlatform
) -> None:
    platform.seed_traces([[endpoint_record(n) for n in range(3)], [endpoint_record(9)]])
    assert (
        len(list(client.inference_endpoints.traces(ENDPOINT, since=SEPT, until=OCT, limit=2))) == 2
    )
    assert len(_trace_queries(platform)) == 1  # the second page was never needed
    pages = list(client.inference_endpoints.traces(ENDPOINT, since=SEPT, until=OCT).pages())
    assert [len(p.traces) for p in pages] == [3, 1] and pages[-1].pagination_cursor is None
    assert list(client.inference_endpoints.traces(ENDPOINT, since=SEPT, until=OCT, limit=0)) == []


def test_a_repeated_cursor_ends_the_paging(client: DistilClient, platform: FakePlatform) -> None:
    platform.seed_traces([[endpoint_record(1)], [endpoint_record(2)]])
    platform.repeat_last_cursor = True  # page 2 answers "cursor-1" again
    assert len(list(client.inference_endpoints.traces(ENDPOINT, since=SEPT, until=OCT))) == 2
    assert len(_trace_queries(platform)) == 2


def test_the_window_always_carries_both_bounds(
    client: DistilClient, platform: FakePlatform
) -> None:
    platform.seed_traces([[]])
    list(client.inference_endpoints.traces(ENDPOINT))  # default: the last day, both bounds
    until = dt.datetime(2026, 9, 30, 12, 0, tzinfo=dt.timezone(dt.timedelta(hours=2)))
    list(client.inference_endpoints.traces(ENDPOINT, until=until))
    list(client.inference_endpoints.traces(ENDPOINT, since=dt.date(2026, 9, 1), until=OCT))
    default, derived, from_date = _trace_queries(platform)
    assert set(default) == {"from-start-time", "to-start-time"}
    start = dt.datetime.fromisoformat(default["from-start-time"].replace("Z", "+00:00"))
    end = dt.datetime.fromisoformat(default["to-start-time"].replace("Z", "+00:00"))
    assert end - start == dt.timedelta(days=1)
    assert derived == {
        "from-start-time": "2026-09-29T10:00:00Z",
        "to-start-time": "2026-09-30T10:00:00Z",
    }
    assert from_date == {"from-start-time": SEPT, "to-start-time": OCT}
    with pytest.raises(DistilError, match="after"):
        client.inference_endpoints.traces(ENDPOINT, since=OCT, until=SEPT)


def test_traces_of_an_unknown_endpoint_name_it(client: DistilClient) -> None:
    with pytest.raises(NotFoundError, match="no inference endpoint nope"):
        list(client.inference_endpoints.traces("nope", since=SEPT, until=OCT))


async def test_traces_async(platform: FakePlatform, fake: FakeTime) -> None:
    platform.seed_traces([[endpoint_record(1)], [], [endpoint_record(2), endpoint_record(3)]])
    async with aclient(fake) as client:
        traces = [
            t async for t in client.inference_endpoints.traces(ENDPOINT, since=SEPT, until=OCT)
        ]
        pages = [
            p
            async for p in client.inference_endpoints.traces(
                ENDPOINT, since=SEPT, until=OCT
            ).pages()
        ]
        capped = [
            t
            async for t in client.inference_endpoints.traces(
                ENDPOINT, since=SEPT, until=OCT, limit=1
            )
        ]
    assert len(traces) == 3 and [len(p.traces) for p in pages] == [1, 0, 2] and len(capped) == 1


# ----------------------------------------------------------------------------- traces exports


def test_traces_export_create_list_get_and_download(
    client: DistilClient, platform: FakePlatform, tmp_path: Path
) -> None:
    records = [endpoint_record(1), endpoint_record(2)]
    platform.seed_traces([records])
    exports = client.inference_endpoints.traces_exports
    export = exports.create(ENDPOINT, since=SEPT, until=OCT)
    # The body the reference posts: the window, both bounds.
    assert platform.bodies[f"POST /inference-endpoints/{ENDPOINT}/traces-exports"] == [
        {"from-start-time": SEPT, "to-start-time": OCT}
    ]
    assert export.download_url and export.from_start_time == SEPT and export.to_start_time == OCT
    assert [e.id for e in exports.list(ENDPOINT)] == [export.id]
    assert exports.get(ENDPOINT, export.id).download_url == export.download_url

    path = exports.download(ENDPOINT, export.id, tmp_path / "raw-traces.jsonl")
    assert [json.loads(line) for line in path.read_text().splitlines()] == records
    assert not list(tmp_path.glob(".*.part"))  # written atomically
    fetched = [r for r in platform.storage_calls("GET") if "exports" in r.url.path]
    assert fetched and all("authorization" not in r.headers for r in fetched)
    # A folder gets the CLI's file name.
    assert exports.download(ENDPOINT, export.id, tmp_path).name == f"{ENDPOINT}-traces.jsonl"


def test_traces_export_wait_polls_until_the_file_is_there(
    client: DistilClient, platform: FakePlatform, fake: FakeTime, tmp_path: Path
) -> None:
    platform.export_polls_before_ready = 2
    exports = client.inference_endpoints.traces_exports
    export = exports.create(ENDPOINT, since=SEPT, until=OCT)
    assert export.download_url is None and export.state() is JobStatus.RUNNING
    with pytest.raises(JobNotFinishedError, match="wait for it"):
        exports.download(ENDPOINT, export.id, tmp_path / "early.jsonl")
    assert not (tmp_path / "early.jsonl").exists()
    done = exports.wait(ENDPOINT, export.id, poll_interval=5, progress=False)
    assert done.status is JobStatus.SUCCESS and done.download_url
    assert fake.sleeps  # it waited, on the injected sleep


async def test_traces_exports_async(platform: FakePlatform, fake: FakeTime, tmp_path: Path) -> None:
    platform.seed_traces([[endpoint_record(1)]])
    platform.export_polls_before_ready = 1
    async with aclient(fake) as client:
        exports = client.inference_endpoints.traces_exports
        export = await exports.create(ENDPOINT, since=SEPT, until=OCT)
        done = await exports.wait(ENDPOINT, export.id, progress=False)
        assert [e.id for e in await exports.list(ENDPOINT)] == [export.id]
        assert (await exports.get(ENDPOINT, export.id)).download_url
        path = await exports.download(ENDPOINT, export.id, tmp_path / "t.jsonl")
    assert done.status is JobStatus.SUCCESS
    assert json.loads(path.read_text()) == endpoint_record(1)


# -------------------------------------------------------------------------- linking API keys


def test_link_waits_out_409_while_the_key_propagates(
    client: DistilClient, platform: FakePlatform, fake: FakeTime
) -> None:
    key = client.api_keys.create("support-prod")
    platform.link_conflicts = 3
    client.inference_endpoints.link_api_key(ENDPOINT, key.name)
    assert (ENDPOINT, "support-prod") in platform.links
    assert fake.sleeps == [1.0, 2.0, 4.0]  # on the client's injected sleep, growing
    link = f"/inference-endpoints/{ENDPOINT}/api-keys/support-prod"
    assert len(platform.api_calls("PUT", link)) == 4
    client.inference_endpoints.unlink_api_key(ENDPOINT, key.name)
    assert not platform.links


def test_link_gives_up_with_a_clear_error(
    client: DistilClient, platform: FakePlatform, fake: FakeTime
) -> None:
    client.api_keys.create("support-prod")
    platform.link_conflicts = 1000
    with pytest.raises(ConflictError, match="propagate") as info:
        client.inference_endpoints.link_api_key(ENDPOINT, "support-prod", propagation_timeout=20)
    assert sum(fake.sleeps) == 20 and info.value.status_code == 409
    assert isinstance(info.value.__cause__, ConflictError)
    assert list(propagation_pauses(75)) == [1, 2, 4, 8, 8, 8, 8, 8, 8, 8, 8, 4]
    assert list(propagation_pauses(0)) == []


def test_link_to_a_missing_key_or_endpoint_names_both(client: DistilClient) -> None:
    with pytest.raises(NotFoundError, match=r"client\.api_keys\.list"):
        client.inference_endpoints.link_api_key(ENDPOINT, "no-such-key")
    client.api_keys.create("k")
    with pytest.raises(NotFoundError, match="no inference endpoint 'nope'"):
        client.inference_endpoints.link_api_key("nope", "k")


async def test_link_and_unlink_async(platform: FakePlatform, fake: FakeTime) -> None:
    async with aclient(fake) as client:
        await client.api_keys.create("k")
        platform.link_conflicts = 2
        await client.inference_endpoints.link_api_key(ENDPOINT, "k")
        assert (ENDPOINT, "k") in platform.links and fake.sleeps == [1.0, 2.0]
        platform.link_conflicts = 1000
        with pytest.raises(ConflictError, match="still answers 409"):
            await client.inference_endpoints.unlink_api_key(ENDPOINT, "k", propagation_timeout=3)
        platform.link_conflicts = 0
        await client.inference_endpoints.unlink_api_key(ENDPOINT, "k")
    assert not platform.links


# ----------------------------------------------------------------------------- the call itself


def _through_respx(request: Any) -> Any:
    """openai's HTTP stack is httpx2, which respx does not patch: each request goes through
    httpx (which respx answers, as the inference host) and its answer comes back."""
    import httpx2

    with httpx.Client() as http:
        answer = http.request(
            request.method, str(request.url), headers=dict(request.headers), content=request.read()
        )
    skip = {"content-encoding", "content-length", "transfer-encoding"}
    headers = {k: v for k, v in answer.headers.items() if k.lower() not in skip}
    return httpx2.Response(answer.status_code, headers=headers, content=answer.content)


def _openai_http(*, asynchronous: bool = False) -> Any:
    httpx2 = pytest.importorskip("httpx2")
    transport = httpx2.MockTransport(_through_respx)
    if asynchronous:
        return httpx2.AsyncClient(transport=transport)
    return httpx2.Client(transport=transport)


def test_the_openai_client_calls_the_endpoint(
    client: DistilClient, platform: FakePlatform, monkeypatch: pytest.MonkeyPatch
) -> None:
    openai = pytest.importorskip("openai")
    monkeypatch.setenv(INFERENCE_URL_ENV, INFERENCE)
    key = client.api_keys.create("support-prod")
    client.inference_endpoints.link_api_key(ENDPOINT, key.name)
    config = client.inference_endpoints.openai_config(ENDPOINT, key)
    # "an existing OpenAI client changes three strings: base URL, key and model"
    assert config.base_url == INFERENCE and config.model == ENDPOINT
    assert key.secret.get_secret_value() not in repr(config)
    llm = openai.OpenAI(**config.client_kwargs(), max_retries=0, http_client=_openai_http())
    answer = llm.chat.completions.create(
        model=config.model, messages=[{"role": "user", "content": "Say hi."}]
    )
    assert answer.choices[0].message.content == "Hi!"
    (call,) = platform.inference_calls
    assert call.url == f"{INFERENCE}/chat/completions"
    assert call.headers["authorization"] == f"Bearer {key.secret.get_secret_value()}"
    assert json.loads(call.content)["model"] == ENDPOINT


def test_openai_config_defaults_to_the_inference_host_and_checks_the_name(
    client: DistilClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(INFERENCE_URL_ENV, raising=False)
    config = client.inference_endpoints.openai_config(ENDPOINT, "sk-from-a-vault")
    assert config.base_url == "https://inference.distillabs.ai/v1"
    assert config.client_kwargs() == {"base_url": config.base_url, "api_key": "sk-from-a-vault"}
    custom = client.inference_endpoints.openai_config(ENDPOINT, "s", base_url="https://x.test/v1/")
    assert custom.base_url == "https://x.test/v1"
    with pytest.raises(NotFoundError):
        client.inference_endpoints.openai_config("nope", "s")
    with pytest.raises(DistilError, match="empty"):
        client.inference_endpoints.openai_config(ENDPOINT, "")


async def test_the_async_openai_client_calls_the_endpoint(
    platform: FakePlatform, fake: FakeTime
) -> None:
    openai = pytest.importorskip("openai")
    async with aclient(fake) as client:
        key = await client.api_keys.create("k")
        await client.inference_endpoints.link_api_key(ENDPOINT, key.name)
        config = await client.inference_endpoints.openai_config(ENDPOINT, key, base_url=INFERENCE)
    http = _openai_http(asynchronous=True)
    async with openai.AsyncOpenAI(**config.client_kwargs(), max_retries=0, http_client=http) as llm:
        answer = await llm.chat.completions.create(
            model=config.model, messages=[{"role": "user", "content": "Say hi."}]
        )
    assert answer.choices[0].message.content == "Hi!"


def test_an_unlinked_key_is_refused_by_the_inference_host(
    client: DistilClient, platform: FakePlatform
) -> None:
    openai = pytest.importorskip("openai")
    key = client.api_keys.create("k")  # created, never linked
    config = client.inference_endpoints.openai_config(ENDPOINT, key, base_url=INFERENCE)
    llm = openai.OpenAI(**config.client_kwargs(), max_retries=0, http_client=_openai_http())
    with pytest.raises(openai.AuthenticationError):
        llm.chat.completions.create(
            model=config.model, messages=[{"role": "user", "content": "Say hi."}]
        )


# -------------------------------------------------------------------------- the local platform


@pytest.fixture(scope="module")
def local(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalServer]:
    server = LocalServer(tmp_path_factory.mktemp("endpoints") / "data", run_worker=False)
    server.start()
    try:
        yield server
    finally:
        server.close()


def test_the_local_platform_answers_the_endpoint_routes(
    local: LocalServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(INFERENCE_URL_ENV, raising=False)
    with DistilClient(base_url=local.base_url, api_key=local.token) as client:
        endpoints = client.inference_endpoints
        ep = endpoints.create("support", "openai/gpt-4.1-mini", trace_sample_rate=1)
        assert ep.id.startswith("support-") and ep.primary is None
        assert ep in endpoints.list() and endpoints.get(ep.id) == ep
        # No call yet: one empty page, and the paging ends.
        assert list(endpoints.traces(ep.id, since=SEPT, until=OCT)) == []
        exports = endpoints.traces_exports
        export = exports.create(ep.id, since=SEPT, until=OCT)
        assert export.state() is JobStatus.SUCCESS and export.download_url
        assert (export.from_start_time, export.to_start_time) == (
            "2026-09-01T00:00:00+00:00",
            "2026-10-01T00:00:00+00:00",
        )
        assert [e.id for e in exports.list(ep.id)] == [export.id]
        assert httpx.get(exports.get(ep.id, export.id).download_url or "").content == b""
        with pytest.raises(NotFoundError):
            exports.get(ep.id, "exp-1")
        key = client.api_keys.create("local-key")
        endpoints.link_api_key(ep.id, key.name)
        endpoints.link_api_key(ep.id, key.name)  # twice is harmless
        endpoints.unlink_api_key(ep.id, key.name)
        with pytest.raises(NotFoundError, match="not found"):
            endpoints.unlink_api_key(ep.id, "no-such-key")
        with pytest.raises(NotFoundError, match="no inference endpoint"):
            endpoints.link_api_key(ENDPOINT, key.name)
        with pytest.raises(NotFoundError):
            list(endpoints.traces(ENDPOINT, since=SEPT, until=OCT))
        # A client of a local platform calls its endpoints on that platform's gateway.
        config = endpoints.openai_config(ep.id, key)
        assert config.base_url == f"{local.base_url}/inference/v1"
        client.api_keys.delete(key.name)


def test_openai_config_of_a_local_platform_names_its_gateway_unless_told_otherwise(
    local: LocalServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    from distil_sdk.resources.inference_endpoints import inference_url

    monkeypatch.delenv(INFERENCE_URL_ENV, raising=False)
    for platform_url in (local.base_url, "http://localhost:8700/", "http://[::1]:8700"):
        assert inference_url(platform_url) == platform_url.rstrip("/") + "/inference/v1"
    assert inference_url(API) == "https://inference.distillabs.ai/v1"  # hosted: unchanged
    assert inference_url(local.base_url, "https://x.test/v1/") == "https://x.test/v1"
    monkeypatch.setenv(INFERENCE_URL_ENV, INFERENCE)
    assert inference_url(local.base_url) == INFERENCE  # the variable still overrides


async def test_the_local_platform_answers_the_endpoint_routes_async(
    local: LocalServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(INFERENCE_URL_ENV, raising=False)
    async with AsyncDistilClient(base_url=local.base_url, api_key=local.token) as client:
        ep = await client.inference_endpoints.create("async", "openai/gpt-4.1-mini")
        assert ep.trace_sampling_rate == 0.01  # the API's default: one call in a hundred
        traces = client.inference_endpoints.traces(ep.id, since=SEPT, until=OCT)
        assert [t async for t in traces] == []
        exports = client.inference_endpoints.traces_exports
        assert await exports.list(ep.id) == []
        export = await exports.create(ep.id)
        assert [e.id for e in await exports.list(ep.id)] == [export.id]
        config = await client.inference_endpoints.openai_config(ep.id, "sk-local")
        assert config.base_url == f"{local.base_url}/inference/v1"
        with pytest.raises(NotFoundError):
            await exports.create(ENDPOINT)


def test_the_local_traces_route_takes_the_reference_query(local: LocalServer) -> None:
    headers = {"Authorization": f"Bearer {local.token}"}
    created = httpx.post(
        f"{local.base_url}/inference-endpoints",
        json={"name-prefix": "query", "fallback": {"model": "openai/gpt-4.1-mini"}},
        headers=headers,
    )
    assert created.status_code == 201, created.text
    path = f"{local.base_url}/inference-endpoints/{created.json()['unique_endpoint_name']}/traces"
    answer = httpx.get(
        path, params={"from-start-time": SEPT, "to-start-time": OCT}, headers=headers
    )
    assert answer.status_code == 200
    assert answer.json() == {"traces": [], "pagination_cursor": None}
    # A cursor this server never wrote is refused, rather than read as "from the start".
    params = {"from-start-time": SEPT, "to-start-time": OCT, "pagination-cursor": "c"}
    answer = httpx.get(path, params=params, headers=headers)
    assert answer.status_code == 400 and "pagination-cursor" in answer.json()["message"]
