"""How many batches the model server runs at once, and the threads each one gets.

On CPU one batch on all of torch's threads leaves cores idle: a batch of a few dozen short
texts uses two threads poorly, and the model waits while the last batch's answers go out and
the next batch comes in. Two batches at once, each on half of the threads, kept 2 cores busier:
in alternated runs of benchmarks/bench_serving.py, at 128 clients 889-933 short requests/s
against 707-773 with one worker, and 185-206 and 224-233 mixed requests/s at 32 and 128 clients
against 168-178 and 193-196; short texts at 32 clients lost about 6% (docs/serving.md). Two
batches on all the threads each (4 threads on 2 cores) was slower than either. A GPU, or a chat
LLM that generates one request at a time, or an int8 model in ONNX Runtime, keeps one worker.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

__all__ = ["default_workers", "predict_pool"]

# Most workers `default_workers` picks: measured on 2 cores only, so no more than that.
AUTO_MAX = 2
_START_TIMEOUT_S = 60.0


def _on_cpu(model: Any) -> bool:
    return str(getattr(model, "device", "cpu")).startswith("cpu")


def default_workers(model: Any, generates: bool) -> int:
    """Two workers for a classifier run by torch on a CPU with two or more threads, else one.

    An int8 model runs in ONNX Runtime, whose session keeps the thread count it was made with:
    two batches at once would put twice that many threads on the cores.
    """
    if generates or not _on_cpu(model) or getattr(model, "precision", None) == "int8":
        return 1
    import torch

    return max(1, min(AUTO_MAX, torch.get_num_threads()))


def predict_pool(workers: int, model: Any) -> ThreadPoolExecutor:
    """``workers`` threads for the batches, started now. On CPU each gets an equal share of
    torch's threads (at least one); threads started later keep the process's count."""
    name = "distil-serve-predict"
    if workers == 1 or not _on_cpu(model):
        return ThreadPoolExecutor(workers, thread_name_prefix=name)
    import torch

    total = torch.get_num_threads()
    share = max(1, total // workers)

    def own_share() -> None:
        # torch gives a thread the process's count at its first use (then keeps the thread's
        # own): use it first, so that restoring the process's count below leaves this one.
        torch.get_num_threads()
        torch.set_num_threads(share)

    pool = ThreadPoolExecutor(workers, thread_name_prefix=name, initializer=own_share)
    # Each call holds its thread until all are held, so the pool starts all its threads now.
    everyone = threading.Barrier(workers, timeout=_START_TIMEOUT_S)
    for started in [pool.submit(everyone.wait) for _ in range(workers)]:
        started.result()
    torch.set_num_threads(total)
    return pool
