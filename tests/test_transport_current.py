"""The transport through the current client surface (``client.datasets``, ``client.slms``...),
sync and async: retries, credentials, ``wait()``, resumed downloads, path ids, and the
redaction of presigned URLs in httpx's log lines.

test_http_retries.py, test_auth.py, test_wait.py and test_download.py cover the same ground
through ``client.v2``; every test here runs once per client (the ``mode`` fixture).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx

from _current_platform import API, LAYOUT_FILES, TOKEN, FakePlatform
from distil_sdk import AsyncDistilClient, DistilClient
from distil_sdk import _errors as E
from distil_sdk._logging import REDACTED_QUERY, RedactURLQuery
from distil_sdk.resources._base import seg
from distil_sdk.types.entities import EntityStatus
from test_client_support import KEY, FakeTime, async_client, sync_client

AnyClient = DistilClient | AsyncDistilClient
Action = Callable[[Any], Any]

SLM = {"id": "slm-1", "created_at": "2026-12-01T10:00:00Z", "dataset_id": "ds-1"}
DATASET = {"id": "ds-1", "created_at": "2026-12-01T10:00:00Z"}
TEACHER_EVALUATION = {"id": "te-1", "created_at": "2026-12-01T10:00:00Z", "dataset_id": "ds-1"}


@pytest.fixture(params=["sync", "async"])
def mode(request: pytest.FixtureRequest) -> str:
    return str(request.param)


async def call(mode: str, action: Action, fake: FakeTime | None = None, **kw: Any) -> Any:
    """Run ``action(client)`` on a fresh client of ``mode`` (awaiting it for the async one)."""
    if mode == "sync":
        with sync_client(fake, **kw) as client:
            return action(client)
    async with async_client(fake, **kw) as aclient:
        return await action(aclient)


# One read of each current resource: (path, answer, call, what the answer becomes).
READS: dict[str, tuple[str, dict[str, Any], Action, Callable[[Any], Any]]] = {
    "datasets.get": ("/datasets/ds-1", DATASET, lambda c: c.datasets.get("ds-1"), lambda r: r.id),
    "slms.get": ("/slms/slm-1", SLM, lambda c: c.slms.get("slm-1"), lambda r: r.id),
    "teacher_evaluations.status": (
        "/teacher-evaluations/te-1/status",
        {"id": "te-1", "status": "JOB_RUNNING"},
        lambda c: c.teacher_evaluations.status("te-1"),
        lambda r: r.status.value,
    ),
    "credits.balances": (
        "/credits/endpoints",
        {"balances": {"datasets_post": 3}},
        lambda c: c.credits.balances(),
        lambda r: r.get("datasets_post"),
    ),
}
EXPECTED = {
    "datasets.get": "ds-1",
    "slms.get": "slm-1",
    "teacher_evaluations.status": "JOB_RUNNING",
    "credits.balances": 3,
}


# ----------------------------------------------------------------------------------- retries


@pytest.mark.parametrize("read", sorted(READS))
@respx.mock
async def test_429_and_5xx_are_retried_after_retry_after_then_succeed(mode: str, read: str) -> None:
    path, answer, action, pick = READS[read]
    route = respx.get(f"{API}{path}").mock(
        side_effect=[
            httpx.Response(429, headers={"Retry-After": "7"}, json={"message": "slow down"}),
            httpx.Response(503, headers={"Retry-After": "2"}),
            httpx.Response(200, json=answer),
        ]
    )
    fake = FakeTime()
    result = await call(mode, action, fake)
    assert pick(result) == EXPECTED[read]
    assert route.call_count == 3 and fake.sleeps == [7.0, 2.0]


@pytest.mark.parametrize(
    ("client_retries", "call_retries", "attempts"), [(None, None, 3), (4, None, 5), (4, 0, 1)]
)
@respx.mock
async def test_retries_give_up_after_max_retries_with_the_mapped_error(
    mode: str, client_retries: int | None, call_retries: int | None, attempts: int
) -> None:
    route = respx.get(f"{API}/slms/slm-1").mock(
        return_value=httpx.Response(500, json={"message": "boom"})
    )
    options = {} if call_retries is None else {"max_retries": call_retries}
    fake = FakeTime()
    with pytest.raises(E.InternalServerError) as info:
        await call(mode, lambda c: c.slms.get("slm-1", **options), fake, max_retries=client_retries)
    assert route.call_count == attempts and len(fake.sleeps) == attempts - 1
    assert info.value.status_code == 500 and info.value.message == "boom"
    assert info.value.url == f"{API}/slms/slm-1"


@respx.mock
async def test_a_reset_connection_is_retried_for_a_read(mode: str) -> None:
    route = respx.get(f"{API}/datasets/ds-1").mock(
        side_effect=[httpx.ReadError("Connection reset by peer"), httpx.Response(200, json=DATASET)]
    )
    assert (await call(mode, lambda c: c.datasets.get("ds-1"))).id == "ds-1"
    assert route.call_count == 2


@respx.mock
async def test_a_reset_connection_is_not_replayed_for_a_create(mode: str) -> None:
    # The platform may have started the evaluation before the connection dropped: replaying
    # the POST could start (and bill) a second one.
    route = respx.post(f"{API}/teacher-evaluations").mock(
        side_effect=[
            httpx.ReadError("Connection reset by peer"),
            httpx.Response(201, json=TEACHER_EVALUATION),
        ]
    )
    with pytest.raises(E.APIConnectionError):
        await call(mode, lambda c: c.teacher_evaluations.create("ds-1"))
    assert route.call_count == 1


@respx.mock
async def test_connection_errors_exhaust_into_one_connection_error(mode: str) -> None:
    route = respx.get(f"{API}/slms/slm-1").mock(side_effect=httpx.ConnectError("refused"))
    with pytest.raises(E.APIConnectionError, match="could not reach"):
        await call(mode, lambda c: c.slms.get("slm-1"))
    assert route.call_count == 3


# --------------------------------------------------------------------------------------- auth


def test_missing_credentials_name_distil_api_key(
    mode: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    for var in ("DISTIL_API_KEY", "DISTIL_USERNAME", "DISTIL_PASSWORD", "DISTIL_TOKEN_COMMAND"):
        monkeypatch.delenv(var, raising=False)
    cls = DistilClient if mode == "sync" else AsyncDistilClient
    with pytest.raises(E.DistilError, match="DISTIL_API_KEY"):
        cls(base_url=API)


@respx.mock
async def test_the_key_is_sent_but_never_shown(mode: str, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    route = respx.get(f"{API}/slms/slm-1").mock(
        return_value=httpx.Response(401, json={"message": "Unauthorized"})
    )
    shown: list[str] = []

    async def scenario() -> None:
        if mode == "sync":
            with sync_client() as client:
                shown.extend([repr(client), repr(client.slms), repr(client._transport.settings)])
                with pytest.raises(E.AuthenticationError) as info:
                    client.slms.get("slm-1")
        else:
            async with async_client() as aclient:
                shown.extend([repr(aclient), repr(aclient.slms), repr(aclient._transport.settings)])
                with pytest.raises(E.AuthenticationError) as info:
                    await aclient.slms.get("slm-1")
        shown.extend([str(info.value), repr(info.value), str(info.value.body)])

    await scenario()
    # a static key cannot be renewed: one request, and it carried the key
    assert route.call_count == 1
    assert route.calls.last.request.headers["authorization"] == f"Bearer {KEY}"
    shown.append(caplog.text)
    assert "slms/slm-1" in caplog.text  # the request was logged...
    for text in shown:
        assert KEY not in text  # ...without the key, and no repr or error shows it


# --------------------------------------------------------------------------------------- wait


def _statuses(*names: str) -> list[httpx.Response]:
    return [httpx.Response(200, json={"id": "slm-1", "status": name}) for name in names]


@respx.mock
async def test_wait_polls_until_a_final_status(mode: str) -> None:
    route = respx.get(f"{API}/slms/slm-1/status").mock(
        side_effect=_statuses("JOB_PENDING", "JOB_RUNNING", "JOB_RUNNING", "JOB_SUCCESS")
    )
    seen: list[str] = []
    fake = FakeTime()
    final = await call(
        mode,
        lambda c: c.slms.wait(
            "slm-1",
            poll_interval=2,
            max_interval=4,
            progress=False,
            on_progress=lambda r: seen.append(r.status.value),
        ),
        fake,
    )
    assert isinstance(final, EntityStatus) and final.status.value == "JOB_SUCCESS"
    assert seen == ["JOB_PENDING", "JOB_RUNNING", "JOB_RUNNING", "JOB_SUCCESS"]
    assert route.call_count == 4 and fake.sleeps == [2, 3, 4]


@respx.mock
async def test_wait_gives_up_at_its_timeout(mode: str) -> None:
    route = respx.get(f"{API}/teacher-evaluations/te-1/status").mock(
        return_value=httpx.Response(200, json={"id": "te-1", "status": "JOB_RUNNING"})
    )
    fake = FakeTime()
    with pytest.raises(E.JobTimeoutError, match="still JOB_RUNNING") as info:
        await call(
            mode,
            lambda c: c.teacher_evaluations.wait(
                "te-1", timeout=10, poll_interval=4, progress=False
            ),
            fake,
        )
    # polls at t=0, 4 and 10 (the last pause cut to the time left), then gives up
    assert fake.sleeps == [4, 6] and route.call_count == 3
    assert info.value.job_id == "te-1"


# ----------------------------------------------------------------------------------- download


def _resume_from(platform: FakePlatform, start: int, seen: list[str | None]) -> Any:
    total = len(platform.tarball)

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers.get("range"))
        if request.headers.get("range") is None:
            # announces the whole tarball, delivers its first part: the connection "dropped"
            return httpx.Response(
                200, content=platform.tarball[:start], headers={"Content-Length": str(total)}
            )
        first = int(request.headers["range"].removeprefix("bytes=").rstrip("-"))
        return httpx.Response(
            206,
            content=platform.tarball[first:],
            headers={"Content-Range": f"bytes {first}-{total - 1}/{total}"},
        )

    return answer


SLM_FILES = {
    "config": b"base:\n  task: classification\n",
    "job_description": b"{}",
    "train_data": b"",
    "test_data": b"",
}


async def _train_and_download(mode: str, dest: Path) -> Path:
    async def scenario(client: Any) -> Path:
        async def run(result: Any) -> Any:
            return await result if mode == "async" else result

        dataset = await run(client.datasets.create(SLM_FILES, validate=False))
        slm = await run(client.slms.create(dataset.id))
        return Path(await run(client.slms.download_model(slm.id, dest, progress=False)))

    if mode == "sync":
        with DistilClient(base_url=API, api_key=TOKEN, _sleep=lambda _: None) as client:
            return await scenario(client)
    async with AsyncDistilClient(base_url=API, api_key=TOKEN) as aclient:
        return await scenario(aclient)


@pytest.mark.parametrize("partial_on_disk", [True, False], ids=["interrupted-call", "dropped"])
async def test_download_model_resumes(mode: str, tmp_path: Path, partial_on_disk: bool) -> None:
    seen: list[str | None] = []
    with respx.mock(assert_all_called=False) as router:
        platform = FakePlatform(router)
        platform.storage_hooks["/slm/model.tar"] = _resume_from(platform, 1000, seen)
        if partial_on_disk:
            # an earlier call was interrupted after 1000 bytes
            (tmp_path / "out").mkdir()
            (tmp_path / "out" / ".model.tar.part").write_bytes(platform.tarball[:1000])
        model = await _train_and_download(mode, tmp_path / "out")
        storage = platform.storage_calls("GET")
    assert seen == (["bytes=1000-"] if partial_on_disk else [None, "bytes=1000-"])
    assert model == tmp_path / "out" / "model"
    for name, data in LAYOUT_FILES.items():  # the whole tarball arrived, in one piece
        assert (tmp_path / "out" / name).read_bytes() == data
    assert not (tmp_path / "out" / ".model.tar.part").exists()
    assert all("authorization" not in r.headers for r in storage)  # presigned: no token


# --------------------------------------------------------------------------------- path ids


@pytest.mark.parametrize("bad", ["", "   ", "a/b", "..", "."])
@pytest.mark.parametrize(
    ("action", "name"),
    [
        (lambda c, i: c.slms.get(i), "slm_id"),
        (lambda c, i: c.slms.metrics(i), "slm_id"),
        (lambda c, i: c.datasets.status(i), "dataset_id"),
        (lambda c, i: c.teacher_evaluations.wait(i, progress=False), "teacher_evaluation_id"),
        (lambda c, i: c.deployments.status(i), "deployment_id"),
        (lambda c, i: c.inference_endpoints.get(i), "name"),
        (lambda c, i: c.v2.models.get(i), "model_id"),
        (lambda c, i: c.v2.trainings.get(i), "training_id"),
    ],
)
@respx.mock(assert_all_mocked=True)
async def test_an_unusable_id_is_refused_before_any_request(
    mode: str, bad: str, action: Callable[[Any, str], Any], name: str
) -> None:
    # No route is mocked: a request would fail with respx's AllMockedAssertionError instead.
    with pytest.raises(ValueError, match=f"^{name} must be a non-empty id") as info:
        await call(mode, lambda c: action(c, bad))
    assert repr(bad) in str(info.value)


def test_seg_quotes_a_good_id_and_hints_at_an_entity() -> None:
    assert seg("a b?c", "slm_id") == "a%20b%3Fc"
    assert seg("slm-1") == "slm-1"

    class Entity:
        id = "slm-1"

    with pytest.raises(ValueError, match=r"slm_id must be .*; pass its `\.id`"):
        seg(Entity(), "slm_id")  # type: ignore[arg-type]


# ------------------------------------------------------------------------- log redaction


async def test_httpx_log_lines_never_show_a_presigned_signature(
    mode: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    httpx_logger = logging.getLogger("httpx")
    level = httpx_logger.level
    caplog.set_level(logging.INFO)
    with respx.mock(assert_all_called=False) as router:
        FakePlatform(router)
        await _train_and_download(mode, tmp_path / "out")
    lines = [r.getMessage() for r in caplog.records if r.name == "httpx"]
    model_lines = [line for line in lines if "/slm/model.tar" in line]
    assert model_lines, lines  # httpx logged the download, with its path...
    assert all(f"model.tar{REDACTED_QUERY}" in line for line in model_lines)
    for signed in ("sig=m", "sig=c", "X-Amz-Signature"):
        assert signed not in caplog.text  # ...and no signature, staging PUTs included
    assert httpx_logger.level == level  # the user's level is left alone


def test_the_filter_redacts_text_and_url_arguments_only_where_there_is_a_query() -> None:
    url = httpx.URL("https://bucket.s3.test/a/model.tar?X-Amz-Credential=AK%2F1&X-Amz-Signature=s")
    record = logging.LogRecord(
        "httpx",
        logging.INFO,
        __file__,
        1,
        "fetched https://h.test/p?token=t#frag and %s, %s, %s",
        (url, httpx.URL("https://api.test/slms"), 3),
        None,
    )
    assert RedactURLQuery().filter(record) is True
    assert record.getMessage() == (
        "fetched https://h.test/p?<redacted> and https://bucket.s3.test/a/model.tar?<redacted>, "
        "https://api.test/slms, 3"
    )
