"""Probe for issue 30, part 5: would a contrastively tuned encoder lift the few-row tasks?

For each task and seed, the first training's rows of ``bench_confidence.py`` (the same build and
hold-back, so the figures sit beside its student, SetFit and logistic-regression columns), then:

* **frozen**: logistic regression on mean-pooled all-MiniLM-L6-v2 vectors of the train rows
  (the ``lr`` baseline of bench_confidence, C = 1 and 10);
* **tuned**: the encoder first tuned contrastively on pairs of train rows, SetFit's way (each
  iteration pairs every row with one row of its class and one of another; cosine similarity
  regressed on 1 / 0, AdamW at 2e-5, batch 16, one epoch, a ramp over the first 10% of steps), then the same logistic
  regression on its vectors. ``--iterations`` sets the pair iterations (SetFit's default is 20),
  ``--max-length`` the truncation while tuning and embedding.

With ``--cv`` each is also scored by stratified k-fold cross-validation on the train rows (the
tuning repeated inside every fold), which is how the teacher would choose between them.

It prints test rows right, seconds of tuning and the CV scores. The tuning is the embedded
teacher's own (`distil_sdk.local.teachers._contrastive`), which the teacher now cross-validates
as a candidate where it is cheap. Usage::

    python benchmarks/probe_contrastive.py --tasks short-7 ecommerce --seeds 1 --iterations 5 20
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_confidence import DEFAULT_TASKS, Builder, Sizes, hold_back

from distil_sdk.local._jobs.encoders import Encoder, load_encoder
from distil_sdk.local.teachers import _contrastive as contrastive
from distil_sdk.local.teachers._recipes import single_thread_blas


def tune(
    texts: Sequence[str], labels: Sequence[int], iterations: int, max_length: int, seed: int
) -> tuple[Encoder, float]:
    """A copy of the bundled encoder tuned on pairs of ``texts`` (the teacher's own tuning,
    `distil_sdk.local.teachers._contrastive.tune`); (encoder, seconds)."""
    encoder = load_encoder(None, max_length=max_length)
    started = time.perf_counter()
    tuned = contrastive.tune(encoder, texts, labels, seed=seed, iterations=iterations)
    return tuned, time.perf_counter() - started


def lr_right(x_train: np.ndarray, y_train: np.ndarray, x_test: np.ndarray, y_test: np.ndarray,
             c: float) -> int:  # fmt: skip
    from sklearn.linear_model import LogisticRegression

    with single_thread_blas():
        model = LogisticRegression(C=c, max_iter=3000).fit(x_train, y_train)
    return int((model.predict(x_test) == y_test).sum())


def cv_scores(texts: list[str], y: np.ndarray, iterations: Sequence[int], max_length: int,
              seed: int, frozen: np.ndarray) -> dict[str, float]:  # fmt: skip
    """Mean fold accuracy (C=10) of the frozen vectors and of each tuning, the same folds."""
    from sklearn.model_selection import StratifiedKFold

    folds = min(4, int(np.bincount(y).min()))
    if folds < 2:
        return {}
    right: dict[str, int] = {"frozen": 0, **{f"tuned x{n}": 0 for n in iterations}}
    split = StratifiedKFold(folds, shuffle=True, random_state=seed).split(np.zeros(len(y)), y)
    for fit_rows, held in split:
        right["frozen"] += lr_right(frozen[fit_rows], y[fit_rows], frozen[held], y[held], 10.0)
        fit_texts = [texts[i] for i in fit_rows]
        for n in iterations:
            encoder, _ = tune(fit_texts, y[fit_rows].tolist(), n, max_length, seed)
            x_fit = encoder.embed(fit_texts)
            x_held = encoder.embed([texts[i] for i in held])
            right[f"tuned x{n}"] += lr_right(x_fit, y[fit_rows], x_held, y[held], 10.0)
    return {name: count / len(y) for name, count in right.items()}


def probe(task: str, seed: int, args: argparse.Namespace, builder: Builder) -> None:
    first, _, _, _ = hold_back(builder.build(task, seed), Sizes(), seed)
    labels = list(first.job_description.labels)
    index = {label: i for i, label in enumerate(labels)}
    train, test = list(first.train.texts), list(first.test.texts)
    y_train = np.array([index[lab] for lab in first.train.labels])
    y_test = np.array([index[lab] for lab in first.test.labels])
    base = load_encoder(None, max_length=args.max_length)
    x_train, x_test = base.embed(train), base.embed(test)
    cells = [
        f"frozen C=1 {lr_right(x_train, y_train, x_test, y_test, 1.0)}",
        f"C=10 {lr_right(x_train, y_train, x_test, y_test, 10.0)}",
    ]
    for n in args.iterations:
        tuned, seconds = tune(train, y_train.tolist(), n, args.max_length, seed)
        t_train, t_test = tuned.embed(train), tuned.embed(test)
        cells.append(
            f"tuned x{n} C=1 {lr_right(t_train, y_train, t_test, y_test, 1.0)} "
            f"C=10 {lr_right(t_train, y_train, t_test, y_test, 10.0)} ({seconds:.0f}s)"
        )
    print(f"{task} seed {seed} ({len(train)} train rows, {len(labels)} classes): test rows right "
          f"of {len(test)}: " + "; ".join(cells), flush=True)  # fmt: skip
    if args.cv:
        started = time.perf_counter()
        scores = cv_scores(train, y_train, args.iterations, args.max_length, seed, x_train)
        shown = ", ".join(f"{name} {score:.3f}" for name, score in scores.items())
        print(f"  CV: {shown} ({time.perf_counter() - started:.0f}s)", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", nargs="+", default=DEFAULT_TASKS)
    parser.add_argument("--seeds", type=int, default=1, help="how many seeds (default 1)")
    parser.add_argument("--first-seed", type=int, default=0, help="the first seed (default 0)")
    parser.add_argument("--iterations", type=int, nargs="+", default=[5, 20])
    parser.add_argument("--max-length", type=int, default=128)
    parser.add_argument("--cv", action="store_true", help="also cross-validate (costs k tunings)")
    parser.add_argument(
        "--shared", type=Path, default=Path(__file__).resolve().parents[2] / "shared",
        help="the folder holding datasets/ (default: ../shared beside the repository)",
    )  # fmt: skip
    parser.add_argument(
        "--work", type=Path, default=None,
        help="where task builds are cached (default: a temporary folder, removed at the end)",
    )  # fmt: skip
    args = parser.parse_args(argv)
    import torch

    torch.set_num_threads(os.cpu_count() or 1)
    load_before = os.getloadavg()
    print(f"load average at start {load_before[0]:.2f}", flush=True)
    with tempfile.TemporaryDirectory(prefix="distil-probe-contrastive-") as tmp:
        work = args.work or Path(tmp)
        builder = Builder(args.shared / "datasets", work / "build-cache")
        for seed in range(args.first_seed, args.first_seed + args.seeds):
            for task in args.tasks:
                probe(task, seed, args, builder)
    print(f"load average at end {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
