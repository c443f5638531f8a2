"""LocalClassifier alone, called back to back: steady-state examples/second per setting.

``bench_local_classifier.py`` alternates LocalClassifier with the transformers pipeline, as the
issue's comparison asks; on a GPU that interleaving (seconds of host-bound pipeline work between
short LocalClassifier calls) lowers LocalClassifier's figures. This script measures what a server
that only classifies sees: for each ``compile`` x ``dtype`` setting, the load plus first call
(where ``torch.compile`` pays its compilation), then the median of ``--repeats`` calls on the same
texts, and finally how far compiled probabilities are from eager ones.

Run from the repository root, on a GPU machine::

    HF_HUB_OFFLINE=1 python benchmarks/bench_steady_state.py --model MODEL_DIR --device cuda
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_local_classifier import SHARED, mixed_texts


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", type=Path, required=True, help="a sequence classifier folder")
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--dtype", default="float32,auto", help="comma-separated dtypes")
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--shared", type=Path, default=SHARED, help="folder holding datasets/")
    args = parser.parse_args()

    import numpy as np

    from distil_sdk.inference import LocalClassifier

    texts = mixed_texts(args.shared, args.n)
    dtypes = args.dtype.split(",")
    results = {}
    for compile_ in (False, True):
        for dtype in dtypes:
            start = time.perf_counter()
            clf = LocalClassifier.from_pretrained(
                args.model, device=args.device, dtype=dtype, compile=compile_
            )
            clf.predict_proba(texts)
            first = time.perf_counter() - start
            times = []
            for _ in range(args.repeats):
                start = time.perf_counter()
                results[compile_, dtype] = clf.predict_proba(texts)
                times.append(time.perf_counter() - start)
            print(
                f"compile={compile_!s:5} dtype={dtype:8}: load + first call {first:5.1f} s, "
                f"then {len(texts) / statistics.median(times):9.1f} examples/s "
                f"(median of {args.repeats}, {len(texts)} texts)",
                flush=True,
            )
    for dtype in dtypes:
        delta = float(np.abs(results[True, dtype] - results[False, dtype]).max())
        print(f"dtype={dtype}: max |compiled - eager| {delta:.2e}")


if __name__ == "__main__":
    main()
