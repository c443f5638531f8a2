"""Device plumbing shared by the predictors: batching order, transfers, autocast."""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import torch

__all__ = [
    "autocast",
    "length_batches",
    "limit_cpu_threads",
    "require_local_extra",
    "to_device",
]

logger = logging.getLogger("distil_sdk")


def require_local_extra() -> None:
    """Import what loading a model needs, or say which extra installs it."""
    from ._report import local_extra_missing

    try:
        import torch  # noqa: F401
        import transformers  # noqa: F401
    except ModuleNotFoundError as exc:
        missing = local_extra_missing(exc)
        if missing is None:
            raise
        raise missing from exc


def length_batches(
    lengths: Sequence[int], batch_size: int, max_tokens: int, batch_cost: int | None = None
) -> Iterator[np.ndarray]:
    """Indices grouped longest first, so each batch pads to a similar length.

    A batch holds at most ``batch_size`` rows and, beyond its first row, at most ``max_tokens``
    padded tokens: long texts go in small batches (bounded attention memory), short ones in big
    ones. Longest first also surfaces an out-of-memory error on the first batch, not the last.

    ``batch_cost``: what one more batch costs, in padded tokens (on CPU, a forward pass's fixed
    cost). A batch whose lengths differ so much that its padding costs more is split where that
    is cheapest: a few long texts among short ones (a server's batch) run apart from them,
    while the near-equal lengths of a large sorted input stay in full batches.
    """
    sizes = np.asarray(lengths, dtype=np.int64)
    order = np.argsort(-sizes, kind="stable")
    start = 0
    while start < len(order):
        longest = max(1, int(sizes[order[start]]))
        rows = max(1, min(batch_size, max_tokens // longest))
        batch = order[start : start + rows]
        if batch_cost is None:
            yield batch
        else:
            yield from _split_padding(batch, sizes[batch], batch_cost)
        start += rows


def _split_padding(batch: np.ndarray, lengths: np.ndarray, batch_cost: int) -> Iterator[np.ndarray]:
    """``batch`` (lengths descending) cut into runs minimising ``batch_cost`` per run plus the
    padded tokens (rows x the run's first length): a dynamic programme over the cut points."""
    n = len(batch)
    padded = int(lengths[0]) * n
    if padded - int(lengths.sum()) <= batch_cost:  # the padding costs less than a cut
        yield batch
        return
    best = np.zeros(n + 1)
    cut = np.zeros(n + 1, dtype=np.intp)
    for end in range(1, n + 1):
        starts = np.arange(end)
        costs = best[:end] + batch_cost + (end - starts) * lengths[:end]
        cut[end] = int(np.argmin(costs))
        best[end] = costs[cut[end]]
    ends = [n]
    while ends[-1]:
        ends.append(int(cut[ends[-1]]))
    for first, last in zip(ends[:0:-1], ends[-2::-1], strict=True):
        yield batch[first:last]


def to_device(array: np.ndarray, device: torch.device) -> torch.Tensor:
    """A CPU array as a tensor on ``device``; pinned and non-blocking for CUDA."""
    import torch

    tensor = torch.from_numpy(array)
    if device.type == "cuda":
        return tensor.pin_memory().to(device, non_blocking=True)
    return tensor.to(device)


def autocast(device: torch.device, dtype: torch.dtype) -> contextlib.AbstractContextManager[Any]:
    """Mixed precision on accelerators for half dtypes; a no-op on CPU and in fp32."""
    import torch

    if device.type in ("cuda", "mps") and dtype in (torch.float16, torch.bfloat16):
        return torch.autocast(device_type=device.type, dtype=dtype)
    return contextlib.nullcontext()


def limit_cpu_threads() -> None:
    """Keep torch from using more threads than this process may run on (containers, taskset)."""
    import torch

    try:
        available = len(os.sched_getaffinity(0))
    except AttributeError:  # macOS / Windows
        available = os.cpu_count() or 1
    if torch.get_num_threads() > available:
        logger.debug("lowering torch threads from %d to %d", torch.get_num_threads(), available)
        torch.set_num_threads(available)
