"""The model server (issue 29 item 1): real loopback HTTP against tiny models.

Blocking is made deterministic with `Gated`, a classifier wrapper whose ``predict_proba`` waits
on an event: tests wait for conditions (the batcher inside a batch, texts queued), never for time.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")

from conftest import TINY_LABELS
from distil_sdk import LocalClassifier
from distil_sdk.local._storage.dataset_files import model_client_py
from distil_sdk.serving import ModelServer

TEXTS = [
    "my card payment was charged a fee",
    "where is my new card",
    "a cotton shirt with long sleeves",
    "the cheque deposit is not in my balance",
    "a kettle for the kitchen",
    "i want to change my pin number",
    "hello",
]
JD = {
    "task_description": "Route banking and shopping texts.",
    "classes_description": {label: f"Texts about {label}." for label in TINY_LABELS},
}
TIMEOUT = 60.0
# Every Gated's gate: a failed wait opens them all, so a broken server fails a test, not hangs it.
_GATES: list[threading.Event] = []


@pytest.fixture(scope="module")
def clf(tiny_bert_classifier: Path) -> LocalClassifier:
    return LocalClassifier.from_pretrained(tiny_bert_classifier)


@pytest.fixture(scope="module")
def server(clf: LocalClassifier) -> Iterator[ModelServer]:
    with ModelServer(clf, port=0, model_name="tiny", max_batch_size=8) as served:
        yield served


class Gated:
    """``clf`` whose ``predict_proba`` waits for `gate` (after setting `entered`) and fails on
    texts containing ``boom``."""

    def __init__(self, clf: LocalClassifier) -> None:
        self.clf = clf
        self.labels, self.kind = clf.labels, clf.kind
        self.gate, self.entered = threading.Event(), threading.Event()
        self.batches: list[list[str]] = []
        _GATES.append(self.gate)

    def predict_proba(self, texts: list[str]) -> np.ndarray:
        self.batches.append(list(texts))
        self.entered.set()
        assert self.gate.wait(TIMEOUT), "the test never opened the gate"
        if any("boom" in text for text in texts):
            raise RuntimeError("the model exploded")
        return self.clf.predict_proba(texts)


def wait_for(condition: Callable[[], bool], what: str) -> None:
    """Poll ``condition`` until true (the deadline only guards against a hang)."""
    done = threading.Event()
    for _ in range(int(TIMEOUT / 0.005)):
        if condition():
            return
        done.wait(0.005)
    for gate in _GATES:
        gate.set()
    raise AssertionError(f"timed out waiting for {what}")


def post(server: ModelServer, path: str, body: Any, **kwargs: Any) -> httpx.Response:
    return httpx.post(server.base_url + path, json=body, timeout=TIMEOUT, **kwargs)


def sorted_expected(row: np.ndarray) -> list[tuple[str, float]]:
    order = np.argsort(-row, kind="stable")
    return [(TINY_LABELS[i], float(row[i])) for i in order]


def test_predict_single_text_answers_every_label_sorted(
    server: ModelServer, clf: LocalClassifier
) -> None:
    answer = post(server, "/predict", {"inputs": TEXTS[0]}).json()
    expected = clf.predict_proba([TEXTS[0]])[0]
    assert [a["label"] for a in answer] == [label for label, _ in sorted_expected(expected)]
    assert np.allclose([a["score"] for a in answer], sorted(expected, reverse=True), atol=1e-5)
    raw = post(server, "/predict", {"inputs": TEXTS[0], "raw_scores": True}).json()
    assert np.allclose([a["score"] for a in raw], np.log(sorted(expected, reverse=True)), atol=1e-4)


class Keyed:
    """A model whose rows differ a lot from text to text (the tiny model's are nearly uniform,
    so a row given to the wrong text would pass a 1e-5 comparison)."""

    labels, kind = TINY_LABELS, "sequence-classification"

    def predict_proba(self, texts: list[str]) -> np.ndarray:
        seeds = [sum(map(ord, text)) % 997 + 1 for text in texts]
        rows = np.array([[s, (s * 7) % 991 + 1, (s * 13) % 983 + 1] for s in seeds], float)
        return (rows / rows.sum(axis=1, keepdims=True)).astype(np.float32)


@pytest.mark.parametrize("which", ["tiny-bert", "keyed"])
def test_concurrent_predict_and_classify_batches_return_every_row_in_order(
    server: ModelServer, clf: LocalClassifier, which: str
) -> None:
    model: Any = clf if which == "tiny-bert" else Keyed()
    # Mixed sizes, some larger than max_batch_size (8), so requests are split and shared.
    requests = [
        [f"{TEXTS[(i + j) % len(TEXTS)]} {i} {j}" for j in range(1 + (i * 5) % 19)]
        for i in range(40)
    ]
    expected = [model.predict_proba(texts) for texts in requests]
    if which == "keyed":
        server = ModelServer(model, port=0, model_name="tiny", max_batch_size=8).start()

    def call(i: int) -> tuple[int, Any]:
        if i % 2:
            return i, post(server, "/v1/classify", {"model": "tiny", "input": requests[i]})
        return i, post(server, "/predict", {"inputs": requests[i]})

    with ThreadPoolExecutor(16) as pool:
        answers = list(pool.map(call, range(len(requests))))
    for i, response in answers:
        assert response.status_code == 200, response.text
        body = response.json()
        if i % 2:
            assert body["object"] == "list" and body["model"] == "tiny"
            assert [d["index"] for d in body["data"]] == list(range(len(requests[i])))
            probs = np.array([d["probs"] for d in body["data"]])
            labels = [d["label"] for d in body["data"]]
            assert labels == [TINY_LABELS[k] for k in expected[i].argmax(axis=1)]
            assert all(d["num_classes"] == len(TINY_LABELS) for d in body["data"])
        else:
            assert len(body) == len(requests[i])
            probs = np.array(
                [
                    [dict((s["label"], s["score"]) for s in row)[lab] for lab in TINY_LABELS]
                    for row in body
                ]
            )
        assert np.allclose(probs, expected[i], atol=1e-5), f"request {i}"
    if which == "keyed":
        server.close()


def test_texts_of_concurrent_requests_share_a_batch(clf: LocalClassifier) -> None:
    gated = Gated(clf)
    # The default wait: a lone request does not wait; with one worker, the texts that arrive
    # while a batch runs fill the next one.
    with ModelServer(gated, port=0, max_batch_size=16, workers=1) as server:
        info = httpx.get(server.base_url + "/info").json()
        assert info["max_wait_ms"] is None and info["batch_wait"] == "adaptive"
        with ThreadPoolExecutor(8) as pool:
            first = pool.submit(post, server, "/predict", {"inputs": TEXTS[0]})
            wait_for(gated.entered.is_set, "the first batch")
            rest = [pool.submit(post, server, "/predict", {"inputs": [t]}) for t in TEXTS[1:7]]
            wait_for(lambda: server.metrics.queue_depth == 6, "six queued texts")
            gated.gate.set()
            answers = [first.result(), *(f.result() for f in rest)]
        assert all(a.status_code == 200 for a in answers)
        assert sorted(map(len, gated.batches)) == [1, 6]
        metrics = httpx.get(server.base_url + "/metrics").text
    assert 'distil_serve_batch_size_bucket{le="4"} 1' in metrics
    assert 'distil_serve_batch_size_bucket{le="8"} 2' in metrics
    assert "distil_serve_texts_predicted_total 7" in metrics
    assert 'distil_serve_requests_total{route="/predict",status="200"} 7' in metrics
    assert "distil_serve_queue_depth 0" in metrics


def test_overfilled_queue_answers_429_and_queued_requests_still_succeed(
    clf: LocalClassifier,
) -> None:
    gated = Gated(clf)
    server = ModelServer(gated, port=0, max_queue=2, max_wait_ms=0, workers=1)
    with server, ThreadPoolExecutor(4) as pool:
        first = pool.submit(post, server, "/predict", {"inputs": TEXTS[0]})
        wait_for(gated.entered.is_set, "the first batch")
        queued = pool.submit(post, server, "/predict", {"inputs": TEXTS[1:3]})
        wait_for(lambda: server.metrics.queue_depth == 2, "two queued texts")
        refused = post(server, "/predict", {"inputs": TEXTS[3]})
        refused_v1 = post(server, "/v1/classify", {"input": TEXTS[3]})
        gated.gate.set()
        assert first.result().status_code == 200 and queued.result().status_code == 200
    assert refused.status_code == 429 and refused.headers["retry-after"] == "1"
    assert "queue is full" in refused.json()["error"]
    assert refused_v1.status_code == 429
    assert refused_v1.json()["error"]["type"] == "rate_limit_error"


def test_oversized_request_413_and_empty_text_422_naming_the_index(clf: LocalClassifier) -> None:
    with ModelServer(clf, port=0, max_request_texts=3) as server:
        too_many = post(server, "/predict", {"inputs": TEXTS[:4]})
        empty = post(server, "/predict", {"inputs": ["fine", "  ", "ok"]})
        empty_v1 = post(server, "/v1/classify", {"input": ""})
        fits = post(server, "/predict", {"inputs": TEXTS[:3]})
    assert too_many.status_code == 413 and "limit of 3" in too_many.json()["error"]
    assert empty.status_code == 422 and "inputs[1]" in empty.json()["error"]
    assert empty_v1.status_code == 422 and "input is empty" in empty_v1.json()["error"]["message"]
    assert fits.status_code == 200


def test_a_failing_batch_answers_500_and_the_server_goes_on(clf: LocalClassifier) -> None:
    gated = Gated(clf)
    gated.gate.set()
    with ModelServer(gated, port=0) as server:
        failed = post(server, "/predict", {"inputs": ["boom goes the model"]})
        after = post(server, "/predict", {"inputs": TEXTS[0]})
    assert failed.status_code == 500 and "the model exploded" in failed.json()["error"]
    assert after.status_code == 200


def test_api_keys_guard_every_route_but_health(clf: LocalClassifier) -> None:
    with ModelServer(clf, port=0, api_keys=["s3cret-key", "other"]) as server:
        url = server.base_url
        none = httpx.post(url + "/predict", json={"inputs": "x"})
        wrong = httpx.get(url + "/v1/models", headers={"Authorization": "Bearer nope"})
        garbage = httpx.post(url + "/predict", content=b"{", headers={"Authorization": "x"})
        right = httpx.get(url + "/info", headers={"Authorization": "Bearer other"})
        health = httpx.get(url + "/health")
        shown = repr(server)
    assert none.status_code == 401 and isinstance(none.json()["error"], str)
    assert wrong.status_code == 401
    assert wrong.json()["error"]["type"] == "authentication_error"
    assert garbage.status_code == 401  # auth before the body is read
    assert right.status_code == 200 and right.json()["labels"] == TINY_LABELS
    assert health.status_code == 200
    assert "s3cret" not in shown and "s3cret" not in right.text


def test_close_drains_queued_requests_and_health_says_503(clf: LocalClassifier) -> None:
    gated = Gated(clf)
    server = ModelServer(gated, port=0, max_wait_ms=0, workers=1).start()
    with ThreadPoolExecutor(6) as pool:
        first = pool.submit(post, server, "/predict", {"inputs": TEXTS[0]})
        wait_for(gated.entered.is_set, "the first batch")
        queued = [pool.submit(post, server, "/predict", {"inputs": [t]}) for t in TEXTS[1:4]]
        wait_for(lambda: server.metrics.queue_depth == 3, "three queued texts")
        closing = pool.submit(server.close)
        health = httpx.Client(base_url=server.base_url, timeout=TIMEOUT)
        wait_for(lambda: health.get("/health").status_code == 503, "/health to say 503")
        late = health.post("/predict", json={"inputs": "too late"})
        health.close()
        gated.gate.set()
        closing.result(TIMEOUT)
        answers = [first.result(), *(f.result() for f in queued)]
    assert late.status_code == 503
    assert [a.status_code for a in answers] == [200] * 4
    assert not server.running


def test_openai_client_chat_completions_and_models(
    server: ModelServer, clf: LocalClassifier
) -> None:
    openai = pytest.importorskip("openai")
    client = openai.OpenAI(base_url=server.base_url + "/v1", api_key="EMPTY")
    models = client.models.list()
    assert [m.id for m in models.data] == ["tiny"]
    answer = client.chat.completions.create(
        model="tiny",
        messages=[
            {"role": "system", "content": "You classify."},
            {"role": "user", "content": TEXTS[1]},
        ],
        temperature=0,
        max_tokens=16,
        reasoning_effort="low",
        stream=False,
        extra_body={"chat_template_kwargs": {"enable_thinking": False}},
    )
    assert answer.choices[0].message.content == clf.predict([TEXTS[1]])[0]
    with pytest.raises(openai.BadRequestError, match="stream=true is not supported"):
        client.chat.completions.create(
            model="tiny", messages=[{"role": "user", "content": "x"}], stream=True
        )
    with pytest.raises(openai.BadRequestError, match="no user message"):
        client.chat.completions.create(model="tiny", messages=[{"role": "system", "content": "x"}])


@pytest.mark.parametrize("key", [None, "k-123"])
def test_generated_model_client_works_unchanged(
    clf: LocalClassifier, tmp_path: Path, key: str | None
) -> None:
    script = tmp_path / "model_client.py"
    script.write_text(model_client_py(JD), encoding="utf-8")
    with ModelServer(clf, port=0, api_keys=[key] if key else None) as server:
        args = [sys.executable, str(script), "--port", str(server.port), *TEXTS[:3]]
        if key:
            args += ["--api-key", key]
        env = {**os.environ, "NO_PROXY": "127.0.0.1", "no_proxy": "127.0.0.1"}
        done = subprocess.run(args, capture_output=True, text=True, timeout=120, env=env)
    assert done.returncode == 0, done.stderr
    # The server unwraps <question>...</question>: the label of the text itself.
    assert done.stdout.split() == list(clf.predict(TEXTS[:3]))


def test_generative_student_answers_its_label(tiny_llama: Path, tmp_path: Path) -> None:
    from tiny_models import generative_folder

    folder = generative_folder(tiny_llama, tmp_path / "gen", TINY_LABELS)
    gen = LocalClassifier.from_pretrained(folder)
    with ModelServer(gen, port=0) as server:
        prompt = gen.prompt
        assert prompt is not None
        messages = prompt.messages(TEXTS[0])  # the prompt a generated client sends
        body = {"model": "gen", "messages": messages, "temperature": 0}
        answer = post(server, "/v1/chat/completions", body).json()
        info = httpx.get(server.base_url + "/info").json()
    assert answer["choices"][0]["message"]["content"] == gen.predict([TEXTS[0]])[0]
    assert info["kind"] == gen.kind


def test_python_m_serving_prints_its_address_and_stops_on_sigterm(
    tiny_bert_classifier: Path,
) -> None:
    command = [sys.executable, "-m", "distil_sdk.serving", str(tiny_bert_classifier), "--port", "0"]
    env = {**os.environ, "DISTIL_SERVE_API_KEYS": "env-key, second"}
    proc = subprocess.Popen(command, stderr=subprocess.PIPE, text=True, env=env)
    try:
        assert proc.stderr is not None
        line = proc.stderr.readline()
        assert line.startswith("serving model at http://127.0.0.1:"), line
        url = line.split(" at ")[1].strip()
        assert httpx.get(url + "/info").status_code == 401
        info = httpx.get(url + "/info", headers={"Authorization": "Bearer second"})
        assert info.json()["labels"] == TINY_LABELS
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(TIMEOUT) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_cli_serve_model_help_and_bad_options(capsys: pytest.CaptureFixture[str]) -> None:
    from distil_sdk.cli import main

    assert main(["serve-model", "--help"]) == 0
    out = capsys.readouterr().out
    for option in ("--api-key", "--max-batch-size", "--max-wait-ms", "--max-queue", "--port"):
        assert option in out
    assert main(["serve-model", "m", "--max-batch-size", "0"]) == 2
    assert "a whole number >= 1, got 0" in capsys.readouterr().err


def test_constructor_refuses_bad_limits_and_keys(clf: LocalClassifier) -> None:
    with pytest.raises(ValueError, match="max_batch_size must be > 0"):
        ModelServer(clf, max_batch_size=0)
    with pytest.raises(ValueError, match="api_keys must be non-empty"):
        ModelServer(clf, api_keys=[""])
    with pytest.raises(TypeError, match="need a model path"):
        ModelServer(clf, device="cpu")
