"""Prepared traces on the local platform, over loopback with the client: a trace file staged and
read back, an inference endpoint's records taken directly, a Dataset made from each (the
endpoint's with ``observation_format: langfuse``), and the relabelling that turns the records'
user turns into labelled rows; the 400 / 404 answers.

Shapes: distil-cli-skill ``execution/backend-api.md`` § Creating the job inputs and § Traces
from an endpoint, ``platform.md`` § Entities and jobs (``operation: from_prepared_traces``),
``data-preparation/traces.md`` (commit 8848a333) § Observation formats and § From an inference
endpoint.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from _local_support import LABELS, job_description, running_server
from distil_sdk import BadRequestError, DistilClient, NotFoundError
from distil_sdk.local.server import LocalServer
from test_local_entities import chat_jsonl, wait_entity
from test_local_inference_endpoints import FALLBACK, Stub, llm_for

TEXTS = [
    "my card was charged a fee twice",
    "where is my new card",
    "a refund for the invoice please",
    "the shirt arrived torn",
    "my pin is blocked at the atm",
    "an order of running shoes",
]


@pytest.fixture
def platform(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[LocalServer]:
    for name in ("DISTIL_API_KEY", "DISTIL_TEACHER_BASE_URL", "DISTIL_INFERENCE_URL"):
        monkeypatch.delenv(name, raising=False)
    with running_server(tmp_path / "data") as (server, _):
        yield server


@pytest.fixture
def client(platform: LocalServer) -> Iterator[DistilClient]:
    with DistilClient(base_url=platform.base_url, api_key=platform.token) as c:
        yield c


def _config(encoder: Path, observation_format: str | None = None, **relabel: int) -> dict[str, Any]:
    processing: dict[str, Any] = dict(relabel)
    if observation_format:
        processing["observation_format"] = observation_format
    return {
        "base": {"task": "classification", "teacher_model_name": str(encoder)},
        "trace_processing": processing,
    }


def test_a_trace_file_is_staged_read_back_and_made_a_dataset(
    client: DistilClient, tmp_path: Path, tiny_bert_encoder: Path
) -> None:
    path = tmp_path / "traces.jsonl"
    path.write_bytes(chat_jsonl([(text, "an answer") for text in TEXTS]))
    traces = client.prepared_traces.create(traces=path)
    assert traces.source == "direct_upload"
    assert client.prepared_traces.get(traces.id).status == "JOB_SUCCESS"
    assert [t.id for t in client.prepared_traces.list()] == [traces.id]
    url = client.prepared_traces.download(traces.id).traces_url
    assert url is not None and httpx.get(url).content == path.read_bytes()

    dataset = client.datasets.from_prepared_traces(
        traces.id, _config(tiny_bert_encoder), job_description()
    )
    assert (dataset.operation, dataset.parent_prepared_traces_id) == (
        "from_prepared_traces",
        traces.id,
    )
    assert dataset.parent_dataset_id is None
    assert client.datasets.get(dataset.id).status == "JOB_SUCCESS"  # no job: ready at once
    files = client.datasets.download(dataset.id)
    assert httpx.get(str(files.traces_url)).content == path.read_bytes()
    assert httpx.get(str(files.train_data_url)).content == b""  # train and test are empty
    assert httpx.get(str(files.test_data_url)).content == b""
    listed = {d.id: d for d in client.datasets.list()}
    assert listed[dataset.id].parent_prepared_traces_id == traces.id

    with pytest.raises(NotFoundError, match="prepared traces 'nope' not found"):
        client.datasets.from_prepared_traces("nope", _config(tiny_bert_encoder), job_description())
    with pytest.raises(NotFoundError, match="inference endpoint 'nope' not found"):
        client.prepared_traces.create(inference_endpoint_name="nope")


def test_an_endpoints_records_become_labelled_rows(
    platform: LocalServer, client: DistilClient, tiny_bert_encoder: Path
) -> None:
    stub = Stub()
    try:
        own = {"url": stub.url, "api-key": "primary-secret"}
        endpoint = client.inference_endpoints.create(
            "support", FALLBACK, primary=own, trace_sample_rate=1
        )
        key = client.api_keys.create("app")
        client.inference_endpoints.link_api_key(endpoint.id, key.name)
        llm = llm_for(client, endpoint.id, key)
        for text in TEXTS:
            messages = [
                {"role": "system", "content": "Route it."},
                {"role": "user", "content": text},
            ]
            llm.chat.completions.create(model=endpoint.id, messages=messages)  # type: ignore[arg-type]
    finally:
        stub.close()

    traces = client.prepared_traces.create(inference_endpoint_name=endpoint.id)
    assert traces.source == "inference_endpoint"
    url = client.prepared_traces.download(traces.id).traces_url
    records = [json.loads(line) for line in httpx.get(str(url)).text.splitlines()]
    assert len(records) == len(TEXTS)  # every call, as the endpoint's export writes them
    assert {r["metadata"]["source"] for r in records} == {"primary"}

    # The records are not {"messages": [...]} lines: the config must say they are records.
    with pytest.raises(BadRequestError) as refused:
        client.datasets.from_prepared_traces(
            traces.id, _config(tiny_bert_encoder), job_description()
        )
    assert "'messages' is missing" in str(refused.value)
    config = _config(tiny_bert_encoder, "langfuse", num_test_relabelled=4)
    dataset = client.datasets.from_prepared_traces(traces.id, config, job_description())

    # Relabelling reads each record's user turn, as the reference's conversion does.
    child = client.datasets.derive(dataset.id, "relabel_traces_test")
    auth = {"Authorization": f"Bearer {platform.token}"}
    with httpx.Client(base_url=platform.base_url, headers=auth) as api:
        status = wait_entity(api, f"/datasets/{child.id}/status")
        assert status["status"] == "JOB_SUCCESS", api.get(f"/datasets/{child.id}/logs").text
    files = client.datasets.download(child.id)
    rows = [json.loads(line) for line in httpx.get(str(files.test_data_url)).text.splitlines()]
    newest_first = TEXTS[::-1]
    assert [r["messages"][0]["content"] for r in rows] == newest_first[:4]
    assert all(r["messages"][1]["content"] in LABELS for r in rows)
    left = httpx.get(str(files.traces_url)).text.splitlines()
    assert len(left) == 2  # the records not relabelled stay, as written
    assert json.loads(left[0]) == records[4]


def test_the_cli_traces_noun_against_the_local_platform(
    platform: LocalServer,
    tmp_path: Path,
    tiny_bert_encoder: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from distil_sdk.cli import main

    monkeypatch.setenv("DISTIL_API_KEY", platform.token)
    base = ["--base-url", platform.base_url]
    assert main(["traces", "list", *base]) == 0
    assert capsys.readouterr().out.strip() == "No prepared traces yet."
    path = tmp_path / "traces.jsonl"
    path.write_bytes(chat_jsonl([(text, "an answer") for text in TEXTS]))
    assert main(["traces", "upload", "--traces", str(path), *base]) == 0
    out = capsys.readouterr().out
    traces_id = out.split("ID: ")[1].strip()
    assert main(["traces", "list", *base]) == 0
    listed = capsys.readouterr().out
    assert traces_id in listed and "direct_upload" in listed
    assert main(["traces", "show", traces_id, *base, "--output", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["status"] == "JOB_SUCCESS"
    target = tmp_path / "back"
    assert main(["traces", "download", traces_id, str(target), *base]) == 0
    assert (target / "traces.jsonl").read_bytes() == path.read_bytes()
    capsys.readouterr()

    config, job = tmp_path / "config.yaml", tmp_path / "job_description.json"
    config.write_text(json.dumps(_config(tiny_bert_encoder)))  # JSON is YAML
    job.write_text(json.dumps(job_description()))
    argv = ["dataset", "create-from-traces", traces_id, "-c", str(config)]
    assert main([*argv, "--job-description", str(job), *base]) == 0
    assert "Dataset created. ID:" in capsys.readouterr().out

    assert main(["traces", "create-from-inference-endpoint", "nope", *base]) != 0
    assert "inference endpoint 'nope' not found" in capsys.readouterr().err
    assert main(["traces", "upload", *base]) == 2
    assert "needs --traces FILE" in capsys.readouterr().err
