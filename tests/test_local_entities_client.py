"""The client's current-generation surface against the real local platform over loopback,
sync and async: ``client.datasets`` / ``teacher_evaluations`` / ``slms`` / ``credits`` and
``client.train``, with the fast fake pipeline (``tests/_fake_pipeline.py``)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from _local_support import (
    LABELS,
    csv_text,
    fake_pipeline_server,
    job_description,
    rows,
)
from distil_sdk import AsyncDistilClient, DistilClient
from distil_sdk._errors import DistilError
from distil_sdk.inference import LocalClassifier
from distil_sdk.local.server import LocalServer

FAST_WAIT = {"poll_interval": 0.05, "max_interval": 0.25, "timeout": 300}


def write_task(path: Path) -> Path:
    path.mkdir(parents=True)
    (path / "job_description.json").write_text(json.dumps(job_description()))
    (path / "train.csv").write_text(csv_text(rows("train", 10)))
    (path / "test.csv").write_text(csv_text(rows("test", 4)))
    (path / "config.yaml").write_text("tuning:\n  num_train_epochs: 3\n")
    return path


@pytest.fixture
def server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[LocalServer]:
    with fake_pipeline_server(tmp_path, monkeypatch) as (server, gate):
        gate.touch()
        yield server


def test_the_current_workflow_through_the_sync_client(server: LocalServer, tmp_path: Path) -> None:
    task = write_task(tmp_path / "task")
    with DistilClient(base_url=server.base_url, api_key=server.token) as client:
        dataset = client.datasets.create(task)
        assert client.datasets.get(dataset.id).status == "JOB_SUCCESS"
        assert dataset.id in [d.id for d in client.datasets.list()]
        assert len(client.datasets.sample(dataset.id).rows) == 30
        assert client.datasets.metrics(dataset.id).train_data_size_bytes

        evaluation = client.teacher_evaluations.create(dataset.id)
        done = client.teacher_evaluations.wait(evaluation.id, **FAST_WAIT)
        assert done.status == "JOB_SUCCESS", done.message
        teacher = client.teacher_evaluations.metrics(evaluation.id).teacher_performance
        assert teacher is not None and teacher.accuracy == 1.0

        # Overrides read the parent's whole file and send it back edited.
        override = client.datasets.config_override(dataset.id)
        override.set("tuning.num_train_epochs", 5)
        slm = client.slms.create(dataset.id, config=override)
        status = client.slms.wait(slm.id, **FAST_WAIT)
        assert status.status == "JOB_SUCCESS", status.message
        metrics = client.slms.metrics(slm.id)
        assert metrics.tuned_model_performance is not None
        assert metrics.tuned_model_performance.accuracy == 1.0
        assert client.slms.config_override(slm.id)["tuning"]["num_train_epochs"] == 5

        model_dir = client.slms.download_model(slm.id, tmp_path / "out", progress=False)
        assert (tmp_path / "out" / "model_client.py").is_file()
        assert (tmp_path / "out" / "README.md").is_file()
        assert yaml.safe_load((tmp_path / "out" / "config.yaml").read_text())["tuning"] == {
            "num_train_epochs": 5
        }
        classifier = LocalClassifier.from_pretrained(model_dir)
        assert classifier.labels == LABELS

        balances = client.credits.balances()
        assert balances.get("slms_from_datasets_post") and balances.get("nope") is None

        with pytest.raises(DistilError) as excinfo:
            client.slms.create("no-such-dataset")
        assert "no-such-dataset" in str(excinfo.value)


def test_client_train_runs_the_whole_chain_locally(server: LocalServer, tmp_path: Path) -> None:
    task = write_task(tmp_path / "task")
    with DistilClient(base_url=server.base_url, api_key=server.token) as client:
        trained = client.train(task, tmp_path / "run", timeout=300)
    assert trained.accuracy == 1.0
    assert trained.teacher is not None and trained.teacher.accuracy == 1.0
    assert LocalClassifier.from_pretrained(trained.model_dir).labels == LABELS


def test_the_current_workflow_through_the_async_client(server: LocalServer, tmp_path: Path) -> None:
    task = write_task(tmp_path / "task")

    async def flow() -> Path:
        async with AsyncDistilClient(base_url=server.base_url, api_key=server.token) as client:
            dataset = await client.datasets.create(task)
            evaluation = await client.teacher_evaluations.create(dataset.id)
            slm = await client.slms.create(dataset.id, smoke=True)
            waited = await asyncio.gather(
                client.teacher_evaluations.wait(evaluation.id, **FAST_WAIT),
                client.slms.wait(slm.id, **FAST_WAIT),
            )
            assert [w.status for w in waited] == ["JOB_SUCCESS", "JOB_SUCCESS"]
            teacher = (await client.teacher_evaluations.metrics(evaluation.id)).teacher_performance
            assert teacher is not None and teacher.accuracy == 1.0
            assert (await client.slms.config_override(slm.id))["tuning"]["num_train_epochs"] == 1
            assert (await client.credits.balances()).get("datasets_post")
            return await client.slms.download_model(slm.id, tmp_path / "out", progress=False)

    model_dir = asyncio.run(flow())
    assert LocalClassifier.from_pretrained(model_dir).labels == LABELS


def test_derive_relabels_traces_through_the_client(
    server: LocalServer, tmp_path: Path, tiny_bert_encoder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def chat(text: str, label: str) -> str:
        turns = [{"role": "user", "content": text}, {"role": "assistant", "content": label}]
        return json.dumps({"messages": turns}) + "\n"

    config = {
        "base": {"teacher_model_name": str(tiny_bert_encoder)},
        "trace_processing": {"num_train_relabelled": 3},
    }
    traces = [f"trace {i} about a refund on my statement" for i in range(4)]
    files = {
        "job_description": json.dumps(job_description()),
        "config": yaml.safe_dump(config),
        "train_data": "".join(chat(t, a) for t, a in rows("train", 10)),
        "test_data": "".join(chat(t, a) for t, a in rows("test", 4)),
        "traces": "".join(chat(t, "?") for t in traces),
    }
    with DistilClient(base_url=server.base_url, api_key=server.token) as client:
        # Client-side validation knows no traces file yet: the server validates instead.
        parent = client.datasets.create(files, validate=False)
        child = client.datasets.derive(parent.id, "relabel_traces_train")
        assert child.parent_dataset_id == parent.id
        assert client.datasets.wait(child.id, **FAST_WAIT).status == "JOB_SUCCESS"
        sample = client.datasets.sample(child.id).rows
        assert [r["messages"][0]["content"] for r in sample[30:]] == traces[:3]
        assert client.datasets.metrics(child.id).traces_size_bytes == len(chat(traces[3], "?"))

        # Without an LLM teacher ($DISTIL_TEACHER_BASE_URL) generation is refused, saying so.
        monkeypatch.delenv("DISTIL_TEACHER_BASE_URL", raising=False)  # read per request
        with pytest.raises(DistilError) as excinfo:
            client.datasets.derive(parent.id, "generate_synthetic_data_train")
        assert "set DISTIL_TEACHER_BASE_URL" in str(excinfo.value)
