"""The LLM teacher over real HTTP (issue 29 part 4): SmolLM2-135M-Instruct served on loopback by
``ModelServer(..., generate=True)``, and the local platform (real server, real default pipeline,
a tiny student from the config) with ``DISTIL_TEACHER_BASE_URL`` pointing at it.

A teacher evaluation, an SLM training and a synthetic data generation run as jobs, each talking
to the served model. SmolLM2 is a poor classifier: the tests assert the path (the server saw the
teacher's requests, the jobs succeeded, the scores are numbers in [0, 1]), not the accuracy.
Budget: 45 s on one core beyond loading SmolLM2 (the session fixture, shared with other files).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

pytest.importorskip("fastapi")

from _local_support import fake_pipeline_server
from distil_sdk import DistilClient, LocalClassifier
from distil_sdk.local.server import LocalServer
from distil_sdk.serving import ModelServer
from tiny_models import SMOL_JD, SMOL_TEXTS

pytestmark = pytest.mark.slow

WAIT = {"poll_interval": 0.1, "max_interval": 0.5, "timeout": 900}
TRAIN = [
    ("A hardcover biography of a famous scientist", "books"),
    ("A cookbook of quick vegetarian dinners", "books"),
    ("A fantasy novel with dragons and a map", "books"),
    ("Wireless earbuds with noise cancelling", "electronics"),
    ("A 27 inch monitor with an HDMI cable", "electronics"),
    ("A smartphone with 128 GB of storage", "electronics"),
]
TEST = list(zip(SMOL_TEXTS, ["books", "electronics"], strict=True))
TRACES = [
    "a thriller paperback for the beach",
    "a laptop charger that stopped working",
    "a poetry collection by a new author",
]
# The generation system prompt of the LLM teacher (teachers/_synthgen.py).
WRITER = "You write realistic, varied training data"


def _rows(pairs: list[tuple[str, str]]) -> str:
    return "".join(
        json.dumps(
            {"messages": [{"role": "user", "content": t}, {"role": "assistant", "content": a}]}
        )
        + "\n"
        for t, a in pairs
    )


def _config(student: Path, **synthgen: Any) -> dict[str, Any]:
    return {
        "base": {
            "student_model_name": str(student),
            "teacher_model_name": "smollm2",
            "random_seed": 0,
        },
        "tuning": {"num_train_epochs": 1, "per_device_train_batch_size": 8},
        "synthgen": {"train_generation_target": 0, **synthgen},
    }


def _files(config: dict[str, Any], traces: list[str] | None = None) -> dict[str, str]:
    files = {
        "job_description": json.dumps(SMOL_JD),
        "config": yaml.safe_dump(config),
        "train_data": _rows(TRAIN),
        "test_data": _rows(TEST),
    }
    if traces:
        files["traces"] = _rows([(t, "?") for t in traces])
    return files


@pytest.fixture(scope="module")
def smol(
    smollm2_gguf: tuple[Path, LocalClassifier],
) -> Iterator[tuple[ModelServer, list[list[dict[str, Any]]]]]:
    """SmolLM2 served on loopback (one torch thread: the budget is one core) and the messages of
    every chat completion it answered."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    server = ModelServer(smollm2_gguf[1], port=0, generate=True, model_name="smollm2").start()
    seen: list[list[dict[str, Any]]] = []
    complete = server.model.complete

    def recording(messages: list[dict[str, Any]], params: Any) -> Any:
        seen.append(messages)
        return complete(messages, params)

    server.model.complete = recording
    try:
        yield server, seen
    finally:
        server.close()
        torch.set_num_threads(threads)


@pytest.fixture
def platform(
    smol: tuple[ModelServer, list[list[dict[str, Any]]]],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[LocalServer]:
    """The local platform with the real pipeline and the served SmolLM2 as its LLM teacher."""
    for name in ("DISTIL_LOCAL_PIPELINE", "DISTIL_API_KEY", "DISTIL_TEACHER_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DISTIL_TEACHER_BASE_URL", smol[0].base_url + "/v1")
    # One cache for every job: the training asks the test-set questions the evaluation asked.
    monkeypatch.setenv("DISTIL_TEACHER_CACHE_DIR", str(tmp_path / "teacher-cache"))
    # SmolLM2 sometimes rambles past its answer: bound what one classification costs.
    monkeypatch.setenv("DISTIL_TEACHER_MAX_TOKENS", "12")
    monkeypatch.setenv("DISTIL_TEACHER_CONCURRENCY", "1")  # the server answers one at a time
    monkeypatch.setenv("DISTIL_TEACHER_TIMEOUT", "600")  # a loaded CI machine is slow
    monkeypatch.setenv("DISTIL_NUM_THREADS", "1")
    server = LocalServer(tmp_path / "data", poll_interval=0.05).start()
    try:
        yield server
    finally:
        server.close()


def _asked(seen: list[list[dict[str, Any]]], text: str) -> bool:
    return any(text in str(m.get("content")) for messages in seen for m in messages)


def test_teacher_evaluation_and_training_ask_the_served_llm(
    platform: LocalServer,
    smol: tuple[ModelServer, list[list[dict[str, Any]]]],
    tiny_bert_encoder: Path,
) -> None:
    _, seen = smol
    with DistilClient(base_url=platform.base_url, api_key=platform.token) as client:
        dataset = client.datasets.create(_files(_config(tiny_bert_encoder)))
        before = len(seen)
        evaluation = client.teacher_evaluations.create(dataset.id)
        done = client.teacher_evaluations.wait(evaluation.id, **WAIT)
        assert done.status == "JOB_SUCCESS", client.teacher_evaluations.logs(evaluation.id)
        teacher = client.teacher_evaluations.metrics(evaluation.id).teacher_performance
        assert teacher is not None and 0.0 <= teacher.accuracy <= 1.0
        # The teacher's few-shot prompts reached the server: one per test text at least.
        asked = seen[before:]
        assert len(asked) >= len(TEST)
        assert all(_asked(asked, text) for text in SMOL_TEXTS)
        assert (
            _asked(asked, TRAIN[0][0]) or _asked(asked, TRAIN[1][0]) or _asked(asked, TRAIN[2][0])
        )

        after_evaluation = len(seen)
        slm = client.slms.create(dataset.id)
        status = client.slms.wait(slm.id, **WAIT)
        assert status.status == "JOB_SUCCESS", client.slms.logs(slm.id)
        metrics = client.slms.metrics(slm.id)
        for performance in (metrics.base_model_performance, metrics.tuned_model_performance):
            assert performance is not None and 0.0 <= performance.accuracy <= 1.0
        # The training's teacher scored the same test texts: answered from the shared cache.
        assert len(seen) == after_evaluation


def test_synthetic_data_generation_with_the_served_llm(
    platform: LocalServer,
    smol: tuple[ModelServer, list[list[dict[str, Any]]]],
    tiny_bert_encoder: Path,
) -> None:
    _, seen = smol
    config = _config(
        tiny_bert_encoder,
        train_generation_target=1,
        generation_in_single_call=1,
        teacher_max_tokens=24,
        teacher_temperature=0.7,
    )
    with DistilClient(base_url=platform.base_url, api_key=platform.token) as client:
        parent = client.datasets.create(_files(config, TRACES), validate=False)
        before = len(seen)
        child = client.datasets.derive(parent.id, "generate_synthetic_data_train")
        assert child.parent_dataset_id == parent.id
        assert child.operation == "generate_synthetic_data_train"
        done = client.datasets.wait(child.id, **WAIT)
        assert done.status == "JOB_SUCCESS", client.datasets.logs(child.id).logs
        logs = client.datasets.logs(child.id).logs
        rows = client.datasets.sample(child.id).rows
        download = client.datasets.download(child.id)
        assert download.traces_url and download.test_data_url
        traces = httpx.get(download.traces_url).text.splitlines()
        test_rows = httpx.get(download.test_data_url).text

    # The teacher asked the served model for new examples (and checked what came back).
    writes = [m for m in seen[before:] if WRITER in str(m[0].get("content"))]
    assert writes and "synthetic generation:" in logs
    # Child = the parent's rows, then at most the target's worth of new, labelled ones.
    texts = [r["messages"][0]["content"] for r in rows]
    assert texts[: len(TRAIN)] == [t for t, _ in TRAIN] and len(texts) <= len(TRAIN) + 1
    assert all(r["messages"][1]["content"] in SMOL_JD["classes_description"] for r in rows)
    assert test_rows == _rows(TEST)  # the other split is carried over
    # A target of 1 takes 1 + min(1, 1000) = 2 traces as context and removes them.
    assert [json.loads(t)["messages"][0]["content"] for t in traces] == TRACES[2:]
    assert any(_asked([w], TRACES[0]) or _asked([w], TRACES[1]) for w in writes)


def test_generation_without_an_llm_teacher_names_the_setting(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DISTIL_TEACHER_BASE_URL", raising=False)
    monkeypatch.delenv("DISTIL_TEACHER_MODEL", raising=False)
    config = {"tuning": {"num_train_epochs": 1}}
    with fake_pipeline_server(tmp_path, monkeypatch) as (server, _):
        api = httpx.Client(
            base_url=server.base_url, headers={"Authorization": f"Bearer {server.token}"}
        )
        with DistilClient(base_url=server.base_url, api_key=server.token) as client:
            parent = client.datasets.create(_files(config)).id
        body = {"from": parent, "operation": "generate_synthetic_data_test"}
        for route in ("/datasets/from-datasets", "/datasets/from-datasets-smoke"):
            refused = api.post(route, json=body)
            assert refused.status_code == 501, refused.text
            assert "set DISTIL_TEACHER_BASE_URL" in refused.json()["message"]
        # With an endpoint but no model to ask for: 400 naming both places a name can go.
        monkeypatch.setenv("DISTIL_TEACHER_BASE_URL", "http://127.0.0.1:9/v1")
        refused = api.post("/datasets/from-datasets", json=body)
        assert refused.status_code == 400, refused.text
        message = refused.json()["message"]
        assert "base.teacher_model_name" in message and "DISTIL_TEACHER_MODEL" in message
        assert [d["id"] for d in api.get("/datasets").json()] == [parent]  # nothing was made
        api.close()
