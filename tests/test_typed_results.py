"""Results are not Optional after a successful ``wait()``: the ``Completed*`` types, populated
over loopback (real local platform, fake pipeline), a clear typed error for "succeeded but no
results" (respx and a real uploaded SLM), and ``mypy --strict`` on what users write."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx

from _local_support import fake_pipeline_server, upload_payload
from distil_sdk import (
    AsyncDistilClient,
    CompletedEvaluationResults,
    CompletedSLMMetrics,
    CompletedTeacherEvaluationMetrics,
    CompletedTeacherEvaluationStatus,
    DistilClient,
    JobNotFinishedError,
    JobResultsMissingError,
    JobStatus,
    Metrics,
    TeacherEvaluationStatus,
)
from distil_sdk.local.server import LocalServer
from test_client_support import BASE, async_client, sync_client
from test_local_entities_client import write_task

FAST_WAIT: dict[str, Any] = {"poll_interval": 0.05, "max_interval": 0.25, "timeout": 300}
ROOT = Path(__file__).resolve().parent.parent
RECORDED = ROOT / "tests" / "fixtures" / "platform" / "recorded"
DONE_EVAL = "27b94a73-e2c2-48a8-8125-afaa2d6ffc24"
DONE_TRAINING = "0f837410-d2ec-48e8-8c00-2cf5dcb3c46d"


def recorded(name: str) -> Any:
    return json.loads((RECORDED / name).read_text())


# ------------------------------------------------------------------ loopback: populated


@pytest.fixture
def gated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[LocalServer, Path]]:
    """A local server whose fake jobs hold in their first stage until the gate file exists."""
    with fake_pipeline_server(tmp_path, monkeypatch) as started:
        yield started


def test_current_generation_results_after_wait(
    gated: tuple[LocalServer, Path], tmp_path: Path
) -> None:
    server, gate = gated
    with DistilClient(base_url=server.base_url, api_key=server.token) as client:
        dataset = client.datasets.create(write_task(tmp_path / "task"))
        evaluation = client.teacher_evaluations.create(dataset.id)
        # Still in its first stage: no results, and the error says to wait rather than "missing".
        with pytest.raises(JobNotFinishedError) as early:
            client.teacher_evaluations.results(evaluation.id)
        assert not isinstance(early.value, JobResultsMissingError)
        assert early.value.job_id == evaluation.id
        assert f"client.teacher_evaluations.wait({evaluation.id!r})" in str(early.value)

        gate.touch()
        client.teacher_evaluations.wait(evaluation.id, **FAST_WAIT)
        teacher = client.teacher_evaluations.results(evaluation.id)
        assert isinstance(teacher, CompletedTeacherEvaluationMetrics)
        # The same answer metrics() gives, only typed without None.
        assert teacher == client.teacher_evaluations.metrics(evaluation.id)
        assert teacher.teacher_performance.accuracy == 1.0
        assert teacher.predictions_download_url

        slm = client.slms.create(dataset.id)
        client.slms.wait(slm.id, **FAST_WAIT)
        scores = client.slms.results(slm.id)
        assert isinstance(scores, CompletedSLMMetrics)
        assert scores == client.slms.metrics(slm.id)
        assert scores.tuned_model_performance.accuracy == 1.0
        assert isinstance(scores.base_model_performance, Metrics)

        # An uploaded SLM succeeds at once and nothing evaluated it: a real "success without
        # results", which is a typed error naming the SLM, not None.
        url = client.slms.download(slm.id).model_url
        assert url
        tar = httpx.get(url, timeout=30).raise_for_status().content
        uploaded = client.slms.upload(tar, {"base": {"task": "classification"}})
        assert client.slms.wait(uploaded.id, **FAST_WAIT).status is JobStatus.SUCCESS
        with pytest.raises(JobResultsMissingError) as missing:
            client.slms.results(uploaded.id)
        message = str(missing.value)
        assert missing.value.job_id == uploaded.id and uploaded.id in message
        assert "base_model_performance and tuned_model_performance" in message
        assert "client.slms.upload()" in message


def test_models_generation_results_after_wait(
    gated: tuple[LocalServer, Path], tmp_path: Path
) -> None:
    server, gate = gated
    gate.touch()
    with DistilClient(base_url=server.base_url, api_key=server.token) as client:
        model = client.v2.models.create("typed")
        upload = client.v2.uploads.create(model.id, upload_payload())

        evaluation = client.v2.teacher_evaluations.create(model.id, upload.id)
        done = client.v2.teacher_evaluations.wait(evaluation.id, **FAST_WAIT)
        assert isinstance(done, CompletedTeacherEvaluationStatus)
        assert isinstance(done, TeacherEvaluationStatus)  # existing isinstance checks hold
        assert done.results.accuracy == 1.0
        # Equal to the plain record of the same answer, both ways round.
        again = client.v2.teacher_evaluations.get(evaluation.id)
        assert type(again) is TeacherEvaluationStatus and again == done and done == again

        training = client.v2.trainings.create(model.id, upload.id)
        client.v2.trainings.wait(training.id, **FAST_WAIT)
        results = client.v2.trainings.evaluation_results(training.id)
        assert isinstance(results, CompletedEvaluationResults)
        assert results.student_tuned.accuracy == 1.0
        assert results.student_tuned == results["student-tuned"]


async def test_async_results_after_wait(gated: tuple[LocalServer, Path], tmp_path: Path) -> None:
    server, gate = gated
    gate.touch()
    async with AsyncDistilClient(base_url=server.base_url, api_key=server.token) as client:
        dataset = await client.datasets.create(write_task(tmp_path / "task"))
        evaluation = await client.teacher_evaluations.create(dataset.id)
        await client.teacher_evaluations.wait(evaluation.id, **FAST_WAIT)
        teacher = await client.teacher_evaluations.results(evaluation.id)
        assert teacher.teacher_performance.accuracy == 1.0
        slm = await client.slms.create(dataset.id)
        await client.slms.wait(slm.id, **FAST_WAIT)
        assert (await client.slms.results(slm.id)).tuned_model_performance.accuracy == 1.0

        model = await client.v2.models.create("typed-async")
        upload = await client.v2.uploads.create(model.id, upload_payload())
        v2_eval = await client.v2.teacher_evaluations.create(model.id, upload.id)
        done = await client.v2.teacher_evaluations.wait(v2_eval.id, **FAST_WAIT)
        assert isinstance(done, CompletedTeacherEvaluationStatus)
        assert done.results.accuracy == 1.0


# ------------------------------------------------------- respx: the platform's odd answers


def _success_without_results() -> dict[str, Any]:
    answer = recorded("2025-06-30-teacher-evaluation-status.json")
    answer["results"] = None
    return answer


@respx.mock
async def test_v2_wait_on_the_recorded_success_and_on_one_without_results() -> None:
    route = respx.get(f"{BASE}/teacher-evaluations/{DONE_EVAL}/status")
    route.mock(return_value=httpx.Response(200, json=recorded(_status_file())))
    with sync_client() as client:
        done = client.v2.teacher_evaluations.wait(DONE_EVAL)
    # The recorded answer (no accuracy: not a classification task) parses into the narrow type.
    assert isinstance(done, CompletedTeacherEvaluationStatus)
    assert done.results.to_report() == recorded(_status_file())["results"]
    assert done.results.accuracy is None
    # Read again, not rebuilt: the same fields count as sent (exclude_unset dumps unchanged).
    plain = TeacherEvaluationStatus.model_validate(recorded(_status_file()))
    assert done.model_dump(exclude_unset=True) == plain.model_dump(exclude_unset=True)

    route.mock(return_value=httpx.Response(200, json=_success_without_results()))
    with sync_client() as client, pytest.raises(JobResultsMissingError) as sync_err:
        client.v2.teacher_evaluations.wait(DONE_EVAL)
    async with async_client() as aclient:
        with pytest.raises(JobResultsMissingError) as async_err:
            await aclient.v2.teacher_evaluations.wait(DONE_EVAL)
    for err in (sync_err.value, async_err.value):
        assert isinstance(err, JobNotFinishedError)  # one except catches every "no results"
        assert err.job_id == DONE_EVAL and DONE_EVAL in str(err)
        assert "JOB_SUCCESS" in str(err) and "`results` is null" in str(err)
        assert err.platform_message == f"Teacher evaluation succeeded: {DONE_EVAL}"


def _status_file() -> str:
    return "2025-06-30-teacher-evaluation-status.json"


@respx.mock
async def test_v2_evaluation_results_need_the_tuned_student() -> None:
    route = respx.get(f"{BASE}/trainings/{DONE_TRAINING}/evaluation-results")
    answer = recorded("2025-06-30-training-evaluation-results.json")
    route.mock(return_value=httpx.Response(200, json=answer))
    with sync_client() as client:
        results = client.v2.trainings.evaluation_results(DONE_TRAINING)
    assert isinstance(results, CompletedEvaluationResults)
    assert results.student_tuned.to_report() == answer["evaluation_results"]["student-tuned"]

    partial = copy.deepcopy(answer)
    del partial["evaluation_results"]["student-tuned"]
    route.mock(return_value=httpx.Response(200, json=partial))
    with sync_client() as client, pytest.raises(JobResultsMissingError) as err:
        client.v2.trainings.evaluation_results(DONE_TRAINING)
    assert err.value.job_id == DONE_TRAINING and "'student-tuned'" in str(err.value)
    assert "['student-base', 'teacher']" in str(err.value)

    route.mock(
        return_value=httpx.Response(
            200, json=recorded("2025-05-14-training-evaluation-results-not-ready.json")
        )
    )
    async with async_client() as aclient:
        with pytest.raises(JobNotFinishedError) as unfinished:
            await aclient.v2.trainings.evaluation_results(DONE_TRAINING)
    assert not isinstance(unfinished.value, JobResultsMissingError)


NULL_METRICS = {"teacher_performance": None, "predictions_download_url": None}


@pytest.mark.parametrize(
    ("status", "error", "says"),
    [
        ("JOB_RUNNING", JobNotFinishedError, "client.teacher_evaluations.wait('te1')"),
        ("JOB_FAILURE", JobNotFinishedError, "client.teacher_evaluations.logs('te1') says why"),
        ("JOB_SUCCESS", JobResultsMissingError, "succeeded but its metrics have no"),
    ],
)
@respx.mock
async def test_current_results_say_why_they_are_missing(
    status: str, error: type[JobNotFinishedError], says: str
) -> None:
    respx.get(f"{BASE}/teacher-evaluations/te1/metrics").mock(
        return_value=httpx.Response(200, json=NULL_METRICS)
    )
    respx.get(f"{BASE}/teacher-evaluations/te1/status").mock(
        return_value=httpx.Response(200, json={"status": status, "message": "said so"})
    )
    with sync_client() as client, pytest.raises(error) as sync_err:
        client.teacher_evaluations.results("te1")
    async with async_client() as aclient:
        with pytest.raises(error) as async_err:
            await aclient.teacher_evaluations.results("te1")
    for err in (sync_err.value, async_err.value):
        assert type(err) is error and err.job_id == "te1"
        assert says in str(err) and "teacher_performance" in str(err)
        assert err.platform_message == "said so" and err.record.status == status


# ------------------------------------------------------------------ mypy --strict

PROBE = """\
from distil_sdk import DistilClient


def probe(client: DistilClient, job_id: str) -> None:
    client.teacher_evaluations.metrics(job_id).teacher_performance.accuracy
    client.slms.metrics(job_id).tuned_model_performance.accuracy
    client.v2.teacher_evaluations.get(job_id).results.accuracy
"""


@pytest.mark.slow
def test_mypy_strict_accepts_completed_results_and_flags_optional_ones(tmp_path: Path) -> None:
    """``tests/typecheck/results_types.py`` passes; the Optional reads in PROBE are flagged, so
    the check can fail (a probe mypy accepted would prove nothing)."""
    pytest.importorskip("mypy")
    probe = tmp_path / "optional_results_probe.py"
    probe.write_text(PROBE)
    checked = ROOT / "tests" / "typecheck" / "results_types.py"
    # From the repository root: pyproject's [tool.mypy] (strict) applies and its cache is reused.
    run = subprocess.run(
        [sys.executable, "-m", "mypy", str(checked), str(probe)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=900,
    )
    errors = [line for line in run.stdout.splitlines() if ": error:" in line]
    assert not [e for e in errors if "results_types.py" in e], run.stdout
    flagged = sorted(int(e.split(":")[1]) for e in errors if "optional_results_probe.py" in e)
    assert flagged == [5, 6, 7], run.stdout + run.stderr
    assert all('Item "None" of "Metrics | None"' in e for e in errors), run.stdout
