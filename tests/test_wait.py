"""wait(): PENDING -> RUNNING -> SUCCESS, failure, timeout, progress; no real sleeping."""

from __future__ import annotations

import io

import httpx
import pytest
import respx

from distil_sdk._errors import (
    APIConnectionError,
    InternalServerError,
    JobFailedError,
    JobTimeoutError,
    JobWaitInterruptedError,
    NotFoundError,
)
from distil_sdk._http import MAX_BACKOFF_S
from distil_sdk._polling import DEFAULT_OUTAGE_BUDGET_S, MAX_OUTAGE_INTERVAL_S, Poller
from distil_sdk.types.jobs import JobStatus
from test_client_support import BASE, FakeTime, async_client, sync_client


def _statuses(*items: object) -> list[httpx.Response]:
    return [
        httpx.Response(
            200, json={"id": "t1", "status": s, "message": "m"} if isinstance(s, str) else s
        )
        for s in items
    ]


@respx.mock
def test_wait_pending_running_success_with_growing_interval() -> None:
    fake = FakeTime()
    respx.get(f"{BASE}/trainings/t1/status").mock(
        side_effect=_statuses(
            "JOB_PENDING", "JOB_RUNNING", "JOB_RUNNING", "JOB_RUNNING", "JOB_SUCCESS"
        )
    )
    seen: list[JobStatus] = []
    with sync_client(fake) as client:
        final = client.v2.trainings.wait(
            "t1", poll_interval=2, max_interval=4, on_progress=lambda r: seen.append(r.status)
        )
    assert final.status is JobStatus.SUCCESS
    assert [s.value for s in seen] == [
        "JOB_PENDING",
        "JOB_RUNNING",
        "JOB_RUNNING",
        "JOB_RUNNING",
        "JOB_SUCCESS",
    ]
    assert fake.sleeps == [2, 3, 4, 4]


@respx.mock
async def test_async_wait_teacher_evaluation() -> None:
    fake = FakeTime()
    respx.get(f"{BASE}/teacher-evaluations/e1/status").mock(
        side_effect=[
            httpx.Response(200, json={"id": "e1", "status": "JOB_RUNNING"}),
            httpx.Response(
                200, json={"id": "e1", "status": "JOB_SUCCESS", "results": {"accuracy": 0.9}}
            ),
        ]
    )
    async with async_client(fake) as client:
        final = await client.v2.teacher_evaluations.wait("e1")
    assert final.results is not None and final.results.accuracy == 0.9 and fake.sleeps == [2.0]


@pytest.mark.parametrize("status", ["JOB_FAILURE", "JOB_STOPPED"])
@respx.mock
async def test_wait_raises_job_failed_with_server_message(status: str) -> None:
    body = {"id": "t1", "status": status, "message": "teacher quota exceeded"}
    respx.get(f"{BASE}/trainings/t1/status").mock(return_value=httpx.Response(200, json=body))
    with (
        sync_client() as client,
        pytest.raises(JobFailedError, match="teacher quota exceeded") as info,
    ):
        client.v2.trainings.wait("t1")
    assert info.value.job_id == "t1" and info.value.status == status
    async with async_client() as aclient:
        with pytest.raises(JobFailedError):
            await aclient.v2.trainings.wait("t1")


@respx.mock
def test_wait_object_shaped_status_failure_names_the_stage() -> None:
    running = {
        "id": "t1",
        "status": {"dag": {}, "logs": [], "tasks": [{"name": "synthgen", "status": "JOB_RUNNING"}]},
    }
    failed = {
        "id": "t1",
        "status": {
            "dag": {},
            "logs": [],
            "tasks": [
                {"name": "synthgen", "status": "JOB_SUCCESS"},
                {"name": "train", "status": "JOB_FAILURE", "message": "CUDA OOM"},
            ],
        },
    }
    respx.get(f"{BASE}/trainings/t1/status").mock(side_effect=_statuses(running, failed))
    with sync_client() as client, pytest.raises(JobFailedError, match="train: CUDA OOM"):
        client.v2.trainings.wait("t1")


@respx.mock
def test_wait_object_shaped_status_success() -> None:
    done = {"id": "t1", "status": {"tasks": [{"name": "a", "status": "JOB_SUCCESS"}]}}
    respx.get(f"{BASE}/trainings/t1/status").mock(side_effect=_statuses(done))
    with sync_client() as client:
        assert client.v2.trainings.wait("t1").tasks[0].name == "a"


@respx.mock
def test_wait_timeout() -> None:
    fake = FakeTime()
    route = respx.get(f"{BASE}/trainings/t1/status").mock(
        return_value=httpx.Response(200, json={"id": "t1", "status": "JOB_RUNNING"})
    )
    with (
        sync_client(fake) as client,
        pytest.raises(JobTimeoutError, match="still JOB_RUNNING") as info,
    ):
        client.v2.trainings.wait("t1", timeout=10, poll_interval=4)
    # polls at t=0, 4 and 10 (the second pause is cut to the time left), then gives up
    assert fake.sleeps == [4, 6] and route.call_count == 3
    assert info.value.job_id == "t1" and info.value.last_record.status is JobStatus.RUNNING


def test_progress_line_on_a_stream() -> None:
    from distil_sdk.types.jobs import TrainingStatus

    fake = FakeTime()
    out = io.StringIO()
    poller = Poller(
        "training",
        "t1",
        timeout=None,
        poll_interval=1,
        max_interval=1,
        on_progress=None,
        progress=True,
        clock=fake.clock,
        stream=out,
    )
    rec = TrainingStatus.model_validate(
        {
            "id": "t1",
            "status": {
                "tasks": [
                    {"name": "synthgen", "status": "JOB_SUCCESS"},
                    {"name": "train", "status": "JOB_RUNNING"},
                ]
            },
        }
    )
    assert poller.observe(rec) is False
    poller.observe(rec)  # unchanged: not repeated off a terminal
    assert out.getvalue() == "training t1: JOB_RUNNING [1/2 stages, train] 00:00\n"


# ---------------------------------------------------------------- outages during a wait


def _outage_route(
    fake: FakeTime, down: tuple[float, float], *, error: object, final_at: float | None = None
) -> respx.Route:
    """The status route during an outage from ``down[0]`` to ``down[1]`` (fake seconds after
    the start): inside it every request fails with ``error`` (an exception or a status code),
    outside it the job is running, and from ``final_at`` on it has succeeded."""
    start = fake.now

    def answer(request: httpx.Request) -> httpx.Response:
        t = fake.now - start
        if down[0] <= t < down[1]:
            if isinstance(error, int):
                return httpx.Response(error, text="bad gateway")
            raise error  # type: ignore[misc]
        status = "JOB_SUCCESS" if final_at is not None and t >= final_at else "JOB_RUNNING"
        return httpx.Response(200, json={"id": "t1", "status": status})

    return respx.get(f"{BASE}/trainings/t1/status").mock(side_effect=answer)


@pytest.mark.parametrize("error", [httpx.ConnectError("refused"), 502, 429, httpx.ReadTimeout("t")])
@respx.mock
def test_wait_rides_out_an_outage_shorter_than_the_budget(
    error: object, caplog: pytest.LogCaptureFixture
) -> None:
    fake = FakeTime()
    # Down from t=5 s for ten minutes; done at t=700 s.
    route = _outage_route(fake, (5, 605), error=error, final_at=700)
    with sync_client(fake) as client:
        final = client.v2.trainings.wait("t1", poll_interval=5, max_interval=30)
    assert final.status is JobStatus.SUCCESS
    assert fake.now - 1000 >= 700
    assert route.call_count > 20  # it kept polling through the outage
    assert any("poll failed" in r.getMessage() for r in caplog.records)


@respx.mock
async def test_async_wait_rides_out_an_outage() -> None:
    fake = FakeTime()
    _outage_route(fake, (0, 300), error=httpx.ConnectError("refused"), final_at=400)
    async with async_client(fake) as client:
        final = await client.v2.trainings.wait("t1")
    assert final.status is JobStatus.SUCCESS


@respx.mock
def test_wait_gives_up_after_the_outage_budget_with_one_typed_error() -> None:
    fake = FakeTime()
    _outage_route(fake, (1, 10**9), error=httpx.ConnectError("refused"))
    with sync_client(fake) as client, pytest.raises(JobWaitInterruptedError) as info:
        client.v2.trainings.wait("t1", poll_interval=2, outage_budget=600)
    err = info.value
    assert err.job_id == "t1" and err.last_record.status is JobStatus.RUNNING
    assert isinstance(err.__cause__, APIConnectionError)
    assert "wait('t1')" in str(err) and "keeps running" in str(err)
    # it gave up once the budget was spent, not before and not long after
    down_for = fake.now - 1000 - 2
    assert 600 <= down_for <= 600 + 2 * MAX_BACKOFF_S + 5


@respx.mock
async def test_async_wait_outage_budget_and_default() -> None:
    fake = FakeTime()
    _outage_route(fake, (0, 10**9), error=503)
    async with async_client(fake) as client:
        with pytest.raises(JobWaitInterruptedError) as info:
            await client.v2.trainings.wait("t1")
    assert isinstance(info.value.__cause__, InternalServerError)
    assert info.value.last_record is None  # never saw the job
    # the default budget is 15 minutes
    assert DEFAULT_OUTAGE_BUDGET_S == 900 and 900 <= fake.now - 1000 <= 900 + 20


@respx.mock
def test_an_answer_resets_the_outage_budget() -> None:
    fake = FakeTime()
    start = fake.now

    def answer(request: httpx.Request) -> httpx.Response:
        t = fake.now - start
        # two outages of 500 s each, one answer in between: each shorter than the 600 s budget
        if 10 <= t < 510 or 520 <= t < 1020:
            raise httpx.ConnectError("refused")
        return httpx.Response(
            200, json={"id": "t1", "status": "JOB_SUCCESS" if t > 1100 else "JOB_RUNNING"}
        )

    respx.get(f"{BASE}/trainings/t1/status").mock(side_effect=answer)
    with sync_client(fake) as client:
        assert client.v2.trainings.wait("t1", outage_budget=600).status is JobStatus.SUCCESS


@respx.mock
def test_outage_pauses_grow_but_stay_capped() -> None:
    fake = FakeTime()
    _outage_route(fake, (0, 10**9), error=httpx.ConnectError("refused"))
    with sync_client(fake, max_retries=0) as client, pytest.raises(JobWaitInterruptedError):
        client.v2.trainings.wait("t1", poll_interval=2, outage_budget=3 * 3600, timeout=None)
    assert fake.sleeps[:4] == [2, 4, 8, 16]
    assert max(fake.sleeps) == MAX_OUTAGE_INTERVAL_S and len(fake.sleeps) > 150
    assert all(s <= MAX_OUTAGE_INTERVAL_S for s in fake.sleeps)


@respx.mock
def test_non_transient_errors_end_the_wait_at_once() -> None:
    route = respx.get(f"{BASE}/trainings/t1/status").mock(
        return_value=httpx.Response(404, json={"detail": "no such training"})
    )
    fake = FakeTime()
    with sync_client(fake) as client, pytest.raises(NotFoundError, match="no such training"):
        client.v2.trainings.wait("t1")
    assert route.call_count == 1 and fake.sleeps == []


@respx.mock
def test_wait_timeout_still_applies_during_an_outage() -> None:
    fake = FakeTime()
    _outage_route(fake, (0, 10**9), error=502)
    with sync_client(fake, max_retries=0) as client, pytest.raises(JobTimeoutError) as info:
        client.v2.trainings.wait("t1", timeout=100, outage_budget=None)
    assert isinstance(info.value.__cause__, InternalServerError)
    assert 100 <= fake.now - 1000 <= 101


def test_outage_shown_on_the_progress_line_and_recovery_printed() -> None:
    from distil_sdk.types.jobs import TrainingStatus

    fake = FakeTime()
    out = io.StringIO()
    poller = Poller(
        "training",
        "t1",
        timeout=None,
        poll_interval=2,
        max_interval=30,
        on_progress=None,
        progress=True,
        clock=fake.clock,
        stream=out,
    )
    rec = TrainingStatus.model_validate({"id": "t1", "status": "JOB_RUNNING"})
    poller.observe(rec)
    delay = poller.on_error(APIConnectionError("could not reach x", method="GET", url="x"))
    fake.sleep(delay)
    poller.observe(rec)
    lines = out.getvalue().splitlines()
    assert lines[0] == "training t1: JOB_RUNNING 00:00"
    assert lines[1] == (
        "training t1: JOB_RUNNING - platform unreachable (APIConnectionError) for 0s of 900s, "
        "retrying in 2s"
    )
    assert lines[2] == "training t1: JOB_RUNNING 00:02"  # printed again: contact is back


def _long_running(base: str) -> None:
    respx.get(f"{base}/trainings/t1/status").mock(
        side_effect=_statuses(*["JOB_RUNNING"] * 12, "JOB_SUCCESS")
    )


@respx.mock
def test_waiting_on_a_local_platform_polls_at_most_every_few_seconds() -> None:
    """A loopback platform's pauses stop growing at 3 s (a finished local job is read soon);
    the hosted platform's keep growing to 30 s; an explicit max_interval wins on both."""
    local = "http://127.0.0.1:8765"
    _long_running(local)
    fake = FakeTime()
    with sync_client(fake, base_url=local) as client:
        client.v2.trainings.wait("t1")
    assert max(fake.sleeps) == 3.0 and fake.sleeps[:3] == [2.0, 3.0, 3.0]

    _long_running(BASE)
    hosted = FakeTime()
    with sync_client(hosted) as client:
        client.v2.trainings.wait("t1")
    assert max(hosted.sleeps) > 20

    _long_running(local)
    explicit = FakeTime()
    with sync_client(explicit, base_url=local) as client:
        client.v2.trainings.wait("t1", max_interval=10)
    assert max(explicit.sleeps) == 10


@respx.mock
async def test_async_wait_on_a_local_platform_has_the_same_cap() -> None:
    local = "http://localhost:8765"
    _long_running(local)
    fake = FakeTime()
    async with async_client(fake, base_url=local) as client:
        await client.v2.trainings.wait("t1")
    assert max(fake.sleeps) == 3.0
