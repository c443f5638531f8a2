"""The batcher's wait (`distil_sdk.serving._batcher`): adaptive by default, fixed on request.

Closed-loop clients answered together come back one by one; the adaptive wait keeps them in one
batch instead of running the first alone. The window is widened here (a full run time, no cap)
so that the tests hold on a loaded machine."""

from __future__ import annotations

import asyncio
import time

import numpy as np
import pytest

pytest.importorskip("fastapi")

from distil_sdk.serving import _batcher
from distil_sdk.serving._batcher import Batcher
from distil_sdk.serving._metrics import ServerMetrics

FIRST_RUN_S = 0.3


@pytest.fixture(autouse=True)
def wide_window(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_batcher, "REFILL_FRACTION", 1.0)
    monkeypatch.setattr(_batcher, "REFILL_CAP_S", 10.0)


class Model:
    """Records each batch; the first one takes `FIRST_RUN_S`, the rest are instant."""

    def __init__(self) -> None:
        self.batches: list[list[str]] = []

    def __call__(self, texts: list[str]) -> np.ndarray:
        self.batches.append(list(texts))
        if len(self.batches) == 1:
            time.sleep(FIRST_RUN_S)
        return np.ones((len(texts), 2), np.float32) / 2


async def round_trip(
    max_wait_s: float | None, back: int, lull_s: float = 0.0
) -> tuple[list[int], float]:
    """Four clients send one text each; ``back`` of them send another, 10 ms apart, after
    ``lull_s``. The batch sizes the model saw, and the seconds the second round took."""
    model = Model()
    batcher = Batcher(
        model, max_batch_size=16, max_wait_s=max_wait_s, max_queue=64, metrics=ServerMetrics()
    )
    batcher.start()
    try:
        await asyncio.gather(*(batcher.submit([f"first {i}"]) for i in range(4)))
        await asyncio.sleep(lull_s)

        async def again(i: int) -> None:
            await asyncio.sleep(0.01 * i)
            await batcher.submit([f"again {i}"])

        started = time.monotonic()
        await asyncio.gather(*(again(i) for i in range(back)))
        took = time.monotonic() - started
    finally:
        await batcher.drain()
        await batcher.stop()
    return [len(batch) for batch in model.batches], took


def test_adaptive_wait_keeps_returning_clients_in_one_batch() -> None:
    sizes, took = asyncio.run(round_trip(None, back=4))
    assert sizes == [4, 4]
    assert took < FIRST_RUN_S  # it ran once the four were back, not at the window's end


def test_no_wait_runs_the_first_client_back_alone() -> None:
    sizes, _ = asyncio.run(round_trip(0.0, back=4))
    assert sizes[:2] == [4, 1] and sum(sizes) == 8


def test_adaptive_wait_ends_at_its_deadline_when_clients_do_not_return() -> None:
    sizes, took = asyncio.run(round_trip(None, back=2))
    assert sizes == [4, 2]
    assert took >= FIRST_RUN_S  # held open for the missing two until the window closed


def test_a_request_after_a_lull_does_not_wait() -> None:
    sizes, took = asyncio.run(round_trip(None, back=1, lull_s=FIRST_RUN_S * 1.5))
    assert sizes == [4, 1]
    assert took < FIRST_RUN_S / 2  # no window: the clients of the last batch are not coming
