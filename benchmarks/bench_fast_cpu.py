"""LocalClassifier's fast CPU modes (bf16, int8) against its exact mode and the transformers pipeline.

Speed: the same mixed-length texts as ``bench_local_classifier.py`` (drawn from train/test/
unstructured of every shared dataset, seed 0), classified by

* ``TextClassificationPipeline(model=..., tokenizer=..., top_k=None)`` (``truncation=True``),
* ``LocalClassifier.from_pretrained(model)`` (exact, fp32),
* ``LocalClassifier.from_pretrained(model, precision="bf16")`` (where the CPU has native bf16),
* ``LocalClassifier.from_pretrained(model, precision="int8")``,

alternating them, median of ``--repeats``; prints examples/second, the speed-up over the
pipeline, and each side's label agreement with the exact mode and largest probability difference.

Accuracy: for every shared dataset with a trained student under ``--students`` (a folder holding
``<dataset>/`` model folders, e.g. the ``model/`` folder of ``distil-sdk train
shared/datasets/<dataset> -o OUT/<dataset>``), the test-set accuracy of the exact mode and of
each fast mode, the difference in points, and the label agreement on the test set and on the
mixed texts.

Run from the repository root (CPU only)::

    HF_HUB_OFFLINE=1 python benchmarks/bench_fast_cpu.py --model STUDENTS/ecommerce \\
        --students STUDENTS --n 2000 --repeats 3

Without ``--model`` the speed part fine-tunes all-MiniLM-L6-v2 on the e-commerce data for a few
seconds, as ``bench_local_classifier.py`` does.
"""

from __future__ import annotations

import argparse
import csv
import logging
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_local_classifier import SHARED, fine_tune, mixed_texts, time_alternating

logger = logging.getLogger("bench")


def load_average() -> str:
    try:
        return " ".join(f"{x:.1f}" for x in os.getloadavg())
    except OSError:
        return "n/a"


def fast_modes() -> list[str]:
    from distil_sdk.inference._precision import native_bf16_cpu

    return (["bf16"] if native_bf16_cpu() else []) + ["int8"]


def bench_speed(model_dir: Path, texts: list[str], repeats: int, cache: Path) -> None:
    import numpy as np
    import torch
    from transformers import (
        AutoModelForSequenceClassification,
        AutoTokenizer,
        TextClassificationPipeline,
    )

    from distil_sdk.inference import LocalClassifier

    model = AutoModelForSequenceClassification.from_pretrained(model_dir)
    pipe = TextClassificationPipeline(
        model=model, tokenizer=AutoTokenizer.from_pretrained(model_dir), top_k=None
    )
    exact = LocalClassifier.from_pretrained(model_dir, device="cpu")
    fast = {}
    for mode in fast_modes():
        start = time.perf_counter()
        fast[mode] = LocalClassifier.from_pretrained(
            model_dir, device="cpu", precision=mode, cache_dir=cache, min_agreement=0.0
        )
        print(
            f"{mode} load (with export for int8, cached in {cache}, and self-check): "
            f"{time.perf_counter() - start:.1f}s; {fast[mode].precision_check}"
        )
    labels = exact.labels

    def run_pipe(batch: list[str]) -> np.ndarray:
        out = pipe(batch, truncation=True)
        return np.array(
            [[{d["label"]: d["score"] for d in row}[label] for label in labels] for row in out]
        )

    runners = {
        "pipeline (fp32)": run_pipe,
        "LocalClassifier exact (fp32)": exact.predict_proba,
        **{f"LocalClassifier precision={m!r}": clf.predict_proba for m, clf in fast.items()},
    }
    times, results = time_alternating(runners, texts, repeats)
    print(
        f"cpu threads={torch.get_num_threads()} texts={len(texts)} "
        f"(distinct {len(set(texts))}) repeats={repeats}"
    )
    reference = results["LocalClassifier exact (fp32)"]
    pipe_eps = len(texts) / statistics.median(times["pipeline (fp32)"])
    for name in runners:
        eps = len(texts) / statistics.median(times[name])
        agree = float(np.mean(results[name].argmax(1) == reference.argmax(1)))
        delta = float(np.abs(results[name] - reference).max())
        print(
            f"{name:34s} {eps:8.1f} ex/s  x{eps / pipe_eps:5.2f} pipeline   "
            f"labels = exact {100 * agree:6.2f}%   max |delta prob| vs exact {delta:.2e}"
        )


def read_test(dataset: Path) -> tuple[list[str], list[str]]:
    with (dataset / "test.csv").open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    return [r["question"] for r in rows], [r["answer"] for r in rows]


def bench_accuracy(students: Path, shared: Path, texts: list[str], cache: Path) -> None:
    import numpy as np

    from distil_sdk.inference import LocalClassifier

    print(
        f"{'dataset':16s} {'mode':5s} {'test rows':>9s} {'exact acc':>9s} {'fast acc':>9s} "
        f"{'delta':>7s} {'agree test':>10s} {'agree mixed':>11s}  self-check"
    )
    for dataset in sorted(d for d in (shared / "datasets").iterdir() if d.is_dir()):
        folder = students / dataset.name
        if not (folder / "config.json").is_file():
            print(f"{dataset.name:16s} (no student in {folder})")
            continue
        exact = LocalClassifier.from_pretrained(folder, device="cpu")
        test_texts, gold = read_test(dataset)
        want = {name: exact.predict(t) for name, t in (("test", test_texts), ("mixed", texts))}
        exact_acc = float(np.mean(want["test"] == np.array(gold)))
        for mode in fast_modes():
            fast = LocalClassifier.from_pretrained(
                folder, device="cpu", precision=mode, cache_dir=cache, min_agreement=0.0
            )
            got = {name: fast.predict(t) for name, t in (("test", test_texts), ("mixed", texts))}
            acc = float(np.mean(got["test"] == np.array(gold)))
            same = [float(np.mean(want[k] == got[k])) for k in ("test", "mixed")]
            check = fast.precision_check
            assert check is not None
            print(
                f"{dataset.name:16s} {mode:5s} {len(gold):9d} {100 * exact_acc:9.2f} "
                f"{100 * acc:9.2f} {100 * (acc - exact_acc):+7.2f} {100 * same[0]:9.2f}% "
                f"{100 * same[1]:10.2f}%  {100 * check.agreement:.1f}% of {check.n_texts}"
            )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", type=Path, help="student folder to time (default: fine-tune)")
    parser.add_argument("--students", type=Path, help="folder holding <dataset>/ students")
    parser.add_argument("--shared", type=Path, default=SHARED, help="folder holding datasets/")
    parser.add_argument("--n", type=int, default=2000, help="mixed texts to classify")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--skip-speed", action="store_true", help="accuracy table only")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    texts = mixed_texts(args.shared, args.n)
    print(f"load average at start: {load_average()}")
    with tempfile.TemporaryDirectory() as tmp:
        cache = Path(tmp) / "cache"
        if not args.skip_speed:
            model_dir = args.model or fine_tune(
                Path(tmp) / "model", args.shared / "datasets" / "ecommerce", args.epochs
            )
            bench_speed(model_dir, texts, args.repeats, cache)
        if args.students:
            bench_accuracy(args.students, args.shared, texts, cache)
    print(f"load average at end: {load_average()}")


if __name__ == "__main__":
    main()
