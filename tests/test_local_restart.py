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
    job_status,
    pid_alive,
    running_server,
    upload_payload,
    use_fake_pipeline,
    wait_for,
    wait_status,
)
from distil_sdk.local._storage.store import RESTART_MESSAGE, Store
from distil_sdk.local.server import LocalServer, ensure_local_server


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


def _job_pid(tmp_path: Path) -> int:
    """The pid the fake pipeline's job process wrote once it started."""
    pidfile = tmp_path / "job.pid"
    return int(wait_for(lambda: pidfile.exists() and pidfile.read_text()))


def _kill_9(server: subprocess.Popen[bytes], job_pid: int) -> None:
    """SIGKILL the server process; its orphaned job notices and exits on its own."""
    os.kill(server.pid, signal.SIGKILL)
    server.wait(10)
    wait_for(lambda: not pid_alive(job_pid), 10, "the orphaned job to exit")


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
            job_pid = _job_pid(tmp_path)
            client.close()
        _kill_9(proc, job_pid)
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


def test_kill_9_of_a_served_platform_mid_training_loses_nothing(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """``distil-sdk serve`` killed with SIGKILL while a training runs, restarted on its data dir."""
    gate = use_fake_pipeline(monkeypatch, tmp_path)
    gate.touch()
    data_dir = tmp_path / "data"
    cmd = [
        sys.executable,
        "-m",
        "distil_sdk.cli",
        "serve",
        "--port",
        "0",
        "--data-dir",
        str(data_dir),
    ]
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        endpoint = wait_for(
            lambda: (
                (data_dir / "server.json").exists()
                and json.loads((data_dir / "server.json").read_text())
            )
        )
        token = (data_dir / "token").read_text().strip()
        client = httpx.Client(
            base_url=f"http://127.0.0.1:{endpoint['port']}",
            headers={"Authorization": f"Bearer {token}"},
            timeout=30,
        )
        with client:
            model_id = client.post("/models", json={"name": "m"}).json()["id"]
            upload_id = client.post(f"/models/{model_id}/uploads", json=upload_payload()).json()[
                "id"
            ]
            done = client.post(
                f"/models/{model_id}/teacher-evaluations", json={"upload_id": upload_id}
            ).json()["id"]
            before = wait_status(client, "teacher", done, "JOB_SUCCESS")
            predictions = httpx.get(before["evaluation_predictions_download_url"]).content
            assert predictions

            gate.unlink()  # the training blocks in its first stage until we kill the server
            (tmp_path / "job.pid").unlink()
            training = client.post(
                f"/models/{model_id}/training", json={"upload_id": upload_id}
            ).json()["id"]
            job_pid = _job_pid(tmp_path)
            # Killed once the server has recorded the first stage as running: the pid file is
            # written before that report, and a kill between the two leaves no stage to fail.
            wait_for(
                lambda: job_status(client, "training", training)["message"].startswith("load"),
                30,
                "the training's first stage to be recorded",
            )
            work = data_dir / "jobs" / training / "work"
            assert work.is_dir()
        _kill_9(proc, job_pid)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert work.is_dir()  # what the killed job left behind

    with running_server(data_dir) as (_, client):
        # Nothing written before the crash is lost.
        assert client.get(f"/models/{model_id}").json()["upload_ids"] == [upload_id]
        assert client.get(f"/uploads/{upload_id}/status").status_code == 200
        after = client.get(f"/teacher-evaluations/{done}/status").json()
        assert after["status"] == "JOB_SUCCESS" and after["results"] == before["results"]
        assert httpx.get(after["evaluation_predictions_download_url"]).content == predictions
        # The training is failed with the restart message, its scratch is gone.
        failed = client.get(f"/trainings/{training}/status").json()
        assert failed["message"] == RESTART_MESSAGE
        assert not work.exists()
        assert not (data_dir / "jobs" / training / "artifacts").exists()
    store = Store(data_dir)
    try:
        job = store.get_job(training)
        assert job is not None and job["status"] == "JOB_FAILURE"
        stages = {task["name"]: task["status"] for task in job["tasks"]}
    finally:
        store.close()
    # Only the stage that was running failed; the ones that never ran did not.
    assert stages.pop("load") == "JOB_FAILURE"
    assert stages and set(stages.values()) == {"JOB_NOT_STARTED"}


# -- a job that finished while its server died ------------------------------------------------
def test_a_job_whose_result_outlived_its_server_is_recorded_as_finished(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The window a kill -9 can hit: the job published its result, the worker never recorded it.

    The job process is run exactly as the worker starts it, to its end; the server that would
    have read its exit is gone. The restarted server records it with its result; a job that
    published nothing is failed as abandoned.
    """
    use_fake_pipeline(monkeypatch, tmp_path).touch()
    data_dir = tmp_path / "data"
    server = LocalServer(data_dir, run_worker=False).start()
    try:
        client = httpx.Client(
            base_url=server.base_url, headers={"Authorization": f"Bearer {server.token}"}
        )
        with client:
            finished, cut_short = _queue_two_jobs(client)
    finally:
        server.close()

    store = Store(data_dir)
    try:
        for _ in range(2):  # what the worker records before it starts each job
            assert store.claim_next_pending() is not None
        store.set_stages(finished, ["load", "teacher-evaluation"])
        store.report_progress(finished, "load", "JOB_RUNNING", "reading the task")
        job = store.get_job(finished)
        assert job is not None
        job_dir = store.job_dir(finished)
        subprocess.run(
            [
                sys.executable,
                "-m",
                "distil_sdk.local._jobs.main",
                "--kind",
                "teacher_evaluation",
                "--upload-dir",
                str(store.upload_dir(job["upload_id"])),
                "--job-dir",
                str(job_dir),
            ],
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
    finally:
        store.close()
    published = (job_dir / "artifacts" / "evaluation-predictions.jsonl").read_bytes()
    result = json.loads((job_dir / "result.json").read_text())

    with running_server(data_dir) as (_, client):
        status = client.get(f"/teacher-evaluations/{finished}/status").json()
        assert status["status"] == "JOB_SUCCESS", status["message"]
        assert status["results"]["accuracy"] == result["results"]["accuracy"] == 1.0
        assert httpx.get(status["evaluation_predictions_download_url"]).content == published
        # Its last progress reports died with the server: the result says every stage ended.
        assert status["tasks"] == [
            {"load": {"status": "JOB_SUCCESS", "reason": "reading the task"}},
            {"teacher-evaluation": {"status": "JOB_SUCCESS", "reason": ""}},
        ]
        failed = client.get(f"/teacher-evaluations/{cut_short}/status").json()
        assert failed["status"] == "JOB_FAILURE" and failed["message"] == RESTART_MESSAGE


def _running_job(store: Store, kind: str = "teacher_evaluation") -> tuple[str, Path]:
    job_id = str(store.create_job(kind, "model", "upload")["id"])
    assert store.claim_next_pending() is not None
    job_dir = store.job_dir(job_id)
    (job_dir / "artifacts").mkdir(parents=True)
    (job_dir / "artifacts" / "predictions.jsonl").write_text("{}\n")
    return job_id, job_dir


_COMPLETE = {"results": {"accuracy": 1.0}, "artifacts": {"predictions": "predictions.jsonl"}}


@pytest.mark.parametrize(
    ("result_text", "recorded"),
    [
        (json.dumps(_COMPLETE), "JOB_SUCCESS"),
        (json.dumps(_COMPLETE)[:-5], "JOB_FAILURE"),  # truncated
        (json.dumps({**_COMPLETE, "artifacts": {"model": "model.tar"}}), "JOB_FAILURE"),
        (json.dumps({**_COMPLETE, "artifacts": {"p": "../../distil.db"}}), "JOB_FAILURE"),
        (json.dumps({"artifacts": _COMPLETE["artifacts"]}), "JOB_FAILURE"),  # no results
        (json.dumps([_COMPLETE]), "JOB_FAILURE"),
        (None, "JOB_FAILURE"),  # killed before it wrote any result
    ],
    ids=["complete", "truncated", "missing-artifact", "outside", "no-results", "list", "none"],
)
def test_only_a_complete_result_makes_an_abandoned_job_finished(
    tmp_path: Path, result_text: str | None, recorded: str
) -> None:
    store = Store(tmp_path / "data")
    try:
        job_id, job_dir = _running_job(store)
        if result_text is not None:
            (job_dir / "result.json").write_text(result_text)
        failed = store.fail_abandoned_jobs()
        job = store.get_job(job_id)
        assert job is not None and job["status"] == recorded
        if recorded == "JOB_SUCCESS":
            assert failed == [] and job["result"] == _COMPLETE and job["message"] == "done"
            assert (job_dir / "artifacts" / "predictions.jsonl").is_file()  # still served
        else:
            assert failed == [job_id] and job["result"] is None
            assert job["message"] == RESTART_MESSAGE
            assert not (job_dir / "artifacts").exists()
    finally:
        store.close()
