"""The classification routes' ASGI fast path (`distil_sdk.serving._fast`): it answers exactly as
the FastAPI routes do, and hands every request it does not take to them with the body intact."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import httpx
import numpy as np
import pytest

pytest.importorskip("fastapi")

from distil_sdk.serving import ModelServer
from distil_sdk.serving._fast import answer_fast

LABELS = ["billing", "card", "other"]


class Keyed:
    """Rows that differ from text to text, so a row given to the wrong text shows."""

    labels, kind = LABELS, "sequence-classification"

    def predict_proba(self, texts: list[str]) -> np.ndarray:
        seeds = [sum(map(ord, text)) % 997 + 1 for text in texts]
        rows = np.array([[s, (s * 7) % 991 + 1, (s * 13) % 983 + 1] for s in seeds], float)
        return (rows / rows.sum(axis=1, keepdims=True)).astype(np.float32)


@pytest.fixture(scope="module")
def server() -> Iterator[ModelServer]:
    with ModelServer(Keyed(), port=0, model_name="keyed", max_request_texts=4) as served:
        yield served


def both_paths(server: ModelServer, path: str, body: bytes) -> tuple[httpx.Response, ...]:
    """The answer with a Content-Length (the fast path takes it) and chunked (FastAPI's)."""
    headers = {"content-type": "application/json"}
    url = server.base_url + path
    sized = httpx.post(url, content=body, headers=headers, timeout=30)

    def chunks() -> Iterator[bytes]:
        yield body

    chunked = httpx.post(url, content=chunks(), headers=headers, timeout=30)
    assert "content-length" not in chunked.request.headers
    return sized, chunked


def without_ids(answer: httpx.Response) -> Any:
    body = answer.json()
    if isinstance(body, dict):
        body.pop("id", None), body.pop("created", None)
    return body


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/predict", {"inputs": "where is my card"}),
        ("/predict", {"inputs": ["a fee", "my card", "hello there"], "raw_scores": True}),
        ("/predict", {"inputs": ["fine", "  "]}),  # 422 naming inputs[1]
        ("/predict", {"inputs": ["a", "b", "c", "d", "e"]}),  # 413
        ("/predict", {"inputs": 5}),  # not the plain shape: FastAPI's 422
        ("/predict", {"inputs": "x", "raw_scores": "true"}),  # pydantic coerces: FastAPI's
        ("/predict", {"text": "no inputs"}),
        ("/v1/classify", {"model": "keyed", "input": ["my card", "a fee"]}),
        ("/v1/classify", {"input": ""}),
        ("/v1/classify", {"input": "x", "model": 3}),
    ],
)
def test_fast_path_answers_as_the_fastapi_route(
    server: ModelServer, path: str, body: dict[str, Any]
) -> None:
    sized, chunked = both_paths(server, path, json.dumps(body).encode())
    assert sized.status_code == chunked.status_code
    assert sized.headers["content-type"] == chunked.headers["content-type"]
    if path == "/predict":
        assert sized.content == chunked.content
    else:
        assert without_ids(sized) == without_ids(chunked)


def test_fast_path_rows_are_the_models_in_order(server: ModelServer) -> None:
    texts = ["my card", "a fee", "hello there", "the app"]
    expected = Keyed().predict_proba(texts)
    answer = httpx.post(server.base_url + "/predict", json={"inputs": texts}, timeout=30).json()
    got = np.array(
        [[dict((s["label"], s["score"]) for s in row)[k] for k in LABELS] for row in answer]
    )
    assert np.allclose(got, expected, atol=1e-7)
    assert all(
        [s["score"] for s in row] == sorted((s["score"] for s in row), reverse=True)
        for row in answer
    )
    data = httpx.post(server.base_url + "/v1/classify", json={"input": texts}, timeout=30).json()
    assert [d["index"] for d in data["data"]] == [0, 1, 2, 3]
    assert [d["label"] for d in data["data"]] == [LABELS[k] for k in expected.argmax(axis=1)]
    assert np.allclose([d["probs"] for d in data["data"]], expected, atol=1e-7)


def test_broken_json_still_gets_fastapis_422(server: ModelServer) -> None:
    sized, chunked = both_paths(server, "/predict", b'{"inputs": "x"')
    assert sized.status_code == chunked.status_code == 422
    assert sized.content == chunked.content


class _State:
    """What `answer_fast` reads of the server's state, recording the texts it runs."""

    labels, model_name, model, generates = LABELS, "keyed", Keyed(), False

    def __init__(self) -> None:
        self.ran: list[list[str]] = []

    async def run(self, texts: list[str]) -> np.ndarray:
        self.ran.append(texts)
        return self.model.predict_proba(texts)


def _call(body: bytes, headers: list[tuple[bytes, bytes]], chunks: int = 1) -> tuple[Any, ...]:
    """Run `answer_fast` on one request; the fake app records what it got."""
    state = _State()
    seen: dict[str, Any] = {}
    size = -(-len(body) // chunks) if body else 1
    parts = [body[i : i + size] for i in range(0, len(body), size)] or [b""]
    messages = [
        {"type": "http.request", "body": part, "more_body": i < len(parts) - 1}
        for i, part in enumerate(parts)
    ]
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    async def app(scope: Any, receive: Any, send: Any) -> None:
        got = b""
        while True:
            message = await receive()
            got += message.get("body", b"")
            if not message.get("more_body"):
                break
        seen["body"] = got

    scope = {"type": "http", "method": "POST", "path": "/predict", "headers": headers}
    asyncio.run(answer_fast(state, app, scope, receive, send))  # type: ignore[arg-type]
    return state, seen, sent


def _headers(body: bytes, content_type: bytes = b"application/json") -> list[tuple[bytes, bytes]]:
    return [(b"content-type", content_type), (b"content-length", str(len(body)).encode())]


def test_plain_body_is_answered_without_the_app_even_in_chunks() -> None:
    body = json.dumps({"inputs": ["a", "bb"]}).encode()
    state, seen, sent = _call(body, _headers(body), chunks=3)
    assert state.ran == [["a", "bb"]] and seen == {}
    assert sent[0]["status"] == 200 and len(json.loads(sent[1]["body"])) == 2


@pytest.mark.parametrize(
    ("body", "headers"),
    [
        (b'{"inputs": 1}', None),  # not the plain shape
        (b'{"inputs": "a", "truncate": 0}', None),  # pydantic would coerce 0
        (b"[1, 2]", None),
        (b'{"inputs": "a"', None),  # broken JSON
        (b'{"inputs": "a"}', [(b"content-type", b"application/json")]),  # no length
        (b'{"inputs": "a"}', [(b"content-type", b"text/plain"), (b"content-length", b"15")]),
        (b'{"inputs": "' + b"a" * 300_000 + b'"}', "sized"),  # large: FastAPI reads it
    ],
)
def test_anything_else_reaches_the_app_with_its_body_intact(body: bytes, headers: Any) -> None:
    state, seen, sent = _call(body, _headers(body) if headers in (None, "sized") else headers, 2)
    assert state.ran == [] and sent == []
    assert seen["body"] == body
