"""Dynamic micro-batching: texts of concurrent requests share forward passes.

Requests put their texts in one bounded queue; a single batcher task takes up to
``max_batch_size`` texts (holding the batch open at most ``max_wait_s`` for more once it has
one; by default not at all), runs the model in a worker thread, and hands each request its rows
in order. Texts that arrive while a batch runs wait for the next, so batches grow with the load
without a timer: on 2 CPU cores a 5 ms wait cost a lone request 5 ms and gained no throughput at
any concurrency (benchmarks/bench_serving.py, docs/serving.md). A request larger than a
batch is split across batches; several small requests share one.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np

from ._metrics import ServerMetrics

__all__ = ["Batcher", "Draining", "QueueFull"]

logger = logging.getLogger("distil_sdk.serving")


class QueueFull(Exception):
    """More texts wait than the queue holds; the client should retry later."""


class Draining(Exception):
    """The server is shutting down and takes no new requests."""


@dataclass(eq=False)
class _Request:
    texts: list[str]
    future: asyncio.Future[np.ndarray]
    rows: list[np.ndarray] = field(default_factory=list)
    taken: int = 0  # texts already handed to a batch
    done: int = 0  # texts whose rows came back


class Batcher:
    """The queue and the batcher task; `submit` from request handlers on the same loop.

    Args:
        predict: rows of probabilities for a list of texts (blocking; run in a thread).
        max_batch_size: most texts per call of ``predict``.
        max_wait_s: once a text waits, how long to wait for more before running a batch.
        max_queue: most texts waiting; `submit` raises `QueueFull` past it.
        metrics: where batch sizes and the queue depth go.
    """

    def __init__(
        self,
        predict: Callable[[list[str]], np.ndarray],
        *,
        max_batch_size: int,
        max_wait_s: float,
        max_queue: int,
        metrics: ServerMetrics,
    ) -> None:
        self._predict = predict
        self.max_batch_size = max_batch_size
        self.max_wait_s = max_wait_s
        self.max_queue = max_queue
        self._metrics = metrics
        self._queue: collections.deque[_Request] = collections.deque()
        self._waiting = 0  # texts queued and not yet taken by a batch
        self._active = 0  # requests submitted and not yet answered
        self._arrived = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self.draining = False
        # One thread: batches run one at a time, which is what fills the next batch.
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="distil-serve-predict")
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="distil-batcher")

    async def submit(self, texts: list[str]) -> np.ndarray:
        """The model's rows for ``texts``, in order, once the batches holding them have run.

        Raises:
            Draining: the server is shutting down.
            QueueFull: ``texts`` would overfill the queue.
        """
        if self.draining:
            raise Draining
        if self._waiting + len(texts) > self.max_queue:
            raise QueueFull
        request = _Request(texts, asyncio.get_running_loop().create_future())
        self._queue.append(request)
        self._waiting += len(texts)
        self._active += 1
        self._idle.clear()
        self._metrics.queue_depth = self._waiting
        self._arrived.set()
        try:
            return await request.future
        finally:
            self._active -= 1
            if self._active == 0:
                self._idle.set()

    async def drain(self) -> None:
        """Refuse new requests and wait until every queued one is answered."""
        self.draining = True
        await self._idle.wait()

    async def stop(self) -> None:
        """End the batcher task (after `drain`) and its thread."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self._executor.shutdown(wait=True)

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            if not self._waiting:
                self._arrived.clear()
                await self._arrived.wait()
            deadline = time.monotonic() + self.max_wait_s
            while self._waiting < self.max_batch_size:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self._arrived.clear()
                try:
                    await asyncio.wait_for(self._arrived.wait(), remaining)
                except TimeoutError:
                    break
            parts = self._take()
            texts = [text for request, start, end in parts for text in request.texts[start:end]]
            try:
                probs = await loop.run_in_executor(self._executor, self._predict, texts)
            except Exception as exc:  # the batch's requests fail; the batcher goes on
                logger.exception("prediction failed for a batch of %d text(s)", len(texts))
                self._fail(parts, exc)
                continue
            self._metrics.batch_done(len(texts))
            self._deliver(parts, probs)

    def _take(self) -> list[tuple[_Request, int, int]]:
        """Up to ``max_batch_size`` texts from the head of the queue, as (request, start, end)."""
        parts: list[tuple[_Request, int, int]] = []
        room = self.max_batch_size
        while room and self._queue:
            request = self._queue[0]
            start = request.taken
            end = min(len(request.texts), start + room)
            parts.append((request, start, end))
            request.taken = end
            room -= end - start
            if end == len(request.texts):
                self._queue.popleft()
        self._waiting -= self.max_batch_size - room
        self._metrics.queue_depth = self._waiting
        return parts

    def _deliver(self, parts: list[tuple[_Request, int, int]], probs: np.ndarray) -> None:
        at = 0
        for request, start, end in parts:
            request.rows.append(probs[at : at + end - start])
            at += end - start
            request.done += end - start
            if request.done == len(request.texts) and not request.future.done():
                rows = request.rows
                request.future.set_result(rows[0] if len(rows) == 1 else np.concatenate(rows))

    def _fail(self, parts: list[tuple[_Request, int, int]], exc: Exception) -> None:
        for request, _, _ in parts:
            if request.taken < len(request.texts):  # its later texts must not run for nothing
                self._waiting -= len(request.texts) - request.taken
                request.taken = len(request.texts)
                self._queue.remove(request)
            if not request.future.done():
                request.future.set_exception(exc)
        self._metrics.queue_depth = self._waiting
