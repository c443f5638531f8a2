"""Helpers shared by the local platform tests (``tests/test_local_*.py``)."""

from __future__ import annotations

import csv
import io
import json
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest

from distil_sdk.local.server import LocalServer

TESTS_DIR = Path(__file__).parent
LABELS = ["billing", "cards", "shopping"]
_WORDS = {
    "billing": [
        "fee",
        "charge",
        "invoice",
        "refund",
        "statement",
        "payment",
        "balance",
        "overdraft",
        "interest",
        "bill",
    ],
    "cards": [
        "card",
        "pin",
        "contactless",
        "expired",
        "blocked",
        "replacement",
        "chip",
        "atm",
        "limit",
        "stolen",
    ],
    "shopping": [
        "shirt",
        "kettle",
        "phone",
        "novel",
        "lamp",
        "shoes",
        "sofa",
        "camera",
        "jacket",
        "blender",
    ],
}

T = TypeVar("T")


def rows(split: str, per_class: int) -> list[tuple[str, str]]:
    """Distinct, deterministic (text, label) rows; ``split`` keeps train and test texts apart."""
    return [
        (f"{split} question {i} about the {word} of my account", label)
        for label, words in _WORDS.items()
        for i, word in enumerate(words[:per_class])
    ]


def csv_text(data: list[tuple[str, str]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["question", "answer"])
    writer.writerows(data)
    return out.getvalue()


def job_description(labels: list[str] = LABELS) -> dict[str, Any]:
    return {
        "task_description": "Route the customer's message to the right team.",
        "classes_description": {label: f"Messages about {label}." for label in labels},
    }


def upload_payload(
    *, train: list[tuple[str, str]] | None = None, config: str | None = None
) -> dict[str, Any]:
    """A valid ``POST /models/{id}/uploads`` body (or one with the given train rows)."""
    payload: dict[str, Any] = {
        "job_description": {"type": "json", "content": json.dumps(job_description())},
        "train_data": {
            "type": "csv",
            "content": csv_text(train if train is not None else rows("train", 10)),
        },
        "test_data": {"type": "csv", "content": csv_text(rows("test", 4))},
    }
    if config is not None:
        payload["config"] = {"type": "yaml", "content": config}
    return payload


def wait_for(fn: Callable[[], T | None], timeout: float = 60.0, what: str = "condition") -> T:
    """Poll ``fn`` until it returns something truthy (the server works in other processes)."""
    deadline = time.monotonic() + timeout
    while True:
        value = fn()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def use_fake_pipeline(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """Point job subprocesses at ``_fake_pipeline``; return the gate file that releases them."""
    monkeypatch.setenv("DISTIL_LOCAL_PIPELINE", "_fake_pipeline")
    monkeypatch.setenv(
        "PYTHONPATH", os.pathsep.join(filter(None, [str(TESTS_DIR), os.environ.get("PYTHONPATH")]))
    )
    monkeypatch.delenv("DISTIL_API_KEY", raising=False)
    gate = tmp_path / "gate"
    monkeypatch.setenv("FAKE_PIPELINE_GATE", str(gate))
    monkeypatch.setenv("FAKE_PIPELINE_PIDFILE", str(tmp_path / "job.pid"))
    return gate


@contextmanager
def fake_pipeline_server(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[LocalServer, Path]]:
    """A started server under ``tmp_path`` whose jobs run ``_fake_pipeline``, and the gate file
    that releases them (touch it for jobs that run straight through); closed afterwards."""
    gate = use_fake_pipeline(monkeypatch, tmp_path)
    server = LocalServer(tmp_path / "data", poll_interval=0.05).start()
    try:
        yield server, gate
    finally:
        server.close()


@contextmanager
def running_server(data_dir: Path) -> Iterator[tuple[LocalServer, httpx.Client]]:
    """A started server and an authenticated client on it; both closed afterwards."""
    server = LocalServer(data_dir, poll_interval=0.05).start()
    client = httpx.Client(
        base_url=server.base_url, headers={"Authorization": f"Bearer {server.token}"}, timeout=30
    )
    try:
        yield server, client
    finally:
        client.close()
        server.close()


def job_status(client: httpx.Client, kind: str, job_id: str) -> dict[str, Any]:
    path = (
        f"/teacher-evaluations/{job_id}/status"
        if kind == "teacher"
        else f"/trainings/{job_id}/status"
    )
    response = client.get(path)
    response.raise_for_status()
    return dict(response.json())


def wait_status(
    client: httpx.Client, kind: str, job_id: str, *statuses: str, timeout: float = 90
) -> dict[str, Any]:
    def reached() -> dict[str, Any] | None:
        status = job_status(client, kind, job_id)
        return status if status["status"] in statuses else None

    return wait_for(reached, timeout, f"{kind} {job_id} to reach {statuses}")


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie still answers kill(0); it is gone for our purposes.
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] != "Z"
    except OSError:
        return True
