"""The local platform server over loopback with real SQLite and job subprocesses (fake pipeline)."""

from __future__ import annotations

import io
import stat
import tarfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest

from _local_support import (
    pid_alive,
    rows,
    running_server,
    upload_payload,
    use_fake_pipeline,
    wait_for,
    wait_status,
)
from distil_sdk.local._api.auth import check_authorization, load_or_create_token, sign_artifact_path
from distil_sdk.local.server import LocalServer
from distil_sdk.types.jobs import TrainingStatus


@pytest.fixture
def gate(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    return use_fake_pipeline(monkeypatch, tmp_path)


@pytest.fixture
def server(gate: Path, tmp_path: Path) -> Iterator[tuple[LocalServer, httpx.Client]]:
    with running_server(tmp_path / "data") as running:
        yield running


def _wait_training(client: httpx.Client, job_id: str, *statuses: str) -> dict[str, Any]:
    """The raw status answer once its overall status (the object's ``dag``) is in ``statuses``."""

    def reached() -> dict[str, Any] | None:
        answer = client.get(f"/trainings/{job_id}/status").json()
        return answer if TrainingStatus.model_validate(answer).status in statuses else None

    return wait_for(reached, 180, f"training {job_id} to reach {statuses}")


def _upload(client: httpx.Client) -> tuple[str, str]:
    model = client.post("/models", json={"name": "triage"}).json()
    upload = client.post(f"/models/{model['id']}/uploads", json=upload_payload())
    assert upload.status_code == 201, upload.text
    return model["id"], upload.json()["id"]


def test_auth_refuses_missing_and_wrong_tokens_and_accepts_bare(
    server: tuple[LocalServer, httpx.Client],
) -> None:
    srv, _ = server
    with httpx.Client(base_url=srv.base_url) as anon:
        assert anon.get("/models").status_code == 401
        assert anon.get("/models", headers={"Authorization": "Bearer nope"}).status_code == 401
        assert (
            anon.get("/models", headers={"Authorization": f"Basic {srv.token}"}).status_code == 401
        )
        assert anon.get("/models", headers={"Authorization": srv.token}).status_code == 200
        assert (
            anon.get("/models", headers={"Authorization": f"bearer {srv.token}"}).status_code == 200
        )
        assert anon.get("/openapi.json").json()["paths"]["/models/{model_id}/uploads"]
    token_file = srv.data_dir / "token"
    assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
    assert token_file.read_text() == srv.token
    assert srv.token not in repr(srv)


def test_token_from_env_is_not_written(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("DISTIL_API_KEY", "env-secret")
    assert load_or_create_token(tmp_path) == "env-secret"
    assert not (tmp_path / "token").exists()
    assert check_authorization("Bearer env-secret", "env-secret")
    assert not check_authorization("Bearer env-secret2", "env-secret")
    assert not check_authorization(None, "env-secret")


def test_models_create_list_get_delete(server: tuple[LocalServer, httpx.Client]) -> None:
    _, client = server
    created = client.post("/models", json={"name": "first"})
    assert created.status_code == 201
    model = created.json()
    assert model["name"] == "first" and model["id"] and model["created_at"]
    assert [m["id"] for m in client.get("/models").json()["models"]] == [model["id"]]
    assert client.get(f"/models/{model['id']}").json()["name"] == "first"
    assert client.post("/models", json={"name": "x", "extra": 1}).status_code == 422
    assert client.delete(f"/models/{model['id']}").status_code == 204
    missing = client.get(f"/models/{model['id']}")
    assert missing.status_code == 404 and model["id"] in missing.json()["message"]


def test_bad_upload_is_rejected_with_findings(server: tuple[LocalServer, httpx.Client]) -> None:
    _, client = server
    model_id = client.post("/models", json={"name": "m"}).json()["id"]
    bad_rows = [*rows("train", 10), ("a message about the weather", "weather")]
    response = client.post(f"/models/{model_id}/uploads", json=upload_payload(train=bad_rows))
    assert response.status_code == 422
    body = response.json()
    assert isinstance(body["message"], str) and body["findings"]
    assert any(f["severity"] == "error" and f["file"].startswith("train") for f in body["findings"])
    assert list((server[0].data_dir / "uploads").iterdir()) == []  # nothing stored

    malformed = client.post(
        f"/models/{model_id}/uploads", json={"train_data": {"type": "csv", "content": ""}}
    )
    assert malformed.status_code == 422 and "job_description" in malformed.json()["message"]


def test_teacher_evaluation_lifecycle_and_signed_urls(
    server: tuple[LocalServer, httpx.Client], gate: Path
) -> None:
    srv, client = server
    model_id, upload_id = _upload(client)
    assert client.get(f"/uploads/{upload_id}/status").json()["status"] == "JOB_SUCCESS"

    started = client.post(f"/models/{model_id}/teacher-evaluations", json={"upload_id": upload_id})
    assert started.status_code == 201
    job_id = started.json()["id"]
    assert started.json()["upload_id"] == upload_id and started.json()["started_at"]
    running = wait_for(
        lambda: (s := client.get(f"/teacher-evaluations/{job_id}/status").json())["tasks"] and s,
        what="the first stage report",
    )
    assert running["status"] == "JOB_RUNNING" and running["teacher_evaluation_id"] == job_id
    # Stages in the platform's form: [{"<stage>": {"status", "reason"}}]
    assert [next(iter(t)) for t in running["tasks"]] == ["load", "teacher-evaluation"]
    assert running["tasks"][0]["load"]["status"] == "JOB_RUNNING"
    # Not done yet: as on the platform, no results and an empty predictions link.
    assert running["results"] is None and running["evaluation_predictions_download_url"] == ""

    gate.touch()
    done = wait_status(client, "teacher", job_id, "JOB_SUCCESS", "JOB_FAILURE")
    assert done["status"] == "JOB_SUCCESS", done["message"]
    assert done["results"]["accuracy"] == 1.0
    assert all(state["status"] == "JOB_SUCCESS" for t in done["tasks"] for state in t.values())

    url = done["evaluation_predictions_download_url"]
    assert url.startswith(srv.base_url + "/artifacts/")
    predictions = httpx.get(url)  # presigned: no auth header
    assert predictions.status_code == 200
    assert len(predictions.text.splitlines()) == 12

    parts = urlsplit(url)
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    tampered = {**query, "signature": "0" * len(query["signature"])}
    assert httpx.get(f"{srv.base_url}{parts.path}?{urlencode(tampered)}").status_code == 403
    longer = {**query, "expires": str(int(query["expires"]) + 1000)}
    assert httpx.get(f"{srv.base_url}{parts.path}?{urlencode(longer)}").status_code == 403
    assert httpx.get(f"{srv.base_url}{parts.path}").status_code == 403
    expired = sign_artifact_path(srv.token, job_id, "evaluation-predictions.jsonl", now=0)
    assert httpx.get(srv.base_url + expired).status_code == 403
    other = sign_artifact_path(srv.token, job_id, "model.tar")
    assert httpx.get(srv.base_url + other).status_code == 404


def test_training_results_and_model_tar_with_range(
    server: tuple[LocalServer, httpx.Client], gate: Path
) -> None:
    srv, client = server
    gate.touch()
    model_id, upload_id = _upload(client)
    job_id = client.post(f"/models/{model_id}/training", json={"upload_id": upload_id}).json()["id"]
    early = client.get(f"/trainings/{job_id}/model")
    assert early.status_code == 200  # as on the platform: 200 with s3_url null until done
    assert early.json()["s3_url"] or "not completed" in early.json()["message"]
    done = _wait_training(client, job_id, "JOB_SUCCESS", "JOB_FAILURE")
    assert done["status"]["dag"] == "JOB_SUCCESS", done["message"]
    assert done["training_id"] == job_id and done["status"]["end_time"]
    assert [next(iter(t)) for t in done["status"]["tasks"]][-1] == "export"

    results = client.get(f"/trainings/{job_id}/evaluation-results").json()
    assert set(results["evaluation_results"]) == {"teacher", "student-base", "student-tuned"}
    assert (
        httpx.get(results["finetuned_student_evaluation_predictions_download_url"]).status_code
        == 200
    )
    assert httpx.get(results["base_student_evaluation_predictions_download_url"]).status_code == 200

    model = client.get(f"/trainings/{job_id}/model").json()
    assert model["training_id"] == job_id
    full = httpx.get(model["s3_url"])
    assert full.status_code == 200 and full.headers["accept-ranges"] == "bytes"
    with tarfile.open(fileobj=io.BytesIO(full.content)) as archive:
        names = archive.getnames()
    assert all(n == "model" or n.startswith("model/") for n in names)
    assert {"model/config.json", "model/model.safetensors", "model/training-logs.json"} <= set(
        names
    )

    size = len(full.content)
    head = httpx.get(model["s3_url"], headers={"Range": "bytes=0-99"})
    tail = httpx.get(model["s3_url"], headers={"Range": "bytes=100-"})
    assert head.status_code == tail.status_code == 206
    assert head.headers["content-range"] == f"bytes 0-99/{size}"
    assert head.content + tail.content == full.content
    assert not list((srv.data_dir / "jobs" / job_id).glob("work"))  # scratch removed


def test_stop_running_job_kills_its_process(
    server: tuple[LocalServer, httpx.Client], tmp_path: Path
) -> None:
    _, client = server
    model_id, upload_id = _upload(client)
    first = client.post(f"/models/{model_id}/training", json={"upload_id": upload_id}).json()["id"]
    queued = client.post(
        f"/models/{model_id}/teacher-evaluations", json={"upload_id": upload_id}
    ).json()["id"]
    pidfile = tmp_path / "job.pid"
    pid = int(wait_for(lambda: pidfile.exists() and pidfile.read_text(), what="the job's pid"))
    assert client.get(f"/trainings/{first}/status").json()["status"]["dag"] == "JOB_RUNNING"

    pending = client.post(f"/teacher-evaluations/{queued}/cancel").json()
    assert pending["status"] == "JOB_STOPPED"
    stopped = client.post(f"/trainings/{first}/cancel")
    assert stopped.status_code == 200
    body = stopped.json()
    assert body["status"]["dag"] == "JOB_STOPPED" and "stopped" in body["message"]
    assert all(s["status"] != "JOB_RUNNING" for t in body["status"]["tasks"] for s in t.values())
    wait_for(lambda: not pid_alive(pid), 10, "the job process to exit")
    again = client.post(f"/trainings/{first}/cancel").json()  # idempotent
    assert again["status"]["dag"] == "JOB_STOPPED"
    results = client.get(f"/trainings/{first}/evaluation-results")
    # As on the platform: HTTP 200, `evaluation_results: null` and a message naming the job.
    assert results.status_code == 200 and results.json()["evaluation_results"] is None
    assert first in results.json()["message"]


def test_failing_pipeline_reports_its_message(
    server: tuple[LocalServer, httpx.Client], gate: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, client = server
    gate.touch()
    monkeypatch.setenv("FAKE_PIPELINE_FAIL", "the teacher could not load its encoder")
    model_id, upload_id = _upload(client)
    job_id = client.post(
        f"/models/{model_id}/teacher-evaluations", json={"upload_id": upload_id}
    ).json()["id"]
    failed = wait_status(client, "teacher", job_id, "JOB_FAILURE", "JOB_SUCCESS")
    assert failed["status"] == "JOB_FAILURE"
    assert "the teacher could not load its encoder" in failed["message"]
    assert "Traceback" in failed["message"]  # stderr tail


def test_deployment_routes_answer_501(server: tuple[LocalServer, httpx.Client]) -> None:
    _, client = server
    for method in ("POST", "GET", "DELETE"):
        response = client.request(method, "/trainings/some-id/deployment")
        assert response.status_code == 501
        assert "LocalClassifier" in response.json()["message"]
    assert client.post("/models/nope/training", json={"upload_id": "x"}).status_code == 404
