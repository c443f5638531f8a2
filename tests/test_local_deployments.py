"""Deployments on the local platform, over loopback: ``client.deployments`` creates a real
model server process (``python -m distil_sdk.serving``) for an SLM, waits for it, calls it with
the ``openai`` client and its key, reads its log and deletes it; the 404 / 409 answers; the
server's close stops every deployment; a restart marks a deployment whose server is gone as
failed.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml

from _local_support import (
    LABELS,
    job_description,
    pid_alive,
    rows,
    running_server,
    use_fake_pipeline,
)
from distil_sdk import DistilClient
from distil_sdk._errors import NotFoundError
from distil_sdk.local.server import LocalServer

pytest.importorskip("openai")


def _stage(api: httpx.Client, route: str, files: dict[str, bytes]) -> dict[str, str]:
    urls = api.get(route).raise_for_status().json()
    for key, content in files.items():
        httpx.put(urls[key], content=content).raise_for_status()
    return {key: urls[key] for key in files}


@pytest.fixture(scope="module")
def model_tar(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    from distil_sdk.local._jobs.packaging import package_model
    from tiny_models import build_tiny_bert

    folder = tmp_path_factory.mktemp("model")
    tar = package_model(build_tiny_bert(folder / "model", LABELS), folder / "model.tar")
    return tar.read_bytes()


def upload_slm(api: httpx.Client, tar: bytes) -> str:
    """An SLM registered from a staged tiny model (``POST /slms``): ready at once."""
    config = yaml.safe_dump({"tuning": {}, "evaluation": {}}).encode()
    staged = _stage(api, "/staging-slms-s3-urls", {"model_tar": tar, "config_yaml": config})
    created = api.post(
        "/slms", json={"model": staged["model_tar"], "config": staged["config_yaml"]}
    )
    assert created.status_code == 201, created.text
    return str(created.json()["id"])


@pytest.fixture
def platform(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[LocalServer, httpx.Client]]:
    use_fake_pipeline(monkeypatch, tmp_path)  # also clears $DISTIL_API_KEY
    with running_server(tmp_path / "data") as pair:
        yield pair


def _pid(server: LocalServer, deployment_id: str) -> int:
    """The deployment's server process, as the platform recorded it."""
    with sqlite3.connect(server.data_dir / "distil.db") as conn:
        row = conn.execute("SELECT pid FROM deployments WHERE id = ?", (deployment_id,)).fetchone()
    return int(row[0])


def test_the_deployment_lifecycle_through_the_client(
    platform: tuple[LocalServer, httpx.Client], model_tar: bytes
) -> None:
    import openai

    server, api = platform
    slm_id = upload_slm(api, model_tar)
    with DistilClient(base_url=server.base_url, api_key=server.token) as client:
        deployment = client.deployments.create(slm_id)
        assert deployment.slm_id == slm_id
        assert deployment.deployment_status == "JOB_RUNNING"
        assert deployment.endpoint_status == "starting"

        status = client.deployments.wait(deployment.id, poll_interval=0.1, timeout=120)
        assert (status.deployment_status, status.endpoint_status) == ("JOB_SUCCESS", "running")
        endpoint = client.deployments.endpoint(deployment.id)
        assert endpoint.url is not None and endpoint.api_key is not None
        key = endpoint.api_key.get_secret_value()
        assert key not in repr(endpoint) and key not in client.deployments.logs(deployment.id).text

        # The hosted answer's url takes `/v1` for OpenAI clients (deployment.md).
        llm = openai.OpenAI(base_url=f"{endpoint.url}/v1", api_key=key, max_retries=0)
        answer = llm.chat.completions.create(
            model=slm_id, messages=[{"role": "user", "content": "my card was charged twice"}]
        )
        assert answer.choices[0].message.content in LABELS
        with pytest.raises(openai.AuthenticationError):
            openai.OpenAI(
                base_url=f"{endpoint.url}/v1", api_key="wrong", max_retries=0
            ).models.list()

        logs = client.deployments.logs(deployment.id).text
        assert f"serving {slm_id} at {endpoint.url}" in logs

        pid = _pid(server, deployment.id)
        assert pid_alive(pid)
        client.deployments.delete(deployment.id)
        status = client.deployments.status(deployment.id)
        # As on the platform: the job stays a success, the endpoint reads stopped.
        assert (status.deployment_status, status.endpoint_status) == ("JOB_SUCCESS", "stopped")
        assert not pid_alive(pid)
        assert client.deployments.endpoint(deployment.id).url is None
        client.deployments.delete(deployment.id)  # idempotent


def test_unknown_and_unfinished_slms_and_unknown_deployments(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    gate = use_fake_pipeline(monkeypatch, tmp_path)  # no gate: a training job blocks
    with running_server(tmp_path / "data") as (server, api):
        response = api.post("/deployments/from-slms", json={"from": "no-such-slm"})
        assert response.status_code == 404 and "no-such-slm" in response.json()["message"]

        files = {
            "config_yaml": yaml.safe_dump({"tuning": {}, "evaluation": {}}).encode(),
            "job_description_json": json.dumps(job_description()).encode(),
            "train_data_jsonl": _chat(rows("train", 10)),
            "test_data_jsonl": _chat(rows("test", 4)),
        }
        staged = _stage(api, "/staging-datasets-s3-urls", files)
        fields = {"config_yaml": "config", "job_description_json": "job_description"}
        fields |= {"train_data_jsonl": "train_data", "test_data_jsonl": "test_data"}
        body = {fields[key]: url for key, url in staged.items()}
        dataset_id = api.post("/datasets", json=body).raise_for_status().json()["id"]
        slm_id = api.post("/slms/from-datasets", json={"from": dataset_id}).json()["id"]
        response = api.post("/deployments/from-slms", json={"from": slm_id})
        assert response.status_code == 409, response.text
        assert "JOB_SUCCESS" in response.json()["message"]
        gate.touch()

        with DistilClient(base_url=server.base_url, api_key=server.token) as client:
            for call in (
                client.deployments.status,
                client.deployments.endpoint,
                client.deployments.logs,
                client.deployments.delete,
            ):
                with pytest.raises(NotFoundError, match="no-such-deployment"):
                    call("no-such-deployment")


def _chat(data: list[tuple[str, str]]) -> bytes:
    lines = [
        json.dumps(
            {"messages": [{"role": "user", "content": t}, {"role": "assistant", "content": a}]}
        )
        for t, a in data
    ]
    return ("\n".join(lines) + "\n").encode()


def test_closing_the_platform_stops_its_deployments_and_a_restart_fails_lost_ones(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, model_tar: bytes
) -> None:
    use_fake_pipeline(monkeypatch, tmp_path)
    data = tmp_path / "data"
    with running_server(data) as (server, api):
        slm_id = upload_slm(api, model_tar)
        first = api.post("/deployments/from-slms", json={"from": slm_id}).json()["id"]
        second = api.post("/deployments/from-slms", json={"from": slm_id}).json()["id"]
        pids = [_pid(server, first), _pid(server, second)]
        assert all(pid_alive(pid) for pid in pids)
    # Closed: every server stopped, and recorded so.
    assert not any(pid_alive(pid) for pid in pids)
    with running_server(data) as (server, api):
        for deployment_id in (first, second):
            status = api.get(f"/deployments/{deployment_id}/status").json()
            assert status["endpoint_status"] == "stopped"
            assert status["deployment_status"] in ("JOB_STOPPED", "JOB_SUCCESS")

        # A deployment recorded live whose server is gone (the platform crashed, and the model
        # server died too) is marked failed at the next start.
        third = api.post("/deployments/from-slms", json={"from": slm_id}).json()["id"]
        pid = _pid(server, third)
    # The close above stopped it; record it live again, as a crashed platform leaves it.
    with sqlite3.connect(data / "distil.db") as conn:
        conn.execute(
            "UPDATE deployments SET endpoint_status = 'running', deployment_status = 'JOB_SUCCESS'"
            " WHERE id = ?",
            (third,),
        )
    assert not pid_alive(pid)
    with running_server(data) as (server, api):
        status = api.get(f"/deployments/{third}/status").json()
        assert status["endpoint_status"] == "failed"
        assert "create the deployment again" in status["message"]
        assert "create the deployment again" in api.get(f"/deployments/{third}/logs").json()["logs"]


def test_a_server_that_exits_before_serving_fails_the_deployment_with_its_log(
    platform: tuple[LocalServer, httpx.Client], model_tar: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    from distil_sdk._errors import JobFailedError
    from distil_sdk.local._jobs.deployments import SERVING_MODULE_ENV

    server, api = platform
    slm_id = upload_slm(api, model_tar)
    # A module that does not exist: the child python exits 1 at once, naming it on stderr.
    monkeypatch.setenv(SERVING_MODULE_ENV, "no_such_serving_module")
    with DistilClient(base_url=server.base_url, api_key=server.token) as client:
        deployment = client.deployments.create(slm_id)
        with pytest.raises(JobFailedError, match="no_such_serving_module"):
            client.deployments.wait(deployment.id, poll_interval=0.1, timeout=60)
        status = client.deployments.status(deployment.id)
        assert (status.deployment_status, status.endpoint_status) == ("JOB_FAILURE", "failed")
        assert "exited with code 1 before it served" in (status.message or "")
        assert client.deployments.endpoint(deployment.id).url is None
