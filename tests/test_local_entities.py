"""The local platform's current route generation over loopback, in raw HTTP: staging through
presigned URLs, datasets, teacher evaluations and SLMs made from them by id, metrics, logs,
downloads, credits, and the 404 / 409 / 410 / 501 answers.

A real :class:`LocalServer` with the fast fake pipeline (``tests/_fake_pipeline.py``).
The client's view of the same routes is in ``test_local_entities_client.py``.
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
import tarfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
import yaml

from _local_support import LABELS, job_description, rows, running_server, use_fake_pipeline
from distil_sdk._archive import safe_extract
from distil_sdk.local._storage.staging import sign_path
from distil_sdk.local.server import LocalServer


def chat_jsonl(data: list[tuple[str, str]]) -> bytes:
    lines = [
        json.dumps(
            {"messages": [{"role": "user", "content": t}, {"role": "assistant", "content": a}]}
        )
        for t, a in data
    ]
    return ("\n".join(lines) + "\n").encode()


CONFIG = {"tuning": {"num_train_epochs": 3}, "evaluation": {}}


def dataset_files(
    *, train: list[tuple[str, str]] | None = None, labels: list[str] = LABELS
) -> dict[str, bytes]:
    """Staging key -> content of a valid classification dataset (current chat format)."""
    return {
        "config_yaml": yaml.safe_dump(CONFIG).encode(),
        "job_description_json": json.dumps(job_description(labels)).encode(),
        "train_data_jsonl": chat_jsonl(train if train is not None else rows("train", 10)),
        "test_data_jsonl": chat_jsonl(rows("test", 4)),
    }


FIELD_OF = {
    "config_yaml": "config",
    "job_description_json": "job_description",
    "train_data_jsonl": "train_data",
    "test_data_jsonl": "test_data",
    "traces_jsonl": "traces",
}


def stage(
    api: httpx.Client, files: dict[str, bytes], route: str = "/staging-datasets-s3-urls"
) -> dict[str, str]:
    """PUT each file to its presigned URL (no auth header); return the create body."""
    urls = api.get(route).raise_for_status().json()
    body = {}
    for key, content in files.items():
        httpx.put(urls[key], content=content).raise_for_status()  # a bare client: no token
        body[FIELD_OF.get(key, key.removesuffix("_tar"))] = urls[key]
    return body


def create_dataset(api: httpx.Client, files: dict[str, bytes] | None = None) -> str:
    response = api.post("/datasets", json=stage(api, files or dataset_files()))
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def wait_entity(api: httpx.Client, path: str, timeout: float = 120) -> dict[str, Any]:
    from _local_support import wait_for

    def done() -> dict[str, Any] | None:
        status = api.get(path).raise_for_status().json()
        final = status["status"] in ("JOB_SUCCESS", "JOB_FAILURE", "JOB_STOPPED")
        return dict(status) if final else None

    return wait_for(done, timeout, path)


@pytest.fixture
def server(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[LocalServer, httpx.Client]]:
    gate = use_fake_pipeline(monkeypatch, tmp_path)
    gate.touch()  # jobs run straight through unless a test removes the gate
    with running_server(tmp_path / "data") as pair:
        yield pair


def test_dataset_is_staged_validated_stored_and_served(
    server: tuple[LocalServer, httpx.Client],
) -> None:
    _, api = server
    files = dataset_files()
    dataset_id = create_dataset(api, files)

    record = api.get(f"/datasets/{dataset_id}").json()
    assert record["status"] == "JOB_SUCCESS"
    assert record["operation"] == "direct_upload" and record["parent_dataset_id"] is None
    listed = api.get("/datasets").json()
    assert [d["id"] for d in listed] == [dataset_id] and "status" not in listed[0]
    assert api.get(f"/datasets/{dataset_id}/status").json()["status"] == "JOB_SUCCESS"
    assert api.get(f"/datasets/{dataset_id}/logs").json() == {"logs": ""}

    metrics = api.get(f"/datasets/{dataset_id}/metrics").json()
    assert metrics == {
        "train_data_size_bytes": len(files["train_data_jsonl"]),
        "test_data_size_bytes": len(files["test_data_jsonl"]),
        "traces_size_bytes": 0,
    }
    sample = api.get(f"/datasets/{dataset_id}/sample").json()["rows"]
    assert len(sample) == 30
    assert sample[0]["messages"][1]["content"] in LABELS

    download = api.get(f"/datasets/{dataset_id}/download").json()
    assert set(download) == {
        "train_data_url",
        "test_data_url",
        "traces_url",
        "config_url",
        "job_description_url",
    }
    # Presigned: fetched without the token, the bytes exactly as staged.
    assert httpx.get(download["train_data_url"]).content == files["train_data_jsonl"]
    assert httpx.get(download["traces_url"]).content == b""
    meta = api.get(f"/datasets/{dataset_id}/download-metadata").json()
    assert yaml.safe_load(httpx.get(meta["config_url"]).content) == CONFIG
    assert httpx.get(meta["job_description_url"]).json() == job_description()


def test_teacher_evaluation_and_slm_from_a_dataset(
    server: tuple[LocalServer, httpx.Client], tmp_path: Path
) -> None:
    _, api = server
    dataset_id = create_dataset(api)

    created = api.post("/teacher-evaluations", json={"from_dataset_id": dataset_id})
    assert created.status_code == 201, created.text
    evaluation_id = created.json()["id"]
    assert created.json()["dataset_id"] == dataset_id
    # /status is the route both generations share.
    assert wait_entity(api, f"/teacher-evaluations/{evaluation_id}/status")["status"] == (
        "JOB_SUCCESS"
    )
    assert api.get(f"/teacher-evaluations/{evaluation_id}").json()["status"] == "JOB_SUCCESS"
    assert [e["id"] for e in api.get("/teacher-evaluations").json()] == [evaluation_id]
    metrics = api.get(f"/teacher-evaluations/{evaluation_id}/metrics").json()
    performance = metrics["teacher_performance"]
    assert performance["accuracy"] == 1.0  # the fake teacher answers the gold label
    assert {label: performance[label]["support"] for label in LABELS} == dict.fromkeys(LABELS, 4)
    predictions = httpx.get(metrics["predictions_download_url"]).text.splitlines()
    assert len(predictions) == 12
    assert isinstance(api.get(f"/teacher-evaluations/{evaluation_id}/logs").json()["logs"], str)
    meta = api.get(f"/teacher-evaluations/{evaluation_id}/download-metadata").json()
    assert set(meta) == {"config_url", "job_description_url"}

    created = api.post("/slms/from-datasets", json={"from": dataset_id})
    assert created.status_code == 201, created.text
    slm_id = created.json()["id"]
    assert wait_entity(api, f"/slms/{slm_id}/status")["status"] == "JOB_SUCCESS"
    slm_metrics = api.get(f"/slms/{slm_id}/metrics").json()
    assert slm_metrics["base_model_performance"]["accuracy"] == 1.0
    assert slm_metrics["tuned_model_performance"]["accuracy"] == 1.0
    assert len(httpx.get(slm_metrics["predictions_download_url"]).text.splitlines()) == 12

    download = api.get(f"/slms/{slm_id}/download").json()
    assert yaml.safe_load(httpx.get(download["config_url"]).content) == CONFIG
    tar_bytes = httpx.get(download["model_url"]).content
    with tarfile.open(fileobj=io.BytesIO(tar_bytes)) as archive:
        names = set(archive.getnames())
        assert {"model/config.json", "README.md", "model_client.py"} <= names
    # The SDK's own checked extraction: tarfile's filter= is missing on some supported Pythons.
    (tmp_path / "slm.tar").write_bytes(tar_bytes)
    safe_extract(tmp_path / "slm.tar", tmp_path / "slm")
    meta = api.get(f"/slms/{slm_id}/download-metadata").json()
    client_py = httpx.get(meta["model_client_url"]).content
    assert client_py == (tmp_path / "slm" / "model_client.py").read_bytes()
    readme = (tmp_path / "slm" / "README.md").read_text()
    assert "model_client.py" in readme
    # Titled from the task, never by the id alone (the id is in the body).
    assert readme.startswith("# Route the customer's message to the right team\n"), readme[:80]
    assert slm_id in readme

    # The shipped client (the platform's shape: it calls an OpenAI-compatible server) also
    # classifies with the model beside it, --local.
    run = subprocess.run(
        [
            sys.executable,
            str(tmp_path / "slm" / "model_client.py"),
            "--local",
            "my card was stolen",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    assert run.stdout.strip() in LABELS


def test_overrides_replace_the_dataset_files_whole_and_smoke_trains_small(
    server: tuple[LocalServer, httpx.Client],
) -> None:
    _, api = server
    dataset_id = create_dataset(api)
    config = {"tuning": {"num_train_epochs": 7, "learning_rate": 0.001}}
    created = api.post(
        "/teacher-evaluations", json={"from_dataset_id": dataset_id, "config": config}
    )
    assert created.status_code == 201, created.text
    meta = api.get(f"/teacher-evaluations/{created.json()['id']}/download-metadata").json()
    # Settled at submission: readable at once, and it is the override, not a merge.
    assert yaml.safe_load(httpx.get(meta["config_url"]).content) == config
    assert httpx.get(meta["job_description_url"]).json() == job_description()

    # An override that breaks the task is refused like a bad upload: 400 with the findings.
    two_classes = job_description(LABELS[:2])
    refused = api.post(
        "/slms/from-datasets", json={"from": dataset_id, "job_description": two_classes}
    )
    assert refused.status_code == 400
    assert refused.json()["findings"] and "shopping" in refused.text

    smoke = api.post("/slms/from-datasets-smoke", json={"from": dataset_id})
    assert smoke.status_code == 201, smoke.text
    smoke_id = smoke.json()["id"]
    smoke_meta = api.get(f"/slms/{smoke_id}/download-metadata").json()
    smoke_config = yaml.safe_load(httpx.get(smoke_meta["config_url"]).content)
    assert smoke_config["tuning"]["num_train_epochs"] == 1
    assert wait_entity(api, f"/slms/{smoke_id}/status")["status"] == "JOB_SUCCESS"
    # Each submission is an entity of its own, newest first.
    slm_ids = [s["id"] for s in api.get("/slms").json()]
    assert slm_ids == [smoke_id]


def test_a_dataset_that_fails_validation_is_400_and_nothing_is_stored(
    server: tuple[LocalServer, httpx.Client],
) -> None:
    _, api = server
    files = dataset_files(train=[*rows("train", 10), ("a question about weather", "weather")])
    response = api.post("/datasets", json=stage(api, files))
    assert response.status_code == 400
    body = response.json()
    assert "weather" in body["message"] + json.dumps(body["findings"])
    assert api.get("/datasets").json() == []

    garbage = dict(dataset_files(), train_data_jsonl=b"not json at all\n")
    response = api.post("/datasets", json=stage(api, garbage))
    assert response.status_code == 400 and "train.jsonl" in response.text

    # config and job_description are required by the create body.
    body = stage(api, dataset_files())
    del body["config"]
    assert api.post("/datasets", json=body).status_code == 422


def test_staging_urls_are_signed_bound_to_their_path_and_expire(
    server: tuple[LocalServer, httpx.Client],
) -> None:
    srv, api = server
    urls = api.get("/staging-datasets-s3-urls").json()
    assert set(urls) == set(FIELD_OF)
    url = urls["train_data_jsonl"]
    assert httpx.put(url, content=b"x\n").status_code == 200  # no token needed

    parts = urlsplit(url)
    base = f"{parts.scheme}://{parts.netloc}"
    tampered = url[:-4] + ("0000" if not url.endswith("0000") else "1111")
    assert httpx.put(tampered, content=b"x").status_code == 403
    # The signature of one file does not open another path.
    other = url.replace("train_data_jsonl", "test_data_jsonl")
    assert httpx.put(other, content=b"x").status_code == 403
    # An expired URL is refused, though correctly signed.
    expired = base + sign_path(srv.token, "PUT", parts.path, ttl_s=-5)
    response = httpx.put(expired, content=b"x")
    assert response.status_code == 403 and "expired" in response.text
    # A GET signature is not a PUT signature.
    as_get = base + sign_path(srv.token, "GET", parts.path)
    assert httpx.put(as_get, content=b"x").status_code == 403
    # Signed with another key (another server's token).
    foreign = base + sign_path("another-token", "PUT", parts.path)
    assert httpx.put(foreign, content=b"x").status_code == 403

    # The API itself still needs the token.
    for method, path in (
        ("GET", "/staging-datasets-s3-urls"),
        ("GET", "/datasets"),
        ("POST", "/datasets"),
        ("GET", "/credits/endpoints"),
    ):
        assert httpx.request(method, base + path).status_code == 401

    # A create body must name each field's own, issued, unexpired URL with a file PUT to it.
    body = stage(api, dataset_files())
    swapped = dict(body, train_data=body["test_data"])
    response = api.post("/datasets", json=swapped)
    assert response.status_code == 400 and "train_data" in response.text
    fresh = api.get("/staging-datasets-s3-urls").json()
    response = api.post("/datasets", json=dict(body, train_data=fresh["train_data_jsonl"]))
    assert response.status_code == 400 and "nothing was PUT" in response.text
    response = api.post("/datasets", json=dict(body, config=base + "/elsewhere/config.yaml"))
    assert response.status_code == 400 and "not a staging URL" in response.text
    stale = base + sign_path(srv.token, "PUT", urlsplit(body["config"]).path, ttl_s=-5)
    response = api.post("/datasets", json=dict(body, config=stale))
    assert response.status_code == 400 and "expired" in response.text


def test_a_staged_file_over_the_limit_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    gate = use_fake_pipeline(monkeypatch, tmp_path)
    gate.touch()
    monkeypatch.setenv("DISTIL_LOCAL_MAX_STAGED_BYTES", "1000")
    with running_server(tmp_path / "data") as (_, api):
        url = api.get("/staging-datasets-s3-urls").json()["train_data_jsonl"]
        assert httpx.put(url, content=b"x" * 1001).status_code == 413
        assert httpx.put(url, content=b"x" * 1000).status_code == 200


def test_missing_unready_and_retired(
    server: tuple[LocalServer, httpx.Client], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, api = server
    for method, path, body in (
        ("POST", "/teacher-evaluations", {"from_dataset_id": "nope"}),
        ("POST", "/slms/from-datasets", {"from": "nope"}),
        ("POST", "/slms/from-datasets-smoke", {"from": "nope"}),
        ("POST", "/datasets/from-datasets", {"from": "nope", "operation": "relabel_traces_test"}),
        ("GET", "/datasets/nope", None),
        ("GET", "/slms/nope/metrics", None),
        ("GET", "/teacher-evaluations/nope/metrics", None),
    ):
        response = api.request(method, path, json=body)
        assert response.status_code == 404, (path, response.text)
        assert "'nope'" in response.json()["message"]

    dataset_id = create_dataset(api)
    # Synthetic generation needs an LLM teacher this server was not given: a clear 501 naming
    # the setting, not a fake dataset (with one: tests/test_llm_teacher_e2e.py).
    monkeypatch.delenv("DISTIL_TEACHER_BASE_URL", raising=False)  # read per request
    response = api.post(
        "/datasets/from-datasets",
        json={"from": dataset_id, "operation": "generate_synthetic_data_train"},
    )
    assert response.status_code == 501
    assert "set DISTIL_TEACHER_BASE_URL" in response.json()["message"]

    # 409 while the SLM's job has not succeeded; metrics read null meanwhile.
    (tmp_path / "gate").unlink()
    slm_id = api.post("/slms/from-datasets", json={"from": dataset_id}).json()["id"]
    response = api.get(f"/slms/{slm_id}/download")
    assert response.status_code == 409 and "JOB_SUCCESS" in response.json()["message"]
    assert api.get(f"/slms/{slm_id}/metrics").json()["tuned_model_performance"] is None
    meta = api.get(f"/slms/{slm_id}/download-metadata").json()
    assert meta["model_client_url"] is None and meta["config_url"]
    (tmp_path / "gate").touch()
    assert wait_entity(api, f"/slms/{slm_id}/status")["status"] == "JOB_SUCCESS"
    assert api.get(f"/slms/{slm_id}/download").status_code == 200

    for path, replacement in (
        ("/uploads", "POST /datasets"),
        ("/teacher-evaluations/some-upload", "POST /teacher-evaluations with from_dataset_id"),
        ("/trainings/some-upload", "POST /slms/from-datasets"),
    ):
        response = api.post(path, json={})
        assert response.status_code == 410, path
        assert replacement in response.json()["message"]

    # Deployments and inference endpoints run locally: tests/test_local_deployments.py and
    # tests/test_local_inference_endpoints.py. None was made here.
    assert api.get("/inference-endpoints").json() == []


def test_credits_are_reported_and_never_spent(server: tuple[LocalServer, httpx.Client]) -> None:
    _, api = server
    before = api.get("/credits/endpoints").json()["balances"]
    assert before["datasets_post"] > 0 and before["slms_from_datasets_post"] > 0
    create_dataset(api)
    assert api.get("/credits/endpoints").json()["balances"] == before


def test_an_slm_uploaded_from_a_staged_tarball(
    server: tuple[LocalServer, httpx.Client], tmp_path: Path
) -> None:
    from distil_sdk.local._jobs.packaging import package_model
    from tiny_models import build_tiny_bert

    _, api = server
    model_dir = build_tiny_bert(tmp_path / "model", LABELS)
    tar = package_model(model_dir, tmp_path / "model.tar")
    config = yaml.safe_dump(CONFIG).encode()
    body = stage(
        api, {"model_tar": tar.read_bytes(), "config_yaml": config}, "/staging-slms-s3-urls"
    )
    body = {"model": body["model"], "config": body["config"]}
    created = api.post("/slms", json=body)
    assert created.status_code == 201, created.text
    slm_id = created.json()["id"]
    assert api.get(f"/slms/{slm_id}/status").json()["status"] == "JOB_SUCCESS"
    download = api.get(f"/slms/{slm_id}/download").json()
    assert httpx.get(download["model_url"]).content == tar.read_bytes()
    # Nothing evaluated it, and its tarball carried no client.
    assert api.get(f"/slms/{slm_id}/metrics").json()["tuned_model_performance"] is None
    assert api.get(f"/slms/{slm_id}/download-metadata").json()["model_client_url"] is None

    not_a_model = tmp_path / "bad.tar"
    with tarfile.open(not_a_model, "w") as archive:
        archive.add(tmp_path / "model.tar", arcname="something/else.bin")
    body = stage(
        api, {"model_tar": not_a_model.read_bytes(), "config_yaml": config}, "/staging-slms-s3-urls"
    )
    refused = api.post("/slms", json={"model": body["model"], "config": body["config"]})
    assert refused.status_code == 400 and "model/config.json" in refused.text


def test_an_empty_split_is_accepted_but_cannot_feed_a_job_and_entities_persist(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_fake_pipeline(monkeypatch, tmp_path).touch()
    with running_server(tmp_path / "data") as (_, api):
        files = dataset_files()
        del files["train_data_jsonl"]  # a split left out is an empty split
        empty_train = create_dataset(api, files)
        assert api.get(f"/datasets/{empty_train}/metrics").json()["train_data_size_bytes"] == 0
        # The reference's own refusals: no SLM without train rows, no teacher evaluation
        # without test rows (data-preparation/overview.md, "Empty splits").
        refused = api.post("/slms/from-datasets", json={"from": empty_train})
        assert refused.status_code == 400
        assert "Finetuning needs a training set" in refused.json()["message"]
        files = dataset_files()
        del files["test_data_jsonl"]
        empty_test = create_dataset(api, files)
        refused = api.post("/teacher-evaluations", json={"from_dataset_id": empty_test})
        assert refused.status_code == 400
        assert "scores the teacher against a test set" in refused.json()["message"]
        full = create_dataset(api)
        evaluation_id = api.post("/teacher-evaluations", json={"from_dataset_id": full}).json()[
            "id"
        ]
        wait_entity(api, f"/teacher-evaluations/{evaluation_id}/status")
    # A new server on the same data dir serves the same entities.
    with running_server(tmp_path / "data") as (_, api):
        assert [d["id"] for d in api.get("/datasets").json()] == [full, empty_test, empty_train]
        evaluation = api.get(f"/teacher-evaluations/{evaluation_id}").json()
        assert evaluation == {
            "id": evaluation_id,
            "created_at": evaluation["created_at"],
            "status": "JOB_SUCCESS",
            "dataset_id": full,
        }
        metrics = api.get(f"/teacher-evaluations/{evaluation_id}/metrics").json()
        assert metrics["teacher_performance"]["accuracy"] == 1.0


def _trace(text: str) -> str:
    messages = [
        {"role": "system", "content": "You route support messages."},
        {"role": "user", "content": text},
        {"role": "assistant", "content": "whatever the production model said"},
    ]
    return json.dumps({"messages": messages})


def test_relabelling_traces_writes_a_new_dataset_with_the_teacher_labels(
    server: tuple[LocalServer, httpx.Client], tiny_bert_encoder: Path
) -> None:
    _, api = server
    config = {
        "base": {"teacher_model_name": str(tiny_bert_encoder)},
        "trace_processing": {"num_test_relabelled": 5},
    }
    texts = [f"trace {i}: my card was blocked at the atm" for i in range(1, 8)]
    lines = [_trace(texts[0]), _trace(texts[1]), _trace(texts[0])]
    lines += [_trace(t) for t in texts[2:]]
    files = dict(
        dataset_files(),
        config_yaml=yaml.safe_dump(config).encode(),
        traces_jsonl=("\n".join(lines) + "\n").encode(),
    )
    # Traces must parse in the configured observation_format (data-preparation/overview.md).
    broken = dict(files, traces_jsonl=files["traces_jsonl"] + b"not json\n")
    refused = api.post("/datasets", json=stage(api, broken))
    assert refused.status_code == 400
    assert refused.json()["findings"][0]["code"] == "invalid_trace"
    parent_id = create_dataset(api, files)

    created = api.post(
        "/datasets/from-datasets", json={"from": parent_id, "operation": "relabel_traces_test"}
    )
    assert created.status_code == 201, created.text
    child = created.json()
    assert child["operation"] == "relabel_traces_test"
    assert child["parent_dataset_id"] == parent_id
    status = wait_entity(api, f"/datasets/{child['id']}/status")
    assert status["status"] == "JOB_SUCCESS", api.get(f"/datasets/{child['id']}/logs").text

    download = api.get(f"/datasets/{child['id']}/download").json()
    test_rows = [json.loads(x) for x in httpx.get(download["test_data_url"]).text.splitlines()]
    assert len(test_rows) == 12 + 5  # the parent's rows, then the relabelled ones
    added = test_rows[12:]
    assert [r["messages"][0]["content"] for r in added] == texts[:5]
    assert all(r["messages"][1]["content"] in LABELS for r in added)
    left = httpx.get(download["traces_url"]).text.splitlines()
    assert [json.loads(x)["messages"][1]["content"] for x in left] == texts[5:]
    # The train split and the files the parent had are carried over unchanged.
    assert httpx.get(download["train_data_url"]).content == files["train_data_jsonl"]
    assert yaml.safe_load(httpx.get(download["config_url"]).content) == config
    # The parent is unchanged.
    parent_traces = httpx.get(api.get(f"/datasets/{parent_id}/download").json()["traces_url"])
    assert parent_traces.content == files["traces_jsonl"]

    # The new dataset feeds jobs like any other.
    evaluation_id = api.post("/teacher-evaluations", json={"from_dataset_id": child["id"]}).json()[
        "id"
    ]
    assert wait_entity(api, f"/teacher-evaluations/{evaluation_id}/status")["status"] == (
        "JOB_SUCCESS"
    )
    metrics = api.get(f"/teacher-evaluations/{evaluation_id}/metrics").json()
    assert sum(metrics["teacher_performance"][label]["support"] for label in LABELS) == 17

    # More traces than the dataset holds: the job fails and its log says why.
    too_many = dict(config, trace_processing={"num_test_relabelled": 50})
    failing = api.post(
        "/datasets/from-datasets",
        json={"from": parent_id, "operation": "relabel_traces_test", "config": too_many},
    ).json()["id"]
    assert wait_entity(api, f"/datasets/{failing}/status")["status"] == "JOB_FAILURE"
    assert "50 distinct traces" in api.get(f"/datasets/{failing}/logs").json()["logs"]
    assert api.get(f"/datasets/{failing}/download").status_code == 409
