"""The model server on Ray Serve (`RayModelServer`, ``serve-model --engine ray``): two replicas
of a tiny model behind Ray Serve's HTTP proxy, on a local Ray instance (2 CPUs) of this module's
own."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("fastapi")

from conftest import TINY_LABELS
from distil_sdk.cli import main
from distil_sdk.inference import LocalClassifier

pytestmark = pytest.mark.slow  # starts Ray Serve: collected first (conftest)

KEY = "serve-secret-key"
TEXTS = [
    "my card payment was charged a fee",
    "a cotton shirt with long sleeves",
    "i want to change my pin number",
    "the novel tells the story of a family",
    "where is my new card",
]
AUTH = {"Authorization": f"Bearer {KEY}"}


@pytest.fixture(scope="module")
def ray_local(ray_session: Any) -> Any:
    """The session's Ray instance (conftest's `ray_session`); Ray Serve is shut down by the
    server's close, so no Serve actor outlives this module."""
    pytest.importorskip("ray.serve")
    return ray_session


@pytest.fixture(scope="module")
def server(ray_local: Any, tiny_bert_classifier: Path) -> Iterator[Any]:
    from distil_sdk.serving._ray_serve import RayModelServer

    served = RayModelServer(
        tiny_bert_classifier,
        replicas=2,
        port=0,
        api_keys=[KEY],
        model_name="tiny",
        max_batch_size=4,
        app_name="distil-test",
    )
    with served.start():
        yield served


def _labels_by_score(clf: LocalClassifier, texts: list[str]) -> list[list[str]]:
    probs = clf.predict_proba(texts)
    return [[clf.labels[i] for i in np.argsort(-row, kind="stable")] for row in probs]


def test_two_replicas_answer_batches_in_order_through_the_proxy(
    server: Any, tiny_bert_classifier: Path
) -> None:
    from ray import serve

    deployment = serve.status().applications["distil-test"].deployments["model"]
    assert deployment.replica_states == {"RUNNING": 2}
    clf = LocalClassifier.from_pretrained(tiny_bert_classifier)
    reply = httpx.post(f"{server.base_url}/predict", json={"inputs": TEXTS}, headers=AUTH)
    assert reply.status_code == 200
    rows = reply.json()
    assert [[item["label"] for item in row] for row in rows] == _labels_by_score(clf, TEXTS)
    np.testing.assert_allclose(
        [[item["score"] for item in row] for row in rows],
        np.sort(clf.predict_proba(TEXTS), axis=1)[:, ::-1],
        atol=1e-5,
    )

    # Concurrent requests (spread over both replicas by Serve's router) each get their own
    # rows, in their own order, whichever replica and batch served them.
    def one(i: int) -> list[str]:
        texts = [TEXTS[(i + j) % len(TEXTS)] for j in range(1 + i % 3)]
        body = {"model": "tiny", "input": texts}
        got = httpx.post(f"{server.base_url}/v1/classify", json=body, headers=AUTH, timeout=60)
        assert got.status_code == 200, got.text
        assert got.json()["model"] == "tiny"
        return [entry["label"] for entry in got.json()["data"]]

    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(one, range(16)))
    for i, labels in enumerate(answers):
        texts = [TEXTS[(i + j) % len(TEXTS)] for j in range(1 + i % 3)]
        assert labels == clf.predict(texts).tolist()


def test_health_is_open_every_other_route_needs_the_key(server: Any) -> None:
    assert httpx.get(f"{server.base_url}/health").json() == {"status": "ok"}
    refused = httpx.post(f"{server.base_url}/predict", json={"inputs": "a fee"})
    assert refused.status_code == 401
    assert "Bearer" in refused.json()["error"]
    wrong = httpx.get(f"{server.base_url}/info", headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401
    info = httpx.get(f"{server.base_url}/info", headers=AUTH).json()
    assert info["labels"] == TINY_LABELS and info["max_batch_size"] == 4
    # The same error answers as the local server: OpenAI's shape on /v1, by index elsewhere.
    empty = httpx.post(f"{server.base_url}/v1/classify", json={"input": []}, headers=AUTH)
    assert empty.status_code == 422 and empty.json()["error"]["type"] == "invalid_request_error"
    assert KEY not in repr(server) and "api_keys=1" in repr(server)


def test_wait_ends_when_the_app_is_deleted_and_close_stops_serve(server: Any) -> None:
    from ray import serve

    waiter = threading.Thread(target=server.wait)
    waiter.start()
    serve.delete("distil-test")
    waiter.join(60)
    assert not waiter.is_alive() and not server.running
    server.close()
    with pytest.raises(httpx.TransportError):
        httpx.get(f"{server.base_url}/health", timeout=5)
    from ray.serve.context import _get_global_client

    # Ray Serve, started by the server, is gone; the Ray instance it joined is not.
    assert _get_global_client(raise_if_no_controller_running=False) is None
    assert server._ray.is_initialized()


def test_ray_options_need_engine_ray(
    tiny_bert_classifier: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from distil_sdk.serving import serve_model

    assert main(["serve-model", str(tiny_bert_classifier), "--replicas", "2"]) != 0
    assert "--replicas: only with --engine ray" in capsys.readouterr().err
    with pytest.raises(TypeError, match="num_cpus, replicas: only with engine='ray'"):
        serve_model(tiny_bert_classifier, replicas=2, num_cpus=1)
    with pytest.raises(ValueError, match="engine must be 'local' or 'ray'"):
        serve_model(tiny_bert_classifier, engine="k8s")
    argv = ["serve-model", str(tiny_bert_classifier), "--engine", "ray", "--replicas", "0"]
    assert main(argv) == 2
    assert "--replicas: a whole number >= 1, got 0" in capsys.readouterr().err


def test_replicas_that_cannot_fit_and_a_taken_port_fail_by_name(
    tiny_bert_classifier: Path, caplog: pytest.LogCaptureFixture
) -> None:
    import socket

    from distil_sdk._errors import DistilError
    from distil_sdk.serving._ray_serve import RayModelServer, _check_port

    class FourCpus:
        def cluster_resources(self) -> dict[str, float]:
            return {"CPU": 4.0}

    server = RayModelServer(tiny_bert_classifier, replicas=3, num_cpus=2)
    server._own_ray = True  # a Ray instance started for the server never grows: refused
    with pytest.raises(DistilError, match=r"3 replica\(s\) x 2 CPU need 6 CPUs; the Ray "):
        server._check_resources(FourCpus())
    server._own_ray = False  # a cluster's autoscaler may add nodes: a warning
    server._check_resources(FourCpus())
    assert "waiting for the cluster to grow" in caplog.text
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(DistilError, match=f"cannot listen on 127.0.0.1:{port}"):
            _check_port("127.0.0.1", port)
    with pytest.raises(ValueError, match="generate=True"):
        RayModelServer(tiny_bert_classifier, generate=True)
    with pytest.raises(ValueError, match="replicas must be >= 1"):
        RayModelServer(tiny_bert_classifier, replicas=0)


def test_entering_a_started_server_does_not_start_it_again(
    tiny_bert_classifier: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from distil_sdk.serving._ray_serve import RayModelServer

    def started_twice(self: Any) -> None:
        raise AssertionError("start ran again: a second deployment of every replica")

    server = RayModelServer(tiny_bert_classifier)
    server._running = True  # as `start` leaves it: `with RayModelServer(...).start():`
    monkeypatch.setattr(RayModelServer, "start", started_twice)
    with server as entered:
        assert entered is server
    assert not server.running
