"""The hosted platform's real answers (``fixtures/platform/recorded/``) parse, and every client
method on their routes returns a typed result or a typed ``DistilError`` carrying the platform's
message - never a parse failure. Served through respx, sync and async."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx
from pydantic import BaseModel

from distil_sdk import (
    DistilError,
    InternalServerError,
    JobNotFinishedError,
    JobStatus,
)
from distil_sdk.types.jobs import (
    EvaluationResults,
    JobStage,
    ModelDownload,
    TeacherEvaluation,
    TeacherEvaluationStatus,
    Training,
    TrainingStatus,
    Upload,
)
from test_client_support import BASE, FakeTime, async_client, sync_client

RECORDED = Path(__file__).parent / "fixtures" / "platform" / "recorded"

#: Every recorded file and the model of its route (None: an error body).
MODELS: dict[str, type[BaseModel] | None] = {
    "2025-05-14-create-teacher-evaluation.json": TeacherEvaluation,
    "2025-05-14-create-training.json": Training,
    "2025-05-14-teacher-evaluation-status-running.json": TeacherEvaluationStatus,
    "2025-05-14-training-evaluation-results-not-ready.json": EvaluationResults,
    "2025-05-14-training-model-not-ready.json": ModelDownload,
    "2025-05-14-training-status.json": TrainingStatus,
    "2025-06-30-create-teacher-evaluation.json": TeacherEvaluation,
    "2025-06-30-create-training.json": Training,
    "2025-06-30-error-500.json": None,
    "2025-06-30-teacher-evaluation-status.json": TeacherEvaluationStatus,
    "2025-06-30-training-evaluation-results.json": EvaluationResults,
    "2025-06-30-training-model.json": ModelDownload,
    "2025-06-30-upload.json": Upload,
}

RUNNING_EVAL = "b18808b5-364b-491a-9488-3b70e7a88c12"
DONE_EVAL = "27b94a73-e2c2-48a8-8125-afaa2d6ffc24"
RUNNING_TRAINING = "7f1e7be5-58f0-434e-81a6-c6ac5322346c"
UNFINISHED_TRAINING = "a8a6f99f-e4ba-4e52-a57c-69aca0c5ef03"
DONE_TRAINING = "0f837410-d2ec-48e8-8c00-2cf5dcb3c46d"
NOT_COMPLETED = "Training not completed successfully"


def recorded(name: str) -> Any:
    return json.loads((RECORDED / name).read_text())


def test_every_recorded_file_is_covered() -> None:
    assert sorted(p.name for p in RECORDED.glob("*.json")) == sorted(MODELS)
    assert (RECORDED / "README.md").read_text().count("distil-labs/distil-labs-examples") == 1


@pytest.mark.parametrize("name", [n for n, m in MODELS.items() if m is not None])
def test_each_recorded_answer_parses_into_its_model(name: str) -> None:
    model = MODELS[name]
    assert model is not None
    data = recorded(name)
    parsed = model.model_validate(data)
    # One id, whatever the platform calls it.
    ident = data.get("id") or data.get("teacher_evaluation_id") or data.get("training_id")
    assert getattr(parsed, "id") == ident  # noqa: B009 - every model here has an id
    # Nothing the platform sent is left undeclared (unknown fields would land in extras).
    assert not parsed.model_extra, parsed.model_extra


def test_status_shapes_in_detail() -> None:
    training = TrainingStatus.model_validate(recorded("2025-05-14-training-status.json"))
    assert training.status is JobStatus.RUNNING and training.end_time is None
    assert [(t.name, t.status) for t in training.tasks] == [
        (JobStage.EVALUATE_TEACHER, JobStatus.SUCCESS),
        (JobStage.GENERATE_SYNTHETIC_DATA, JobStatus.SUCCESS),
        (JobStage.FINETUNE_STUDENT, JobStatus.PENDING),
    ]
    running = TeacherEvaluationStatus.model_validate(
        recorded("2025-05-14-teacher-evaluation-status-running.json")
    )
    assert running.results is None and running.logs and "Runtime env" in running.logs
    assert "Runtime env" not in repr(running) and "Runtime env" not in str(running)
    done = TeacherEvaluationStatus.model_validate(
        recorded("2025-06-30-teacher-evaluation-status.json")
    )
    assert done.results is not None and done.results.accuracy is None
    assert (done.results.binary, done.results.llm_as_a_judge) == (0.0, 0.1836734694)
    assert (done.results.meteor, done.results.rouge) == (0.3037039054, 0.7890097385)
    assert (
        done.results.to_report() == recorded("2025-06-30-teacher-evaluation-status.json")["results"]
    )


# ------------------------------------------------------------------ through the client


def _mock(path: str, name: str, status: int = 200) -> respx.Route:
    return respx.get(BASE + path).mock(return_value=httpx.Response(status, json=recorded(name)))


@respx.mock
async def test_create_routes_return_typed_records(monkeypatch: pytest.MonkeyPatch) -> None:
    import distil_sdk.resources.v2.uploads as uploads

    monkeypatch.setattr(uploads, "upload_payload", lambda data: dict(data))
    for name in (
        "2025-05-14-create-teacher-evaluation.json",
        "2025-06-30-create-teacher-evaluation.json",
    ):
        respx.post(f"{BASE}/models/m1/teacher-evaluations").mock(
            return_value=httpx.Response(200, json=recorded(name))
        )
        with sync_client() as client:
            evaluation = client.v2.teacher_evaluations.create("m1", "u1")
        async with async_client() as aclient:
            assert (await aclient.v2.teacher_evaluations.create("m1", "u1")) == evaluation
        assert evaluation.id == recorded(name)["id"] and evaluation.upload_id
    for name in ("2025-05-14-create-training.json", "2025-06-30-create-training.json"):
        respx.post(f"{BASE}/models/m1/training").mock(
            return_value=httpx.Response(200, json=recorded(name))
        )
        with sync_client() as client:
            assert client.v2.trainings.create("m1", "u1").id == recorded(name)["id"]
    respx.post(f"{BASE}/models/m1/uploads").mock(
        return_value=httpx.Response(200, json=recorded("2025-06-30-upload.json"))
    )
    with sync_client() as client:
        assert (
            client.v2.uploads.create("m1", {"x": 1}).id == recorded("2025-06-30-upload.json")["id"]
        )


@respx.mock
async def test_teacher_evaluation_status_and_predictions() -> None:
    _mock(
        f"/teacher-evaluations/{RUNNING_EVAL}/status",
        "2025-05-14-teacher-evaluation-status-running.json",
    )
    _mock(f"/teacher-evaluations/{DONE_EVAL}/status", "2025-06-30-teacher-evaluation-status.json")
    # The predictions file of the current generation: prompt/completion rows.
    rows = [
        {"prompt": "Who wrote it?", "completion": "Ann", "prediction": "Ann", "rouge": 1.0},
        {"prompt": "When?", "completion": "1999", "prediction": "2001", "rouge": 0.0},
    ]
    s3 = respx.get(
        url__startswith="https://distil-labs-prod-backend-data.s3.amazonaws.com/teacher-evaluations/"
    ).mock(return_value=httpx.Response(200, text=json.dumps(rows)))
    with sync_client() as client:
        running = client.v2.teacher_evaluations.get(RUNNING_EVAL)
        assert running.id == RUNNING_EVAL and running.status is JobStatus.RUNNING
        with pytest.raises(JobNotFinishedError, match="Teacher evaluation running") as info:
            client.v2.teacher_evaluations.predictions(RUNNING_EVAL)
        assert info.value.job_id == RUNNING_EVAL
        done = client.v2.teacher_evaluations.wait(DONE_EVAL)
        assert done.results is not None and done.results.rouge == 0.7890097385
        predictions = client.v2.teacher_evaluations.predictions(DONE_EVAL)
    async with async_client() as aclient:
        assert (await aclient.v2.teacher_evaluations.get(DONE_EVAL)) == done
        with pytest.raises(JobNotFinishedError):
            await aclient.v2.teacher_evaluations.predictions(RUNNING_EVAL)
    assert [(p.input, p.expected, p.prediction) for p in predictions] == [
        ("Who wrote it?", "Ann", "Ann"),
        ("When?", "1999", "2001"),
    ]
    assert "authorization" not in s3.calls.last.request.headers  # presigned: no token


@respx.mock
async def test_training_status_wait_with_progress_on_the_recorded_object(
    capsys: pytest.CaptureFixture[str],
) -> None:
    running = recorded("2025-05-14-training-status.json")
    finished = json.loads(json.dumps(running))
    finished["status"]["dag"] = "JOB_SUCCESS"
    for task in finished["status"]["tasks"]:
        next(iter(task.values()))["status"] = "JOB_SUCCESS"
    route = respx.get(f"{BASE}/trainings/{RUNNING_TRAINING}/status")
    route.side_effect = [httpx.Response(200, json=running), httpx.Response(200, json=finished)]
    with sync_client() as client:
        done = client.v2.trainings.wait(RUNNING_TRAINING, progress=True)
    route.side_effect = [httpx.Response(200, json=running), httpx.Response(200, json=finished)]
    async with async_client() as aclient:
        assert (await aclient.v2.trainings.wait(RUNNING_TRAINING, progress=True)) == done
    assert done.status is JobStatus.SUCCESS
    err = capsys.readouterr().err
    prefix = f"training {RUNNING_TRAINING}:"
    assert err.count(f"{prefix} JOB_RUNNING [2/3 stages]") == 2
    assert err.count(f"{prefix} JOB_SUCCESS [3/3 stages]") == 2


@respx.mock
async def test_unfinished_results_and_model_raise_job_not_finished() -> None:
    _mock(
        f"/trainings/{UNFINISHED_TRAINING}/evaluation-results",
        "2025-05-14-training-evaluation-results-not-ready.json",
    )
    _mock(f"/trainings/{RUNNING_TRAINING}/model", "2025-05-14-training-model-not-ready.json")
    with sync_client() as client:
        with pytest.raises(JobNotFinishedError, match=NOT_COMPLETED) as info:
            client.v2.trainings.evaluation_results(UNFINISHED_TRAINING)
        assert info.value.job_id == UNFINISHED_TRAINING
        assert info.value.platform_message and NOT_COMPLETED in info.value.platform_message
        with pytest.raises(JobNotFinishedError, match=NOT_COMPLETED):
            client.v2.trainings.predictions(UNFINISHED_TRAINING)
        with pytest.raises(JobNotFinishedError, match=RUNNING_TRAINING):
            client.v2.trainings.download_model(RUNNING_TRAINING, progress=False)
    async with async_client() as aclient:
        with pytest.raises(JobNotFinishedError, match=NOT_COMPLETED):
            await aclient.v2.trainings.evaluation_results(UNFINISHED_TRAINING)
        with pytest.raises(JobNotFinishedError, match=NOT_COMPLETED):
            await aclient.v2.trainings.download_model(RUNNING_TRAINING, progress=False)


@respx.mock
async def test_finished_results_predictions_and_model(tmp_path: Path) -> None:
    _mock(
        f"/trainings/{DONE_TRAINING}/evaluation-results",
        "2025-06-30-training-evaluation-results.json",
    )
    _mock(f"/trainings/{DONE_TRAINING}/model", "2025-06-30-training-model.json")
    row = {"question": "q", "answer": "a", "prediction": "a", "scores": {"a": 0.9}}
    respx.get(url__regex=r".*/tuned-model/model-eval/metrics-eval-full\.json.*").mock(
        return_value=httpx.Response(200, text=json.dumps(row) + "\n" + json.dumps(row))
    )
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        info = tarfile.TarInfo("model/config.json")
        info.size = 2
        tar.addfile(info, io.BytesIO(b"{}"))
    respx.get(url__regex=r".*/finetune_student/output/model\.tar.*").mock(
        return_value=httpx.Response(200, content=buf.getvalue())
    )
    with sync_client() as client:
        results = client.v2.trainings.evaluation_results(DONE_TRAINING)
        assert results.id == DONE_TRAINING and results.student_tuned is not None
        assert results.student_tuned.llm_as_a_judge == 0.862745098
        assert results["teacher"].meteor == 0.834911442
        assert len(client.v2.trainings.predictions(DONE_TRAINING)) == 2
        with pytest.raises(JobNotFinishedError, match="'teacher' predictions"):
            client.v2.trainings.predictions(DONE_TRAINING, which="teacher")
        model_dir = client.v2.trainings.download_model(
            DONE_TRAINING, tmp_path / "s", progress=False
        )
    async with async_client() as aclient:
        assert (await aclient.v2.trainings.evaluation_results(DONE_TRAINING)) == results
        adir = await aclient.v2.trainings.download_model(
            DONE_TRAINING, tmp_path / "a", progress=False
        )
    assert (model_dir / "config.json").exists() and (adir / "config.json").exists()


@respx.mock
async def test_message_error_body_becomes_a_typed_error() -> None:
    route = _mock(f"/trainings/{DONE_TRAINING}/status", "2025-06-30-error-500.json", status=500)
    fake = FakeTime()
    with sync_client(fake) as client, pytest.raises(InternalServerError) as info:
        client.v2.trainings.get(DONE_TRAINING)
    assert info.value.message == "Internal Server Error" and info.value.status_code == 500
    assert route.call_count > 1  # a GET is retried on 500 before giving up
    async with async_client(fake) as aclient:
        with pytest.raises(DistilError, match="Internal Server Error"):
            await aclient.v2.trainings.get(DONE_TRAINING)
