"""The model server's workers: batches side by side, each on its share of torch's threads."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
import torch

from distil_sdk import LocalClassifier
from distil_sdk.cli import main as cli_main
from distil_sdk.serving import ModelServer

TIMEOUT = 60.0
TEXTS = [f"text number {i} about a card payment" for i in range(6)]


@pytest.fixture(scope="module")
def clf(tiny_bert_classifier: Path) -> LocalClassifier:
    return LocalClassifier.from_pretrained(tiny_bert_classifier)


def rows_for(texts: list[str]) -> np.ndarray:
    """A row per text that tells the texts apart (their number picks the first score)."""
    rows = np.array([[int(text.split()[2]) + 1.0, 1.0, 1.0] for text in texts])
    return rows / rows.sum(axis=1, keepdims=True)


class Held:
    """``clf`` whose every batch waits until the test releases it (by the order batches came
    in), recording the batch and the torch threads it ran with."""

    def __init__(self, clf: LocalClassifier) -> None:
        self.clf = clf
        self.labels, self.kind = clf.labels, clf.kind
        self.batches: list[list[str]] = []
        self.threads: list[int] = []
        self.releases: list[threading.Event] = [threading.Event() for _ in range(8)]
        self._lock = threading.Lock()

    def predict_proba(self, texts: list[str]) -> np.ndarray:
        with self._lock:
            index = len(self.batches)
            self.batches.append(list(texts))
            self.threads.append(torch.get_num_threads())
        assert self.releases[index].wait(TIMEOUT), f"batch {index} was never released"
        return rows_for(texts)

    def release_all(self) -> None:
        for event in self.releases:
            event.set()


def wait_for(condition: Any, what: str) -> None:
    done = threading.Event()
    for _ in range(int(TIMEOUT / 0.005)):
        if condition():
            return
        done.wait(0.005)
    raise AssertionError(f"timed out waiting for {what}")


def test_two_workers_split_the_queue_run_side_by_side_and_keep_the_order(
    clf: LocalClassifier,
) -> None:
    held = Held(clf)
    threads_before = torch.get_num_threads()
    server = ModelServer(held, port=0, max_wait_ms=0, workers=2).start()
    try:
        assert httpx.get(server.base_url + "/info").json()["workers"] == 2
        with ThreadPoolExecutor(1) as pool:
            answer = pool.submit(
                httpx.post, server.base_url + "/predict", json={"inputs": TEXTS}, timeout=TIMEOUT
            )
            # Six texts, two free workers: three each, both running before either ends.
            wait_for(lambda: len(held.batches) == 2, "two batches running at once")
            assert held.batches == [TEXTS[:3], TEXTS[3:]]
            held.releases[1].set()  # the second batch ends first
            wait_for(lambda: server.metrics.texts == 3, "the second batch")
            held.releases[0].set()
            response = answer.result()
        assert response.status_code == 200, response.text
        scores = [{s["label"]: s["score"] for s in row} for row in response.json()]
        got = np.array([[row[label] for label in clf.labels] for row in scores])
        assert np.allclose(got, rows_for(TEXTS), atol=1e-6)
        # Each worker had half of the threads; a thread started now still gets them all.
        assert held.threads == [max(1, threads_before // 2)] * 2
        seen: list[int] = []
        fresh = threading.Thread(target=lambda: seen.append(torch.get_num_threads()))
        fresh.start()
        fresh.join()
        assert seen == [threads_before] and torch.get_num_threads() == threads_before
    finally:
        held.release_all()
        server.close()


def test_one_worker_runs_one_batch_at_a_time(clf: LocalClassifier) -> None:
    held = Held(clf)
    server = ModelServer(held, port=0, max_wait_ms=0, workers=1).start()
    try:
        with ThreadPoolExecutor(2) as pool:
            first = pool.submit(httpx.post, server.base_url + "/predict", json={"inputs": TEXTS[0]})
            wait_for(lambda: len(held.batches) == 1, "the first batch")
            second = pool.submit(
                httpx.post, server.base_url + "/predict", json={"inputs": TEXTS[1:4]}
            )
            wait_for(lambda: server.metrics.queue_depth == 3, "three queued texts")
            assert len(held.batches) == 1  # the queued texts wait for the only worker
            held.release_all()
            assert first.result().status_code == 200 and second.result().status_code == 200
        assert held.batches == [TEXTS[:1], TEXTS[1:4]]
    finally:
        held.release_all()
        server.close()


def test_default_workers_by_device_and_kind(clf: LocalClassifier) -> None:
    from distil_sdk.serving._workers import default_workers

    class OnGpu:
        device = "cuda:0"

    class Int8:  # ONNX Runtime: its session's threads are fixed when it is made
        device, precision = "cpu", "int8"

    assert default_workers(clf, generates=False) == min(2, torch.get_num_threads())
    assert default_workers(OnGpu(), generates=False) == 1
    assert default_workers(Int8(), generates=False) == 1
    assert default_workers(clf, generates=True) == 1
    with pytest.raises(ValueError, match="workers must be > 0"):
        ModelServer(clf, workers=0)
    with pytest.raises(ValueError, match="one request at a time"):
        ModelServer("model/", generate=True, workers=2)


def test_cli_workers_option(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli_main(["serve-model", "--help"]) == 0
    assert "--workers" in capsys.readouterr().out
    assert cli_main(["serve-model", "m", "--workers", "0"]) == 2
    assert "a whole number >= 1, got 0" in capsys.readouterr().err
