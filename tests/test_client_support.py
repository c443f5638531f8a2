"""Helpers shared by the client tests (no tests here): clients with a fake clock and sleep."""

from __future__ import annotations

from typing import Any

from distil_sdk._client import AsyncDistilClient, DistilClient

BASE = "https://api.test"
KEY = "sk-test-SECRET-token"


class FakeTime:
    """A clock that only moves when something sleeps; records every sleep."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds

    async def asleep(self, seconds: float) -> None:
        self.sleep(seconds)


def sync_client(fake: FakeTime | None = None, **kw: Any) -> DistilClient:
    fake = fake or FakeTime()
    kw.setdefault("base_url", BASE)
    if "username" not in kw:
        kw.setdefault("api_key", KEY)
    return DistilClient(_sleep=fake.sleep, _clock=fake.clock, **kw)


def async_client(fake: FakeTime | None = None, **kw: Any) -> AsyncDistilClient:
    fake = fake or FakeTime()
    kw.setdefault("base_url", BASE)
    if "username" not in kw:
        kw.setdefault("api_key", KEY)
    return AsyncDistilClient(_sleep=fake.asleep, _clock=fake.clock, **kw)


MODEL = {"id": "m1", "name": "banking", "created_at": "2025-01-01T00:00:00Z", "owner": "me"}


def metrics(acc: float) -> dict[str, Any]:
    return {
        "accuracy": acc,
        "billing": {"precision": 1.0, "recall": 0.5, "f1-score": 0.66, "support": 2},
        "cards": {"precision": 0.5, "recall": 1.0, "f1-score": 0.66, "support": 1},
        "macro avg": {"precision": 0.75, "recall": 0.75, "f1-score": 0.66, "support": 3},
        "weighted avg": {"precision": 0.8, "recall": 0.66, "f1-score": 0.66, "support": 3},
    }
