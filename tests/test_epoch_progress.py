"""Per-epoch lines of the job's log reach the client's progress display over loopback: the local
platform writes them into the job's log, ``wait(progress=True)`` prints each new one once (the
current generation through the logs route, the ``/models`` one through the status record), and
``distil-sdk train`` shows them on stderr in human and JSON mode. Fast fake pipeline
(``tests/_fake_pipeline.py``), which logs epochs with the real training loop's line."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from _fake_pipeline import FAKE_EPOCHS
from _local_support import csv_text, fake_pipeline_server, job_description, rows, use_fake_pipeline
from distil_sdk import AsyncDistilClient, DistilClient
from distil_sdk.cli import main
from distil_sdk.local._jobs.epochs import epoch_line
from distil_sdk.local.server import LocalServer

FAST_WAIT: dict[str, Any] = {"poll_interval": 0.05, "max_interval": 0.25, "timeout": 300}
# What the fake pipeline's student stages log, in order (its durations are made up: 2s).
EPOCH_LINES = [
    epoch_line(stage, epoch, FAKE_EPOCHS, 1.0 / (epoch + 1), [2.0] * epoch, 1.0)
    for stage in ("student-base", "student-tuned")
    for epoch in range(1, FAKE_EPOCHS + 1)
]
# A line of the job's log: "<date> <time> <logger> <message>".
_LOG_PREFIX = re.compile(r"^\d{4}-\d\d-\d\d [\d:,]+ distil_sdk ")


def write_task(path: Path) -> Path:
    path.mkdir(parents=True)
    (path / "job_description.json").write_text(json.dumps(job_description()))
    (path / "train.csv").write_text(csv_text(rows("train", 10)))
    (path / "test.csv").write_text(csv_text(rows("test", 4)))
    return path


def epoch_lines(stderr: str) -> list[str]:
    """The epoch lines shown, without the log's time and logger prefix, in order."""
    out = []
    for line in stderr.splitlines():
        if _LOG_PREFIX.match(line) and " epoch " in line:
            out.append(_LOG_PREFIX.sub("", line))
    return out


@pytest.fixture
def server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[LocalServer]:
    with fake_pipeline_server(tmp_path, monkeypatch) as (server, gate):
        gate.touch()
        yield server


def test_epoch_lines_are_shown_once_each_as_the_job_log_grows(
    server: LocalServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # The job logs student-base's first epoch, then waits until the client has shown it.
    gate = tmp_path / "epoch-gate"
    monkeypatch.setenv("FAKE_PIPELINE_EPOCH_GATE", str(gate))
    shown: list[str] = []

    def on_progress(record: Any) -> None:
        shown.append(capsys.readouterr().err)
        if EPOCH_LINES[0] in epoch_lines("".join(shown)):
            gate.touch()

    with DistilClient(base_url=server.base_url, api_key=server.token) as client:
        dataset = client.datasets.create(write_task(tmp_path / "task"))
        slm = client.slms.create(dataset.id)
        final = client.slms.wait(slm.id, progress=True, on_progress=on_progress, **FAST_WAIT)
    shown.append(capsys.readouterr().err)
    assert final.status == "JOB_SUCCESS", final.message
    # The first line was on the display while the job was held before its second epoch.
    assert gate.exists()
    assert epoch_lines("".join(shown)) == EPOCH_LINES


def test_the_models_generation_shows_the_log_its_status_carries(
    server: LocalServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with DistilClient(base_url=server.base_url, api_key=server.token) as client:
        model = client.v2.models.create("epochs")
        upload = client.v2.uploads.create(model.id, write_task(tmp_path / "task"))
        training = client.v2.trainings.create(model.id, upload.id)
        final = client.v2.trainings.wait(training.id, progress=True, **FAST_WAIT)
    assert final.status == "JOB_SUCCESS", final.message
    assert epoch_lines(capsys.readouterr().err) == EPOCH_LINES


def test_the_async_client_shows_the_epoch_lines(
    server: LocalServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    async def flow() -> None:
        async with AsyncDistilClient(base_url=server.base_url, api_key=server.token) as client:
            dataset = await client.datasets.create(write_task(tmp_path / "task"))
            slm = await client.slms.create(dataset.id)
            final = await client.slms.wait(slm.id, progress=True, **FAST_WAIT)
            assert final.status == "JOB_SUCCESS", final.message

    asyncio.run(flow())
    assert epoch_lines(capsys.readouterr().err) == EPOCH_LINES


@pytest.mark.parametrize("json_mode", [False, True], ids=["human", "json"])
def test_cli_train_shows_epoch_lines_on_stderr(
    json_mode: bool,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    use_fake_pipeline(monkeypatch, tmp_path).touch()
    task_dir = write_task(tmp_path / "task")
    args = ["train", str(task_dir), "--data-dir", str(tmp_path / "data"), "-o", str(tmp_path / "m")]
    assert main(["--json", *args] if json_mode else args) == 0
    printed = capsys.readouterr()
    assert epoch_lines(printed.err) == EPOCH_LINES
    assert not epoch_lines(printed.out) and "epoch 1/" not in printed.out
    if json_mode:  # stdout is the result alone
        assert json.loads(printed.out)["evaluation_results"]["student-tuned"]["accuracy"] == 1.0
