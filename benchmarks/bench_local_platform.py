"""Benchmark the local platform's whole flow (teacher evaluation + training) on task folders.

Usage::

    python benchmarks/bench_local_platform.py ../shared/datasets/banking-routing \
        ../shared/datasets/ecommerce ../shared/datasets/mental-health --seeds 3

Runs ``pipeline.run_teacher_evaluation`` and ``pipeline.run_training`` in-process for each
dataset and seed (``base.random_seed`` = 0, 1, 2, ...) and prints, per dataset, the test accuracy
of teacher / student-base / student-tuned as mean ± std over seeds and the wall time per stage.
Not a timed test: a full run takes minutes per dataset on a small CPU.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from distil_sdk.local import pipeline
from distil_sdk.local._jobs.threads import torch_threads
from distil_sdk.types.data import TaskBundle

MODELS = ["teacher", "student-base", "student-tuned"]


def _fmt(values: list[float]) -> str:
    std = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{statistics.mean(values):.3f} ± {std:.3f}"


def run_dataset(path: Path, seeds: int, work: Path, skip_teacher_eval: bool) -> dict[str, object]:
    """All seeds of one dataset: accuracies per model and seconds per stage."""
    acc: dict[str, list[float]] = {m: [] for m in MODELS}
    stage_times: dict[str, list[float]] = {}
    totals: list[float] = []
    for seed in range(seeds):
        bundle = TaskBundle.from_dir(path)
        bundle.config.base.random_seed = seed
        # One embedding cache per (dataset, seed), shared by its two jobs as in the worker: the
        # flow time stays that of a fresh task, not of a server that has seen the texts before.
        os.environ[pipeline.EMBEDDING_CACHE_ENV] = str(work / f"{path.name}-{seed}-embeddings")
        started = time.perf_counter()
        if not skip_teacher_eval:
            t0 = time.perf_counter()
            pipeline.run_teacher_evaluation(bundle, work / f"{path.name}-{seed}-eval", _quiet)
            stage_times.setdefault("teacher_evaluation_job", []).append(time.perf_counter() - t0)
        out = pipeline.run_training(bundle, work / f"{path.name}-{seed}", _quiet)
        totals.append(time.perf_counter() - started)
        for model in MODELS:
            acc[model].append(float(out.evaluation_results[model]["accuracy"]))
        for stage, seconds in out.timings.items():
            stage_times.setdefault(stage, []).append(seconds)
        print(
            f"  {path.name} seed {seed}: "
            + ", ".join(f"{m} {acc[m][-1]:.3f}" for m in MODELS)
            + f"  ({totals[-1]:.0f}s; threads {torch_threads()}, "
            f"load {os.getloadavg()[0]:.1f})",
            flush=True,
        )
    return {"accuracy": acc, "stages": stage_times, "total": totals}


def _quiet(stage: str, status: str, message: str) -> None:
    logging.getLogger("bench").debug("%s %s %s", stage, status, message)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("datasets", nargs="+", type=Path, help="task folders (TaskBundle.from_dir)")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument(
        "--skip-teacher-eval",
        action="store_true",
        help="time only the training job (it evaluates the teacher too)",
    )
    parser.add_argument("--json", type=Path, help="also write the raw numbers here")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    results: dict[str, dict[str, object]] = {}
    with tempfile.TemporaryDirectory(prefix="distil-bench-") as tmp:
        for path in args.datasets:
            print(f"{path.name}:", flush=True)
            results[path.name] = run_dataset(path, args.seeds, Path(tmp), args.skip_teacher_eval)
    print(f"\n| dataset | {' | '.join(MODELS)} | flow wall time (s) |")
    print("|---|" + "---|" * (len(MODELS) + 1))
    for name, res in results.items():
        acc = res["accuracy"]
        assert isinstance(acc, dict)
        total = res["total"]
        assert isinstance(total, list)
        print(f"| {name} | " + " | ".join(_fmt(acc[m]) for m in MODELS) + f" | {_fmt(total)} |")
    print("\nmean seconds per stage:")
    for name, res in results.items():
        stages = res["stages"]
        assert isinstance(stages, dict)
        print(f"  {name}: " + ", ".join(f"{s} {statistics.mean(v):.1f}" for s, v in stages.items()))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
