"""`distil-sdk train DIR` anywhere: offline by default, on a platform when given one.

Against the respx stand-in of the hosted platform (fast, every request visible), Ctrl-C during
a remote run (the job keeps running; the message names it and how to follow it), and end to end
against a real `distil-sdk serve` process running the fake pipeline as the "remote".
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from _current_platform import API, TOKEN, FakePlatform
from _local_support import csv_text, job_description, rows, use_fake_pipeline
from distil_sdk._client import AsyncDistilClient, DistilClient
from distil_sdk.cli import _platform, main
from distil_sdk.resources._train import TrainInterrupted
from distil_sdk.resources.slms import SLMs
from distil_sdk.resources.teacher_evaluations import AsyncTeacherEvaluations
from test_client_support import FakeTime
from test_current_client import make_bundle


@pytest.fixture(autouse=True)
def _env(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in (
        "DISTIL_USERNAME",
        "DISTIL_PASSWORD",
        "DISTIL_LOG",
        "DISTIL_TOKEN_COMMAND",
        "DISTIL_BASE_URL",
        "DISTIL_API_KEY",
    ):
        monkeypatch.delenv(var, raising=False)
    fake = FakeTime()
    monkeypatch.setattr(
        _platform,
        "DistilClient",
        functools.partial(DistilClient, _sleep=fake.sleep, _clock=fake.clock),
    )


def make_task(root: Path) -> Path:
    make_bundle().to_dir(root)  # two classes, 12 train and 6 test tickets
    return root


def _no_local(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Record (and refuse) any start of the embedded platform."""
    started: list[Any] = []

    def local(cls: Any, data_dir: Any = None, **kwargs: Any) -> Any:
        started.append(data_dir)
        raise AssertionError("the embedded platform was started")

    monkeypatch.setattr(DistilClient, "local", classmethod(local))
    return started


# ------------------------------------------------------------------------- on a platform (respx)


def test_train_on_a_platform_saves_the_same_folder_and_table(
    platform: FakePlatform,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    _no_local(monkeypatch)
    task = make_task(tmp_path / "task")
    out_dir = tmp_path / "out"
    argv = ["train", str(task), "--base-url", API, "--api-key", TOKEN, "-o", str(out_dir)]
    assert main(argv) == 0
    captured = capsys.readouterr()
    table = captured.out.splitlines()
    assert table[0].split() == ["model", "accuracy", "macro-F1"]
    assert table[1].split()[:2] == ["teacher", "0.900"]
    assert table[2].split()[:2] == ["student-base", "0.500"]
    assert table[3].split()[:2] == ["student-tuned", "0.900"]
    assert f"model saved to {out_dir}/" in captured.out
    assert f"training on {API}" in captured.err and "Ctrl-C stops waiting" in captured.err
    assert (out_dir / "model" / "config.json").exists() and (out_dir / "model_client.py").exists()
    assert platform.api_calls("POST", "/datasets") and platform.api_calls(
        "POST", "/slms/from-datasets"
    )

    # The model folder exists: refused without --force, before anything is sent.
    before = len(platform.calls)
    assert main(argv) == 2
    assert len(platform.calls) == before

    # --json: the summary alone on stdout, naming the platform and the ids.
    summary = json.loads(_run(capsys, [*argv, "--force", "--json"]))
    assert summary["platform"] == API and summary["slm_id"].startswith("slm-")
    assert summary["evaluation_results"]["student-tuned"]["accuracy"] == 0.9
    assert summary["model_dir"] == str(out_dir)


def _run(capsys: pytest.CaptureFixture[str], argv: list[str], code: int = 0) -> str:
    assert main(argv) == code, capsys.readouterr()
    return capsys.readouterr().out


@pytest.mark.parametrize(
    ("argv", "env"),
    [
        (["--base-url", API], {"DISTIL_API_KEY": TOKEN}),  # the key from the environment
        (["--api-key", TOKEN], {"DISTIL_BASE_URL": API}),
        ([], {"DISTIL_BASE_URL": API, "DISTIL_API_KEY": TOKEN}),  # the platform from the env
        (["--remote"], {"DISTIL_BASE_URL": API, "DISTIL_API_KEY": TOKEN}),
    ],
    ids=["base-url", "api-key", "env", "remote"],
)
def test_what_sends_a_run_to_a_platform(
    argv: list[str],
    env: dict[str, str],
    platform: FakePlatform,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    started = _no_local(monkeypatch)
    task = make_task(tmp_path / "task")
    out = _run(capsys, ["train", str(task), "-o", str(tmp_path / "m"), *argv])
    assert "student-tuned" in out and not started
    assert platform.api_calls("POST", "/datasets")


def test_offline_by_default_even_with_an_api_key_exported(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DISTIL_API_KEY", TOKEN)  # a key alone never spends hosted credits
    started = _no_local(monkeypatch)
    task = make_task(tmp_path / "task")
    with pytest.raises(AssertionError, match="embedded platform was started"):
        main(["train", str(task), "-o", str(tmp_path / "m")])
    assert started == [None]
    monkeypatch.setenv("DISTIL_BASE_URL", API)
    with pytest.raises(AssertionError, match="embedded platform was started"):
        main(["train", str(task), "-o", str(tmp_path / "m"), "--local", "--data-dir", "d"])
    assert started == [None, Path("d")]


def test_conflicting_places_are_usage_errors(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _no_local(monkeypatch)
    task = str(make_task(tmp_path / "task"))
    assert main(["train", task, "--local", "--base-url", API]) == 2
    assert "--local trains offline" in capsys.readouterr().err
    assert main(["train", task, "--base-url", API, "--data-dir", str(tmp_path / "d")]) == 2
    assert "--data-dir is the local platform's folder" in capsys.readouterr().err
    assert main(["train", task, "--local", "--remote"]) == 2
    monkeypatch.setenv("DISTIL_BASE_URL", API)
    assert main(["train", task, "-o", str(tmp_path / "m")]) == 2  # no credentials
    assert "No credentials" in capsys.readouterr().err


# ------------------------------------------------------------------------------------- Ctrl-C


def _interrupt_when(monkeypatch: pytest.MonkeyPatch, ready: Any) -> None:
    """Clients whose poll sleep raises KeyboardInterrupt once ``ready()``: Ctrl-C mid-wait."""
    fake = FakeTime()

    def sleep(seconds: float) -> None:
        if ready():
            raise KeyboardInterrupt
        fake.sleep(seconds)

    monkeypatch.setattr(
        _platform, "DistilClient", functools.partial(DistilClient, _sleep=sleep, _clock=fake.clock)
    )


@pytest.mark.parametrize("json_mode", [False, True], ids=["human", "json"])
def test_ctrl_c_during_a_remote_training_names_the_job_that_keeps_running(
    json_mode: bool,
    platform: FakePlatform,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    _interrupt_when(monkeypatch, lambda: bool(platform.api_calls("POST", "/slms/from-datasets")))
    out_dir = tmp_path / "out dir"
    argv = ["train", str(make_task(tmp_path / "task")), "-o", str(out_dir)]
    argv += ["--base-url", API, "--api-key", TOKEN] + (["--json"] if json_mode else [])
    assert main(argv) == 130
    captured = capsys.readouterr()
    (slm,) = [i for i in platform.entities if i.startswith("slm-")]
    assert f"interrupted: SLM {slm} keeps running on {API}" in captured.err
    assert "the platform has no cancel route" in captured.err
    assert f"follow it with: distil-sdk --base-url {API} slm status {slm} --wait" in captured.err
    assert f"slm download {slm} '{out_dir}'" in captured.err
    assert not out_dir.exists()  # nothing half-written
    assert not [r for r in platform.api_calls() if r.method == "DELETE" or "cancel" in str(r.url)]
    if json_mode:
        body = json.loads(captured.out)
        assert body["exit_code"] == 130 and body["job"] == {"kind": "slm", "id": slm}
        assert body["step"] == "slm" and body["follow"].endswith(f"slm status {slm} --wait")
        assert body["dataset_id"] and body["teacher_evaluation_id"]
    else:
        assert captured.out == ""


def test_ctrl_c_during_the_teacher_evaluation_names_it(
    platform: FakePlatform,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    _interrupt_when(monkeypatch, lambda: bool(platform.api_calls("POST", "/teacher-evaluations")))
    argv = ["train", str(make_task(tmp_path / "task")), "-o", str(tmp_path / "m")]
    assert main([*argv, "--base-url", API, "--api-key", TOKEN]) == 130
    err = capsys.readouterr().err
    (te,) = [i for i in platform.entities if i.startswith("te-")]
    assert f"teacher evaluation {te} keeps running" in err
    assert f"teacher-evaluation status {te} --wait" in err
    assert not platform.api_calls("POST", "/slms/from-datasets")


def test_ctrl_c_during_the_download_says_the_slm_is_done(
    platform: FakePlatform,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    def interrupted(*args: Any, **kwargs: Any) -> Path:
        raise KeyboardInterrupt

    monkeypatch.setattr(SLMs, "download_model", interrupted)
    out_dir = tmp_path / "m"
    argv = ["train", str(make_task(tmp_path / "task")), "-o", str(out_dir)]
    assert main([*argv, "--base-url", API, "--api-key", TOKEN]) == 130
    err = capsys.readouterr().err
    (slm,) = [i for i in platform.entities if i.startswith("slm-")]
    assert f"the download of SLM {slm} was interrupted; the SLM is trained" in err
    assert f"download it again with: distil-sdk --base-url {API} slm download {slm}" in err
    assert not out_dir.exists()


def test_client_train_raises_train_interrupted_with_its_progress(
    client: DistilClient, platform: FakePlatform, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def interrupted(self: SLMs, slm_id: str, **options: Any) -> Any:
        raise KeyboardInterrupt

    monkeypatch.setattr(SLMs, "wait", interrupted)
    with pytest.raises(KeyboardInterrupt) as caught:  # still a KeyboardInterrupt
        client.train(make_task(tmp_path / "task"), tmp_path / "run")
    assert isinstance(caught.value, TrainInterrupted)
    progress = caught.value.progress
    assert progress.step == "slm" and progress.base_url == API
    assert progress.job == ("slm", progress.slm_id) and progress.slm_id
    assert progress.dataset_id and progress.teacher_evaluation_id
    assert str(caught.value) == progress.describe()
    assert "keeps running" in progress.describe()


def test_async_train_raises_train_interrupted_too(
    platform: FakePlatform, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def interrupted(self: AsyncTeacherEvaluations, job_id: str, **options: Any) -> Any:
        raise KeyboardInterrupt

    async def no_sleep(_: float) -> None:
        return None

    monkeypatch.setattr(AsyncTeacherEvaluations, "wait", interrupted)

    async def run() -> None:
        async with AsyncDistilClient(base_url=API, api_key=TOKEN, _sleep=no_sleep) as client:
            await client.train(make_task(tmp_path / "task"), tmp_path / "run")

    with pytest.raises(TrainInterrupted) as caught:
        asyncio.run(run())
    progress = caught.value.progress
    assert progress.step == "teacher-evaluation" and progress.slm_id is None
    assert progress.job == ("teacher-evaluation", progress.teacher_evaluation_id)
    assert not platform.api_calls("POST", "/slms/from-datasets")


# --------------------------------------------------------- end to end: a `distil-sdk serve` process


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextlib.contextmanager
def served(data_dir: Path, token: str) -> Iterator[str]:
    """``distil-sdk serve`` in its own process (its jobs run the fake pipeline); its URL."""
    port = _free_port()
    env = {**os.environ, "DISTIL_API_KEY": token, "HF_HUB_OFFLINE": "1"}
    argv = [sys.executable, "-m", "distil_sdk.cli", "serve", "--port", str(port)]
    proc = subprocess.Popen(
        [*argv, "--data-dir", str(data_dir)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
            with contextlib.suppress(httpx.HTTPError):
                answer = httpx.get(
                    f"{url}/credits/endpoints",
                    headers={"Authorization": f"Bearer {token}"},
                    timeout=2,
                )
                if answer.status_code == 200:
                    break
            assert time.monotonic() < deadline, "distil-sdk serve did not answer in 120 s"
            time.sleep(0.1)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=30)
        if proc.stderr is not None:
            proc.stderr.close()


def test_train_end_to_end_on_a_served_platform(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    use_fake_pipeline(monkeypatch, tmp_path).touch()  # jobs run straight through
    import distil_sdk.resources._base as base

    monkeypatch.setattr(base, "DEFAULT_POLL_INTERVAL_S", 0.05)
    monkeypatch.setattr(base, "MAX_POLL_INTERVAL_S", 0.25)
    monkeypatch.setattr(_platform, "DistilClient", DistilClient)  # real time: a real server
    _no_local(monkeypatch)
    task = tmp_path / "task"
    task.mkdir()
    (task / "job_description.json").write_text(json.dumps(job_description()))
    (task / "train.csv").write_text(csv_text(rows("train", 10)))
    (task / "test.csv").write_text(csv_text(rows("test", 4)))
    token = "dsk-e2e-token"
    out_dir = tmp_path / "model"

    with served(tmp_path / "served", token) as url:
        argv = ["train", str(task), "--base-url", url, "--api-key", token, "-o", str(out_dir)]
        assert main(argv) == 0
        captured = capsys.readouterr()
        # What the platform recorded: one dataset, teacher evaluation and SLM, all succeeded.
        with DistilClient(base_url=url, api_key=token) as client:
            (slm,) = client.slms.list()
            assert client.slms.status(slm.id).status.value == "JOB_SUCCESS"
            (te,) = client.teacher_evaluations.list()

    lines = captured.out.splitlines()
    assert lines[0].split() == ["model", "accuracy", "macro-F1"]
    assert [line.split()[0] for line in lines[1:4]] == ["teacher", "student-base", "student-tuned"]
    assert all(line.split()[1] == "1.000" for line in lines[1:4])  # the fake predicts the gold
    assert f"model saved to {out_dir}/" in captured.out
    assert f"training on {url}" in captured.err
    assert f"SLM {slm.id}" in captured.err and f"teacher evaluation {te.id}" in captured.err
    assert (out_dir / "model" / "config.json").exists()
    assert (out_dir / "model_client.py").exists() and (out_dir / "README.md").exists()
    assert not (tmp_path / "served" / "server.json").exists()  # the server process stopped
