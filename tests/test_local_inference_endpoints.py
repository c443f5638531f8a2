"""Inference endpoints on the local platform, over loopback: an endpoint in front of a real
deployment of a tiny model, called with the ``openai`` client through the platform's gateway
(``{base}/inference/v1``) with a linked key; its records paged and turned into trace rows; an
export downloaded; the fallback (a stand-in for OpenRouter at ``$DISTIL_TEACHER_BASE_URL``)
when the primary fails, and the 502 without one; a server of your own as primary; the
sample rate; the 400 / 401 / 404 / 409 answers.

Shapes: distil-cli-skill ``execution/backend-api.md`` § Inference endpoints (newest stored
version, commit 8848a333), ``inference-endpoints.md`` (074bf216) and ``data-preparation/
traces.md`` § From an inference endpoint (074bf216). Budget: 25 s (one real deployment).
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from _local_support import LABELS, running_server
from distil_sdk import DistilClient, EndpointTrace, JobStatus, NotFoundError
from distil_sdk.local._api import endpoints as endpoint_routes
from distil_sdk.local._jobs.deployments import SERVING_MODULE_ENV
from distil_sdk.local.server import LocalServer
from test_local_deployments import model_tar, upload_slm

openai = pytest.importorskip("openai")

__all__ = ["model_tar"]  # a fixture of this module too: the tiny model, built once

FALLBACK = "openai/gpt-4.1-mini"
MESSAGES = [{"role": "user", "content": "my card was charged twice"}]


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LocalServer, Any]]:
    """One local platform for the module, with no fallback server configured."""
    with pytest.MonkeyPatch.context() as env:
        for name in ("DISTIL_API_KEY", "DISTIL_TEACHER_BASE_URL", "DISTIL_INFERENCE_URL"):
            env.delenv(name, raising=False)
        with running_server(tmp_path_factory.mktemp("endpoints") / "data") as pair:
            yield pair


@pytest.fixture
def client(platform: tuple[LocalServer, Any]) -> Iterator[DistilClient]:
    server, _ = platform
    with DistilClient(base_url=server.base_url, api_key=server.token) as c:
        yield c


class Stub:
    """An OpenAI-compatible server on loopback: every chat completion is answered ``reply``,
    ``/v1/models`` lists ``served``; each request is kept (path, headers, body)."""

    def __init__(self, served: str = "stub-model") -> None:
        self.served = served
        self.requests: list[tuple[str, dict[str, str], dict[str, Any]]] = []
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:  # quiet
                pass

            def _send(self, data: dict[str, Any]) -> None:
                raw = json.dumps(data).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            def do_GET(self) -> None:
                self._send({"object": "list", "data": [{"id": stub.served, "object": "model"}]})

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                stub.requests.append((self.path, dict(self.headers.items()), body))
                message = {"role": "assistant", "content": "from the stub"}
                choice = {"index": 0, "message": message, "finish_reason": "stop"}
                self._send({"id": "c1", "object": "chat.completion", "created": 0,
                            "model": body["model"], "choices": [choice]})  # fmt: skip

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def stub() -> Iterator[Stub]:
    server = Stub()
    try:
        yield server
    finally:
        server.close()


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def llm_for(client: DistilClient, name: str, key: Any) -> Any:
    config = client.inference_endpoints.openai_config(name, key)
    return openai.OpenAI(**config.client_kwargs(), max_retries=0)


def test_an_endpoint_in_front_of_a_deployment_records_its_calls(
    platform: tuple[LocalServer, Any],
    client: DistilClient,
    model_tar: bytes,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    server, api = platform
    deployment = client.deployments.create(upload_slm(api, model_tar))
    client.deployments.wait(deployment.id, poll_interval=0.1, timeout=120)
    endpoints = client.inference_endpoints
    ep = endpoints.create("support", FALLBACK, primary=deployment.id, trace_sample_rate=1)
    assert ep.id.startswith("support-") and len(ep.id) == len("support-") + 6
    assert (ep.primary, ep.fallback) == (deployment.id, {"model": FALLBACK})
    assert ep.trace_sampling_rate == 1
    assert endpoints.get(ep.id) == ep and ep in endpoints.list()

    key = client.api_keys.create("support-prod")
    config = endpoints.openai_config(ep.id, key)
    # The client talks to a local platform: the endpoint is called on the platform's gateway.
    assert (config.base_url, config.model) == (f"{server.base_url}/inference/v1", ep.id)
    llm = llm_for(client, ep.id, key)
    with pytest.raises(openai.AuthenticationError, match="not linked"):
        llm.chat.completions.create(model=ep.id, messages=MESSAGES)
    endpoints.link_api_key(ep.id, key.name)
    texts = ["my card was charged twice", "where is my new card"]
    for text in texts:
        answer = llm.chat.completions.create(
            model=ep.id, messages=[{"role": "user", "content": text}]
        )
        # Whoever answered, the answer names the endpoint (the SLM's id stays behind it).
        assert answer.model == ep.id and answer.choices[0].message.content in LABELS
    for wrong in ("not-a-key", server.token):  # the platform's token is no inference key
        other = openai.OpenAI(base_url=config.base_url, api_key=wrong, max_retries=0)
        with pytest.raises(openai.AuthenticationError, match="invalid API key"):
            other.chat.completions.create(model=ep.id, messages=MESSAGES)

    # The records, a page at a time, newest first, each one a trace row.
    monkeypatch.setattr(endpoint_routes, "PAGE_SIZE", 1)
    pages = list(endpoints.traces(ep.id).pages())
    assert [len(page.traces) for page in pages] == [1, 1]
    assert pages[0].pagination_cursor and pages[1].pagination_cursor is None
    traces = [trace for page in pages for trace in page.traces]
    assert [t.request["messages"][0]["content"] for t in traces] == texts[::-1]  # type: ignore[index]
    assert {(t.metadata.status, t.metadata.source) for t in traces if t.metadata} == {
        (200, "primary")
    }
    assert all(t.start_time and t.latency is not None and t.latency >= 0 for t in traces)
    row = traces[0].to_trace_row()
    assert row is not None and row["messages"][0] == {"role": "user", "content": texts[1]}
    assert row["messages"][1]["role"] == "assistant" and row["messages"][1]["content"] in LABELS

    # An export of the window: one JSONL file of the same records, behind a presigned URL.
    exports = endpoints.traces_exports
    export = exports.create(ep.id)
    assert export.download_url and export.state() is JobStatus.SUCCESS
    assert server.token not in export.download_url
    path = exports.download(ep.id, export.id, tmp_path)
    lines = path.read_text("utf-8").splitlines()
    assert [EndpointTrace.model_validate_json(line) for line in lines] == traces
    assert [e.id for e in exports.list(ep.id)] == [export.id]
    assert exports.get(ep.id, export.id).from_start_time == export.from_start_time
    tampered = export.download_url.replace("signature=", "signature=0")
    assert httpx.get(tampered).status_code == 403

    endpoints.unlink_api_key(ep.id, key.name)
    with pytest.raises(openai.AuthenticationError, match="not linked"):
        llm.chat.completions.create(model=ep.id, messages=MESSAGES)

    # Its deployment deleted, the endpoint answers from the fallback: a hosted OpenRouter
    # model here, as no $DISTIL_TEACHER_BASE_URL stands in for it. The failure is recorded too.
    endpoints.link_api_key(ep.id, key.name)
    client.deployments.delete(deployment.id)
    with pytest.raises(openai.InternalServerError, match="OpenRouter") as info:
        llm.chat.completions.create(model=ep.id, messages=MESSAGES)
    assert info.value.status_code == 502 and "DISTIL_TEACHER_BASE_URL" in str(info.value)
    newest = next(iter(endpoints.traces(ep.id)))
    assert newest.metadata and (newest.metadata.status, newest.metadata.source) == (502, "fallback")
    assert newest.to_trace_row() is None  # a failed call is no training data
    client.api_keys.delete(key.name)


def test_a_failing_primary_falls_back_to_the_teacher_server(
    client: DistilClient, stub: Stub, monkeypatch: pytest.MonkeyPatch
) -> None:
    endpoints = client.inference_endpoints
    dead = {"url": f"http://127.0.0.1:{closed_port()}", "api-key": "primary-secret"}
    ep = endpoints.create("dead-primary", FALLBACK, primary=dead, trace_sample_rate=1)
    assert ep.primary == {"url": dead["url"]}  # never its key
    key = client.api_keys.create("fallback-key")
    endpoints.link_api_key(ep.id, key.name)
    monkeypatch.setenv("DISTIL_TEACHER_BASE_URL", f"{stub.url}/v1")
    monkeypatch.setenv("DISTIL_TEACHER_API_KEY", "teacher-secret")

    answer = llm_for(client, ep.id, key).chat.completions.create(
        model=ep.id, messages=MESSAGES, temperature=0
    )
    assert (answer.model, answer.choices[0].message.content) == (ep.id, "from the stub")
    # Forwarded as received, with `model` rewritten to the fallback's slug.
    ((path, headers, body),) = stub.requests
    assert path == "/v1/chat/completions" and headers["Authorization"] == "Bearer teacher-secret"
    assert body == {"model": FALLBACK, "messages": MESSAGES, "temperature": 0}
    (trace,) = endpoints.traces(ep.id)
    assert trace.metadata and (trace.metadata.status, trace.metadata.source) == (200, "fallback")
    assert trace.to_trace_row() == {
        "messages": [*MESSAGES, {"role": "assistant", "content": "from the stub"}]
    }

    # A server of your own as the primary: it answers, called with the name it serves.
    own = {"url": stub.url, "api-key": "primary-secret"}
    mine = endpoints.create("own-primary", FALLBACK, primary=own, trace_sample_rate=1)
    endpoints.link_api_key(mine.id, key.name)
    llm_for(client, mine.id, key).chat.completions.create(model=mine.id, messages=MESSAGES)
    _, headers, body = stub.requests[-1]
    assert headers["Authorization"] == "Bearer primary-secret" and body["model"] == stub.served
    (trace,) = endpoints.traces(mine.id)
    assert trace.metadata and trace.metadata.source == "primary"

    # A sample rate of 0 records nothing; the API's default records one call in a hundred.
    quiet = endpoints.create("quiet", FALLBACK, trace_sample_rate=0)
    endpoints.link_api_key(quiet.id, key.name)
    llm_for(client, quiet.id, key).chat.completions.create(model=quiet.id, messages=MESSAGES)
    assert list(endpoints.traces(quiet.id)) == []
    assert endpoints.create("default-rate", FALLBACK).trace_sampling_rate == 0.01

    with pytest.raises(openai.BadRequestError, match="stream=true is not supported"):
        llm_for(client, ep.id, key).chat.completions.create(
            model=ep.id, messages=MESSAGES, stream=True
        )
    with pytest.raises(openai.NotFoundError, match="no inference endpoint 'nope'"):
        llm_for(client, ep.id, key).chat.completions.create(model="nope", messages=MESSAGES)

    # A key revoked everywhere loses its links: a new key of the same name inherits none.
    client.api_keys.delete(key.name)
    again = client.api_keys.create(key.name)
    with pytest.raises(openai.AuthenticationError, match="not linked"):
        llm_for(client, ep.id, again).chat.completions.create(model=ep.id, messages=MESSAGES)
    client.api_keys.delete(again.name)


def test_the_refusals_name_what_is_wrong(
    platform: tuple[LocalServer, Any],
    client: DistilClient,
    model_tar: bytes,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    server, api = platform
    base = {"name-prefix": "x", "fallback": {"model": FALLBACK}}
    answer = api.post("/inference-endpoints", json={**base, "primary": "no-such-deployment"})
    assert answer.status_code == 404 and "no-such-deployment" in answer.json()["message"]
    # A deployment whose server exits at once never serves: 409 whenever it is read.
    monkeypatch.setenv(SERVING_MODULE_ENV, "no_such_serving_module")
    failing = client.deployments.create(upload_slm(api, model_tar))
    answer = api.post("/inference-endpoints", json={**base, "primary": failing.id})
    assert answer.status_code == 409 and "not serving" in answer.json()["message"]

    for body, expected in (
        ({**base, "name-prefix": "a/b"}, "invalid name-prefix"),
        ({**base, "fallback": {"model": "gpt-4.1-mini"}}, "owner/model"),
        ({**base, "primary": {"url": "http://127.0.0.1:1"}}, "both url and api-key"),
        ({**base, "primary": {"url": "http://h/v1", "api-key": "k"}}, "without it"),
        ({**base, "primary": {"url": "ftp://h", "api-key": "k"}}, "not an http(s) URL"),
        ({**base, "primary": {"url": "http://u:p@h", "api-key": "k"}}, "carries credentials"),
        ({**base, "primary": {"url": "http://h", "api-key": "k", "x": 1}}, "unknown fields"),
    ):
        answer = api.post("/inference-endpoints", json=body)
        assert answer.status_code == 400 and expected in answer.json()["message"], answer.text
    answer = api.post("/inference-endpoints", json={**base, "name-prefix": "a\nb"})
    assert answer.status_code == 422
    assert answer.json()["errors"][0]["loc"] == ["body", "name-prefix"]

    endpoints = client.inference_endpoints
    for call in (
        lambda: endpoints.get("nope"),
        lambda: list(endpoints.traces("nope")),
        lambda: endpoints.traces_exports.list("nope"),
        lambda: endpoints.traces_exports.create("nope"),
    ):
        with pytest.raises(NotFoundError, match="nope"):
            call()
    ep = endpoints.create("refusals", FALLBACK)
    with pytest.raises(NotFoundError, match="exp-1"):
        endpoints.traces_exports.get(ep.id, "exp-1")
    with pytest.raises(NotFoundError, match="no-such-key"):
        endpoints.link_api_key(ep.id, "no-such-key")
    key = client.api_keys.create("refusals-key")
    with pytest.raises(NotFoundError, match="nope"):
        endpoints.link_api_key("nope", key.name)
    traces = f"/inference-endpoints/{ep.id}/traces"
    for params, expected in (
        ({"pagination-cursor": "!!"}, "pagination-cursor"),
        ({"from-start-time": "yesterday"}, "not an ISO 8601 time"),
        ({"from-start-time": "2026-10-01", "to-start-time": "2026-09-01"}, "window is empty"),
    ):
        answer = api.get(traces, params=params)
        assert answer.status_code == 400 and expected in answer.json()["message"], answer.text
    gateway = f"{server.base_url}/inference/v1/chat/completions"
    answer = httpx.post(gateway, json={"model": ep.id, "messages": MESSAGES})
    assert answer.status_code == 401 and "Bearer" in answer.json()["message"]
    client.api_keys.delete(key.name)
