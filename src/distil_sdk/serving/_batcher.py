"""Dynamic micro-batching: texts of concurrent requests share forward passes.

Requests put their texts in one bounded queue; a single batcher task takes up to
``max_batch_size`` texts, runs the model in a worker thread, and hands each request its rows in
order. Texts that arrive while a batch runs wait for the next, so batches grow with the load. A
request larger than a batch is split across batches; several small requests share one.

How long a batch is held open for more texts: by default (``max_wait_s=None``) only while the
clients of the batch just answered are coming back, up to as many texts as that batch held and
at most a quarter of its run time. Without it, closed-loop clients split into a batch of one
(the first client back) and a batch of everyone else, in turn: 152 of 302 batches held one text
at 32 clients (benchmarks/bench_serving.py, docs/serving.md). A lone request, or the first after
a lull, never waits. A number fixes the wait instead (0: none); a fixed 5 ms cost a lone
request 5 ms on 2 CPU cores and gained no throughput.

With ``workers`` above one, that many batches run at once, each in its own thread, and a batch
takes an equal share of the waiting texts when other workers are free (32 waiting, two free: 16
each), so the workers overlap instead of taking turns. On CPU each worker gets its share of the
cores (`._workers`): on 2 cores two single-threaded batches kept the cores busier than one
two-threaded batch (docs/benchmark-results.md, "The model server").
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import time
from collections.abc import Callable
from concurrent.futures import Executor, ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np

from ._metrics import ServerMetrics

__all__ = ["Batcher", "Draining", "QueueFull"]

# The adaptive wait's bounds: a quarter of the last batch's run time, never over 20 ms.
REFILL_FRACTION = 0.25
REFILL_CAP_S = 0.02

logger = logging.getLogger("distil_sdk.serving")


class QueueFull(Exception):
    """More texts wait than the queue holds; the client should retry later."""


class Draining(Exception):
    """The server is shutting down and takes no new requests."""


@dataclass(eq=False)
class _Request:
    texts: list[str]
    future: asyncio.Future[np.ndarray]
    # Rows by the index of their first text: with several workers, batches end out of order.
    rows: dict[int, np.ndarray] = field(default_factory=dict)
    taken: int = 0  # texts already handed to a batch
    done: int = 0  # texts whose rows came back


class Batcher:
    """The queue and the batcher task; `submit` from request handlers on the same loop.

    Args:
        predict: rows of probabilities for a list of texts (blocking; run in a thread).
        max_batch_size: most texts per call of ``predict``.
        max_wait_s: once a text waits, how long to wait for more before running a batch; None
            waits adaptively (see `_gather`).
        max_queue: most texts waiting; `submit` raises `QueueFull` past it.
        metrics: where batch sizes and the queue depth go.
        workers: most batches running at once.
        executor: where ``predict`` runs, with at least ``workers`` threads (default: a pool of
            ``workers`` threads); the batcher shuts it down in `stop`.
    """

    def __init__(
        self,
        predict: Callable[[list[str]], np.ndarray],
        *,
        max_batch_size: int,
        max_wait_s: float | None,
        max_queue: int,
        metrics: ServerMetrics,
        workers: int = 1,
        executor: Executor | None = None,
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
        self.workers = workers
        self._free = workers  # workers not running a batch
        self._freed = asyncio.Event()
        self._executor = executor or ThreadPoolExecutor(
            workers, thread_name_prefix="distil-serve-predict"
        )
        self._task: asyncio.Task[None] | None = None
        self._batches: set[asyncio.Task[None]] = set()
        self._last = (0, 0.0, -1e9)  # the last batch: texts, seconds it ran, when it ended

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
        if self._batches:  # none after `drain`; a cancelled server may leave some
            await asyncio.gather(*self._batches, return_exceptions=True)
        self._executor.shutdown(wait=True)

    async def _run(self) -> None:
        while True:
            while not self._free:
                self._freed.clear()
                await self._freed.wait()
            if not self._waiting:
                self._arrived.clear()
                await self._arrived.wait()
            await self._gather()
            # An equal share for each free worker, so that free workers run side by side.
            parts = self._take(-(-self._waiting // self._free))
            if not parts:  # a failed batch took its requests' texts out meanwhile
                continue
            self._free -= 1
            batch = asyncio.get_running_loop().create_task(self._run_batch(parts))
            self._batches.add(batch)
            batch.add_done_callback(self._batches.discard)

    async def _run_batch(self, parts: list[tuple[_Request, int, int]]) -> None:
        texts = [text for request, start, end in parts for text in request.texts[start:end]]
        started = time.monotonic()
        try:
            probs = await asyncio.get_running_loop().run_in_executor(
                self._executor, self._predict, texts
            )
        except Exception as exc:  # the batch's requests fail; the batcher goes on
            logger.exception("prediction failed for a batch of %d text(s)", len(texts))
            self._fail(parts, exc)
            return
        finally:
            self._free += 1
            self._freed.set()
        self._metrics.batch_done(len(texts))
        self._deliver(parts, probs)
        self._last = (len(texts), time.monotonic() - started, time.monotonic())

    async def _gather(self) -> None:
        """Hold the batch open for more texts: ``max_wait_s`` when it is a number; when None,
        for the clients of the batch just answered, who are likely sending their next requests
        (until as many texts wait as that batch held, at most a quarter of its run time)."""
        now = time.monotonic()
        target, deadline = 0, now + (self.max_wait_s or 0.0)
        size, run_s, ended = self._last
        if self.max_wait_s is None and now - ended <= run_s:  # not a new burst after a lull
            target = min(size, self.max_batch_size)
            deadline = now + min(run_s * REFILL_FRACTION, REFILL_CAP_S)
        while self._waiting < self.max_batch_size:
            if self._waiting >= target and not self.max_wait_s:
                return
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            self._arrived.clear()
            try:
                await asyncio.wait_for(self._arrived.wait(), remaining)
            except TimeoutError:
                return

    def _take(self, share: int) -> list[tuple[_Request, int, int]]:
        """Up to ``share`` texts (at most ``max_batch_size``) from the head of the queue, as
        (request, start, end)."""
        parts: list[tuple[_Request, int, int]] = []
        size = room = min(share, self.max_batch_size)
        while room and self._queue:
            request = self._queue[0]
            start = request.taken
            end = min(len(request.texts), start + room)
            parts.append((request, start, end))
            request.taken = end
            room -= end - start
            if end == len(request.texts):
                self._queue.popleft()
        self._waiting -= size - room
        self._metrics.queue_depth = self._waiting
        return parts

    def _deliver(self, parts: list[tuple[_Request, int, int]], probs: np.ndarray) -> None:
        at = 0
        for request, start, end in parts:
            request.rows[start] = probs[at : at + end - start]
            at += end - start
            request.done += end - start
            if request.done == len(request.texts) and not request.future.done():
                rows = [request.rows[key] for key in sorted(request.rows)]
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
