"""Server restarts, crashes and attaching: no job is left running forever, pending ones resume."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from _local_support import (
    pid_alive,
    running_server,
    upload_payload,
    use_fake_pipeline,
    wait_for,
    wait_status,
)
from distil_sdk.local.server import ensure_local_server
from distil_sdk.local.store import RESTART_MESSAGE


def _queue_two_jobs(client: httpx.Client) -> tuple[str, str]:
    model_id = client.post("/models", json={"name": "m"}).json()["id"]
    upload_id = client.post(f"/models/{model_id}/uploads", json=upload_payload()).json()["id"]
    running = client.post(
        f"/models/{model_id}/teacher-evaluations", json={"upload_id": upload_id}
    ).json()["id"]
    pending = client.post(
        f"/models/{model_id}/teacher-evaluations", json={"upload_id": upload_id}
    ).json()["id"]
    return running, pending


def test_graceful_restart_fails_the_running_job_and_resumes_pending(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    gate = use_fake_pipeline(monkeypatch, tmp_path)
    data_dir = tmp_path / "data"
    with running_server(data_dir) as (_, client):
        running, pending = _queue_two_jobs(client)
        pid = int(
            wait_for(lambda: (tmp_path / "job.pid").exists() and (tmp_path / "job.pid").read_text())
        )
    # leaving the block stopped the server mid-job
    assert not pid_alive(pid)

    gate.touch()
    with running_server(data_dir) as (_, client):
        failed = client.get(f"/teacher-evaluations/{running}/status").json()
        assert failed["status"] == "JOB_FAILURE" and failed["message"] == RESTART_MESSAGE
        resumed = wait_status(client, "teacher", pending, "JOB_SUCCESS", "JOB_FAILURE")
        assert resumed["status"] == "JOB_SUCCESS", resumed["message"]


def test_crashed_server_leaves_no_job_running(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    use_fake_pipeline(monkeypatch, tmp_path)
    data_dir = tmp_path / "data"
    code = f"from distil_sdk.local.server import serve; serve(port=0, data_dir={str(data_dir)!r})"
    proc = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.DEVNULL)
    try:
        endpoint = wait_for(
            lambda: (
                (data_dir / "server.json").exists()
                and json.loads((data_dir / "server.json").read_text())
            )
        )
        assert endpoint["pid"] == proc.pid
        # Another process attaching to the data dir reuses that server instead of starting one.
        with ensure_local_server(data_dir) as handle:
            assert handle.base_url == f"http://127.0.0.1:{endpoint['port']}"
            client = httpx.Client(
                base_url=handle.base_url, headers={"Authorization": f"Bearer {handle.token}"}
            )
            running, _ = _queue_two_jobs(client)
            job_pid = int(
                wait_for(
                    lambda: (tmp_path / "job.pid").exists() and (tmp_path / "job.pid").read_text()
                )
            )
            client.close()
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
        # The orphaned job notices its server is gone and exits on its own.
        wait_for(lambda: not pid_alive(job_pid), 10, "the orphaned job to exit")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()

    (tmp_path / "gate").touch()
    with running_server(data_dir) as (_, client):  # stale server.json: the lock tells it is dead
        status = client.get(f"/teacher-evaluations/{running}/status").json()
        assert status["status"] == "JOB_FAILURE" and "start the job again" in status["message"]


def test_embedded_servers_are_shared_within_a_process(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    use_fake_pipeline(monkeypatch, tmp_path)
    first = ensure_local_server(tmp_path / "data")
    second = ensure_local_server(tmp_path / "data")
    try:
        assert first.base_url == second.base_url and first.token == second.token
        first.close()
        assert httpx.get(f"{second.base_url}/health").json()["status"] == "ok"
    finally:
        second.close()
    assert not (tmp_path / "data" / "server.json").exists()
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{second.base_url}/health")
