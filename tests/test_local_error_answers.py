"""The local server's error answers: the platform's shape, and all declared in its OpenAPI.

The platform answers an error with ``{"message": "..."}``
(``tests/fixtures/platform/recorded/2025-06-30-error-500.json``). This walks every operation of
the app's own OpenAPI document, provokes the errors each can give (no token, a bad or missing
id, a missing or unready parent, a refused body, a body over the limit, a retired or
hosted-only route, a method the path does not serve, an unexpected exception) and checks
that every answer's body carries a string ``message`` (no ``detail``) and that its status is
declared for its operation.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from _local_support import rows
from distil_sdk.local._api.auth import sign_artifact_path
from distil_sdk.local._api.errors import error_body
from distil_sdk.local._storage.entity_store import EntityStore
from distil_sdk.local._storage.staging import sign_path
from distil_sdk.local.app import create_app
from test_local_entities import dataset_files

TOKEN = "error-answers-token"
LIMIT = 64 * 1024
AUTH = {"Authorization": f"Bearer {TOKEN}"}
#: Operations that create an entity from a parent named in the body, and what they must declare.
CREATES = {
    ("post", "/datasets"): {"400", "402", "422"},
    ("post", "/datasets/from-datasets"): {"400", "402", "404", "409", "422", "501"},
    ("post", "/datasets/from-datasets-smoke"): {"400", "402", "404", "409", "422", "501"},
    ("post", "/teacher-evaluations"): {"400", "402", "404", "409", "422"},
    ("post", "/slms/from-datasets"): {"400", "402", "404", "409", "422"},
    ("post", "/slms/from-datasets-smoke"): {"400", "402", "404", "409", "422"},
    ("post", "/slms"): {"400", "402", "422"},
    ("post", "/prepared-traces"): {"400", "402", "404", "422"},
    ("post", "/datasets/from-prepared-traces"): {"400", "402", "404", "409", "422"},
}


@dataclass
class Answer:
    method: str
    template: str | None  # the OpenAPI path it was sent to; None for a path no route serves
    url: str
    status: int
    body: Any


class Probe:
    """Sends requests through the app and keeps every error answer."""

    def __init__(self, client: TestClient) -> None:
        self.client = client
        self.answers: list[Answer] = []

    def __call__(
        self, method: str, template: str | None, url: str, **kwargs: Any
    ) -> Any:  # the httpx response
        response = self.client.request(method.upper(), url, **kwargs)
        if response.status_code >= 400:
            try:
                body = response.json()
            except ValueError:
                body = response.text
            self.answers.append(Answer(method, template, url, response.status_code, body))
        return response


def stage(client: TestClient, files: dict[str, bytes]) -> dict[str, str]:
    """PUT each file to its presigned URL; the create body naming them."""
    urls = client.get("/staging-datasets-s3-urls", headers=AUTH).raise_for_status().json()
    body = {}
    for key, content in files.items():
        client.put(urls[key], content=content).raise_for_status()
        body[key.rsplit("_", 1)[0]] = urls[key]
    return body


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    app = create_app(tmp_path / "data", TOKEN, run_worker=False, max_body_bytes=LIMIT)
    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client


def _declared(schema: dict[str, Any], method: str, template: str) -> set[str]:
    return set(schema["paths"][template][method]["responses"])


def _fill(template: str) -> str:
    return re.sub(r"\{[^}]+\}", "nope", template)


def _walk(probe: Probe, schema: dict[str, Any]) -> None:
    """Generic errors of every operation: token, ids, bodies, size, method."""
    for template, item in schema["paths"].items():
        for method, operation in item.items():
            url = _fill(template)
            has_body = "requestBody" in operation
            probe(method, template, url, headers={"Authorization": "Bearer wrong"})
            probe(method, template, url, headers=AUTH, **({"json": {}} if has_body else {}))
            probe(
                method,
                template,
                url,
                headers={**AUTH, "Content-Type": "application/json"},
                content=b"x" * (LIMIT + 1),
            )
            if has_body:
                for content in (b"{not json", b'"\xff\xfe"', b"[1, 2]"):
                    probe(
                        method,
                        template,
                        url,
                        headers={**AUTH, "Content-Type": "application/json"},
                        content=content,
                    )
                probe(  # streamed past the limit: refused while the route reads it
                    method,
                    template,
                    url,
                    headers={**AUTH, "Content-Type": "application/json"},
                    content=iter([b"[" + b" " * 4096] * (LIMIT // 4096 + 2)),
                )
        if not {"get", "patch"} <= set(item):
            missing = "patch" if "patch" not in item else "get"
            probe(missing, None, _fill(template), headers=AUTH)  # 405: no operation to declare
    probe("get", None, "/no-such-route", headers=AUTH)


def _scenarios(probe: Probe) -> None:
    """Errors that need state: missing and unready parents, refused files, presigned URLs."""
    client = probe.client
    dataset = client.post("/datasets", json=stage(client, dataset_files()), headers=AUTH)
    assert dataset.status_code == 201, dataset.text
    ready = dataset.json()["id"]

    # Files that fail validation: 400 with every finding.
    bad_rows = [*rows("train", 10), ("a message about the weather", "weather")]
    probe(
        "post",
        "/datasets",
        "/datasets",
        headers=AUTH,
        json=stage(client, dataset_files(train=bad_rows)),
    )
    # Missing parents: 404.
    for template, body in (
        ("/datasets/from-datasets", {"from": "nope", "operation": "relabel_traces_train"}),
        ("/datasets/from-datasets-smoke", {"from": "nope", "operation": "relabel_traces_test"}),
        ("/teacher-evaluations", {"from_dataset_id": "nope"}),
        ("/slms/from-datasets", {"from": "nope"}),
        ("/slms/from-datasets-smoke", {"from": "nope"}),
        ("/datasets/from-prepared-traces", {"from": "nope", "config": {}, "job_description": {}}),
        ("/prepared-traces", {"inference_endpoint_name": "nope"}),
    ):
        assert probe("post", template, template, headers=AUTH, json=body).status_code == 404
    # Synthetic generation on a server without an LLM teacher: 501 naming the setting.
    synthetic = {"from": ready, "operation": "generate_synthetic_data_train"}
    answer = probe(
        "post", "/datasets/from-datasets", "/datasets/from-datasets", headers=AUTH, json=synthetic
    )
    assert answer.status_code == 501 and "DISTIL_TEACHER_BASE_URL" in answer.json()["message"]
    # An override that breaks the task: 400 with findings.
    broken = {"from": ready, "job_description": {"task_description": "x"}}
    assert (
        probe(
            "post", "/slms/from-datasets", "/slms/from-datasets", headers=AUTH, json=broken
        ).status_code
        == 400
    )

    # A parent whose job has not run (no worker here): 409 everywhere it is needed.
    derived = client.post(
        "/datasets/from-datasets",
        json={"from": ready, "operation": "relabel_traces_train"},
        headers=AUTH,
    )
    assert derived.status_code == 201, derived.text
    pending = derived.json()["id"]
    for template, body in (
        ("/datasets/from-datasets", {"from": pending, "operation": "relabel_traces_train"}),
        ("/teacher-evaluations", {"from_dataset_id": pending}),
        ("/slms/from-datasets", {"from": pending}),
        ("/slms/from-datasets-smoke", {"from": pending}),
    ):
        assert probe("post", template, template, headers=AUTH, json=body).status_code == 409
    for suffix in ("sample", "download"):
        template = f"/datasets/{{dataset_id}}/{suffix}"
        assert (
            probe("get", template, f"/datasets/{pending}/{suffix}", headers=AUTH).status_code == 409
        )
    slm = client.post("/slms/from-datasets", json={"from": ready}, headers=AUTH)
    assert slm.status_code == 201, slm.text
    slm_url = f"/slms/{slm.json()['id']}/download"
    assert probe("get", "/slms/{slm_id}/download", slm_url, headers=AUTH).status_code == 409

    # The models generation: an invalid bundle (422 with findings), an unknown upload (404).
    model_id = client.post("/models", json={"name": "m"}, headers=AUTH).json()["id"]
    uploads = f"/models/{model_id}/uploads"
    bad_upload = {"train_data": {"type": "csv", "content": ""}}
    assert (
        probe(
            "post", "/models/{model_id}/uploads", uploads, headers=AUTH, json=bad_upload
        ).status_code
        == 422
    )
    training = f"/models/{model_id}/training"
    assert (
        probe(
            "post",
            "/models/{model_id}/training",
            training,
            headers=AUTH,
            json={"upload_id": "nope"},
        ).status_code
        == 404
    )

    # Presigned URLs: no signature (403), signed but nothing there (404), a staging PUT
    # this server never issued (403).
    assert probe("get", "/artifacts/{job_id}/{name}", "/artifacts/job/f.jsonl").status_code == 403
    signed = sign_artifact_path(TOKEN, "job", "f.jsonl")
    assert probe("get", "/artifacts/{job_id}/{name}", signed).status_code == 404
    assert (
        probe("get", "/files/{entity_id}/{name}", f"/files/{ready}/train.jsonl").status_code == 403
    )
    signed = sign_path(TOKEN, "GET", f"/files/{ready}/model.tar")
    assert probe("get", "/files/{entity_id}/{name}", signed).status_code == 404
    put = "/staging/datasets/bundle/train_data_jsonl"
    assert probe("put", "/staging/{kind}/{bundle}/{key}", put, content=b"x").status_code == 403


def test_every_error_answer_is_a_message_and_every_status_is_declared(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Synthetic generation answers 501 without an LLM teacher (the scenarios probe it).
    monkeypatch.delenv("DISTIL_TEACHER_BASE_URL", raising=False)
    schema = client.get("/openapi.json").json()
    probe = Probe(client)
    _walk(probe, schema)
    _scenarios(probe)

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("a bug")

    monkeypatch.setattr(EntityStore, "list", broken)
    assert probe("get", "/datasets", "/datasets", headers=AUTH).status_code == 500

    problems: list[str] = []
    for a in probe.answers:
        where = f"{a.method.upper()} {a.url} -> {a.status}"
        if not isinstance(a.body, dict) or not isinstance(a.body.get("message"), str):
            problems.append(f"{where}: no string message: {a.body!r}"[:300])
        elif not a.body["message"] or "detail" in a.body:
            problems.append(f"{where}: {a.body!r}"[:300])
        if a.template is not None and str(a.status) not in _declared(schema, a.method, a.template):
            problems.append(f"{where}: status not declared for {a.template}")
    assert not problems, "\n".join(problems)

    seen = {a.status for a in probe.answers}
    assert {400, 401, 403, 404, 405, 409, 410, 413, 422, 500, 501} <= seen, sorted(seen)
    assert len(probe.answers) > 300
    internal = next(a for a in probe.answers if a.status == 500)
    assert internal.body == {"message": "Internal Server Error"}  # the platform's, nothing more


def test_the_refused_staged_url_of_a_dataset_create_is_a_message(client: TestClient) -> None:
    """The one error body a route still built by hand (``_routes_datasets.create_dataset``'s
    ``StagingError``): it goes through ``_entity_common.rejected`` as every other 400 does."""
    body = {"config": "http://elsewhere/x", "job_description": "http://elsewhere/y"}
    response = client.post("/datasets", json=body, headers=AUTH)
    assert response.status_code == 400
    assert isinstance(response.json().get("message"), str) and response.json()["findings"] == []


def test_every_declared_error_has_the_error_schema(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()
    components = schema["components"]["schemas"]
    for name in ("ErrorAnswer", "HTTPValidationError"):
        assert components[name]["required"][0] == "message"
        assert components[name]["properties"]["message"] == {"type": "string"}
    for template, item in schema["paths"].items():
        for method, operation in item.items():
            for status, response in operation["responses"].items():
                if status[0] not in "45":
                    continue
                ref = response["content"]["application/json"]["schema"]["$ref"]
                assert ref.rsplit("/", 1)[-1] in {"ErrorAnswer", "HTTPValidationError"}, (
                    method,
                    template,
                    status,
                )
    for (method, template), statuses in CREATES.items():
        declared = _declared(schema, method, template)
        assert statuses <= declared, (method, template, statuses - declared)


def test_error_body_keeps_structured_extras_beside_the_message() -> None:
    assert error_body("bad files", findings=[{"file": "train"}]) == {
        "message": "bad files",
        "findings": [{"file": "train"}],
    }


def test_the_client_error_carries_the_message(tmp_path: Path) -> None:
    from distil_sdk import DistilClient, NotFoundError
    from distil_sdk.local.server import LocalServer

    server = LocalServer(tmp_path / "served", run_worker=False).start()
    try:
        with (
            DistilClient(base_url=server.base_url, api_key=server.token) as api,
            pytest.raises(NotFoundError) as info,
        ):
            api.v2.trainings.get("nope")
    finally:
        server.close()
    assert isinstance(info.value.body, dict) and set(info.value.body) == {"message"}
    assert info.value.message == info.value.body["message"]
    assert info.value.message == "training 'nope' not found"
