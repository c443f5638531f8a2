"""wait(): PENDING -> RUNNING -> SUCCESS, failure, timeout, progress; no real sleeping."""

from __future__ import annotations

import io

import httpx
import pytest
import respx

from distil_sdk._errors import JobFailedError, JobTimeoutError
from distil_sdk._polling import Poller
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
