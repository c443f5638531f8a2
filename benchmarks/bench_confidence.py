"""Benchmark confidence and retraining (issue 30's done-when).

Usage::

    python benchmarks/bench_confidence.py --seeds 3 --setfit --json /tmp/confidence-bench/full.json
    python benchmarks/bench_confidence.py --tasks short-7 --seeds 1 --quick   # smoke run
    python benchmarks/bench_confidence.py --report /tmp/confidence-bench/full.json [more.json]

Tasks: the three shared tasks, and two variants of the shape of an unseen task with few rows
of short texts and more classes (`_variants.short_few`: sentences cut from the shared labelled
texts, keeping their label, classes drawn per seed): ``short-7`` (7 classes, 7 train rows per
class for the first training, ~97 test rows: the hidden task's shape) and ``short-16`` (16
classes, 4 train rows per class, 128 test rows). Any task name of bench_offline_training.py
(``<task>-4shot``, ``merged``, ...) works too.

For each task and seed (``base.random_seed`` = seed):

1. A pool of ``--pool`` (64) labelled rows is held back as unlabelled texts with hidden gold
   labels: train rows first (per class, beyond half of its rows and at least 4 kept), then,
   when the train rows cannot give enough, test rows (at most half of each class's), which
   then leave the test set. The pool's texts join the unlabelled texts, as a user's
   ``unstructured.csv`` would hold them.
2. The first training runs through the real local flow in-process (``pipeline.run_training``,
   teacher fit and evaluation included), timed, with its own embedding cache (and run records
   under it, the retrain caches).
3. ECE (10 equal-width bins) of the student on the test rows, loaded with ``calibrate=False``
   and as users load it (``calibration.json`` applied); the record says whether the loaded
   classifier's probabilities are the file's calibration of the raw ones. Beside them, the ECE
   floor: what a perfectly calibrated model with the same probabilities shows on as many rows
   (`ece_floor`), the part of a measured ECE that is sampling noise.
4. Abstention at precision 0.95 on held-out rows, two-fold on the test set: the test rows
   are split in two halves (stratified, seeded); the threshold is chosen on one half
   (`precision_threshold`) and its coverage and precision are measured on the other, then
   the halves swap. A threshold is never picked and scored on the same rows. Coverage is the
   mean of the two halves, precision the pooled share of answered rows that are right.
5. ``--k`` (16) texts chosen by `suggest_examples` (the first model, its saved teacher head,
   the pool as candidates, train and test texts excluded) and ``--k`` texts drawn at random
   from the pool, each labelled from the hidden gold and added to the first training's rows;
   each set is retrained from the same first run (the run records keep every branch: the
   second retrain's rows are not a superset of the first's, so it starts from the first run
   too; its notes are checked for that). The retrain order alternates with the seed.
   Recorded: accuracies and each retrain's time over the first training's.
6. Baselines on the first training's rows: sklearn ``LogisticRegression`` (C=1, C=10) on the
   frozen teacher-encoder embeddings, and SetFit (same body) with ``--setfit`` where installed.

``--setfit-onto JSON`` adds SetFit to an earlier run's records without training again: each
record's first-training rows are rebuilt (seeded) and checked against its row counts.

Before the first flow the sentence encoder is loaded once (imports, weights from disk), so the
first training's time does not carry the process's start-up against the retrains.
``--quick``: tiny sizes for a smoke run (pool 24, k 8, 150 unlabelled texts, 2 student-base
epochs, 1 distillation epoch, 128-piece truncation); its figures say nothing about the
criteria. Seeds run in the outer loop; ``--json`` is written after every task and seed. Not a
timed test: on a shared machine times are pessimistic (the load average is printed).
"""

from __future__ import annotations

import argparse
import importlib.util
import math
import os
import random
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import _variants as variants
import bench_offline_training as offline

from distil_sdk.inference import LocalClassifier
from distil_sdk.inference._calibration import (
    Calibration,
    expected_calibration_error,
    precision_threshold,
)
from distil_sdk.inference._suggest import suggest_examples
from distil_sdk.local import pipeline
from distil_sdk.local._jobs._retrain import RETRAIN_CACHE_ENV
from distil_sdk.local._jobs.threads import set_torch_threads, torch_threads
from distil_sdk.local.pipeline import PipelineOptions
from distil_sdk.types.data import LabelledDataset, TaskBundle, UnlabelledDataset

#: The variants of the few-rows / short-texts / more-classes shape (`_variants.short_few`).
SHORT = {
    "short-7": {"classes": 7, "train_per_class": 14, "test_per_class": 16},
    "short-16": {"classes": 16, "train_per_class": 8, "test_per_class": 8},
}
DEFAULT_TASKS = [*variants.SHARED_TASKS, *SHORT]
KNOWN_TASKS = [*DEFAULT_TASKS, *(t for t in offline.ALL_TASKS if t not in DEFAULT_TASKS)]
MODELS = offline.MODELS
TARGET_PRECISION = 0.95
ECE_LIMIT = 0.05
RETRAIN_LIMIT = 0.60
#: Train rows per class the first training keeps at least (and half of each class's rows).
MIN_KEEP = 4


@dataclass(frozen=True)
class Sizes:
    """How big a run is: the held-back pool, the rows added, the unlabelled texts kept."""

    pool: int = 64
    k: int = 16
    unlabelled: int | None = None  # None: all of the task's
    options: PipelineOptions = field(default_factory=PipelineOptions)


QUICK = Sizes(
    pool=24,
    k=8,
    unlabelled=150,
    options=PipelineOptions(
        base_epochs=2, distillation_epochs=1, student_max_lengths=None, teacher_init_check_texts=32
    ),
)


class Builder(offline.Builder):
    """bench_offline_training's tasks, and the ``short-*`` variants."""

    def build(self, task: str, seed: int) -> TaskBundle:
        """The bundle for ``task`` and ``seed`` (see the module docstring)."""
        if task in SHORT:
            return variants.short_few(list(self.base.values()), seed, **SHORT[task])
        return super().build(task, seed)


# -- the held-back pool ----------------------------------------------------------------------------
def _spare(data: LabelledDataset, labels: list[str], keep: Any, rng: random.Random) -> Any:
    """Per label, the shuffled row indices of ``data`` beyond the ``keep(n)`` it keeps."""
    out: dict[str, list[int]] = {}
    for label in labels:
        rows = [i for i, lab in enumerate(data.labels) if lab == label]
        rng.shuffle(rows)
        out[label] = rows[keep(len(rows)) :]
    return out


def _round_robin(spare: dict[str, list[int]], want: int, rng: random.Random) -> list[int]:
    """Up to ``want`` indices, one class at a time (classes in a seeded order)."""
    order = sorted(spare)
    rng.shuffle(order)
    out: list[int] = []
    while len(out) < want and any(spare.values()):
        for label in order:
            if spare[label] and len(out) < want:
                out.append(spare[label].pop())
    return out


def _without(data: LabelledDataset, drop: Sequence[int]) -> LabelledDataset:
    gone = set(drop)
    rows = [i for i in range(len(data.texts)) if i not in gone]
    return LabelledDataset.from_lists([data.texts[i] for i in rows], [data.labels[i] for i in rows])


def hold_back(
    bundle: TaskBundle, sizes: Sizes, seed: int
) -> tuple[TaskBundle, list[str], list[str], int]:
    """The first training's bundle, the pool's texts and hidden labels, and how many pool rows
    came from the test set (see the module docstring, step 1)."""
    rng = random.Random(seed)
    labels = bundle.labels
    train_spare = _spare(bundle.train, labels, lambda n: max(MIN_KEEP, math.ceil(n / 2)), rng)
    from_train = _round_robin(train_spare, sizes.pool, rng)
    test_spare = _spare(bundle.test, labels, lambda n: math.ceil(n / 2), rng)
    from_test = _round_robin(test_spare, sizes.pool - len(from_train), rng)
    texts = [bundle.train.texts[i] for i in from_train] + [bundle.test.texts[i] for i in from_test]
    gold = [bundle.train.labels[i] for i in from_train] + [bundle.test.labels[i] for i in from_test]
    unlabelled = list(bundle.unstructured.texts) if bundle.unstructured is not None else []
    if sizes.unlabelled is not None and len(unlabelled) > sizes.unlabelled:
        unlabelled = rng.sample(unlabelled, sizes.unlabelled)
    unlabelled = list(dict.fromkeys(unlabelled + texts))
    rng.shuffle(unlabelled)
    first = TaskBundle(
        bundle.job_description,
        _without(bundle.train, from_train),
        _without(bundle.test, from_test),
        UnlabelledDataset.from_lists(unlabelled),
    )
    return first, texts, gold, len(from_test)


def _with_rows(bundle: TaskBundle, texts: Sequence[str], labels: Sequence[str]) -> TaskBundle:
    train = LabelledDataset.from_lists(
        [*bundle.train.texts, *texts], [*bundle.train.labels, *labels]
    )
    return TaskBundle(bundle.job_description, train, bundle.test, bundle.unstructured)


# -- one flow and its measurements -----------------------------------------------------------------
def _flow(
    bundle: TaskBundle, folder: Path, seed: int, options: PipelineOptions
) -> tuple[TaskBundle, pipeline.TrainingOutput, float]:
    """Write ``bundle`` as a task folder, read it back (what a user's folder gives the
    platform), train it in-process; the bundle read, the output and the wall time."""
    bundle = TaskBundle.from_dir(variants.write_variant(bundle, folder / "task"))
    bundle.config.base.random_seed = seed
    started = time.perf_counter()
    out = pipeline.run_training(bundle, folder / "work", offline._quiet, options=options)
    return bundle, out, time.perf_counter() - started


def calibration_figures(
    model_dir: Path, test: LabelledDataset
) -> tuple[dict[str, Any], LocalClassifier, np.ndarray, np.ndarray]:
    """ECE on ``test`` raw and calibrated; the classifier as users load it, its test
    probabilities and the gold label indices."""
    raw_clf = LocalClassifier.from_pretrained(model_dir, calibrate=False)
    clf = LocalClassifier.from_pretrained(model_dir)
    texts = list(test.texts)
    y = np.array([clf.labels.index(label) for label in test.labels])
    raw = np.asarray(raw_clf.predict_proba(texts), dtype=np.float64)
    cal = np.asarray(clf.predict_proba(texts), dtype=np.float64)
    saved = Calibration.load(model_dir)
    expected = saved.apply(raw) if saved is not None else raw
    figures = {
        "file": saved is not None,
        "method": saved.method if saved else None,
        "temperature": saved.temperature if saved else None,
        "reason": saved.reason if saved else None,
        "ece_raw": expected_calibration_error(raw, y),
        "ece_calibrated": expected_calibration_error(cal, y),
        "ece_floor": ece_floor(cal),
        # False: the classifier's probabilities are not the file's calibration of the raw ones.
        "classifier_applies_file": bool(np.allclose(cal, expected, atol=1e-4)),
        "accuracy": float(np.mean(cal.argmax(axis=1) == y)),
    }
    return figures, clf, cal, y


def ece_floor(probs: np.ndarray, draws: int = 200, seed: int = 0) -> float:
    """The ECE a perfectly calibrated model with exactly these probabilities shows on this many
    rows: the mean ECE over ``draws`` label sets drawn from the rows' own probabilities.

    ECE is biased upwards on few rows (a bin of 10 rows cannot match its confidence exactly):
    on a 112-row test set this floor alone can exceed a 0.05 target, so a measured ECE is read
    against it.
    """
    rng = np.random.default_rng(seed)
    cumulative = np.cumsum(probs, axis=1)
    cumulative[:, -1] = 1.0
    eces = []
    for _ in range(draws):
        drawn = (rng.random((len(probs), 1)) > cumulative).sum(axis=1)
        eces.append(expected_calibration_error(probs, drawn))
    return float(np.mean(eces))


def _halves(y: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Two halves of the row indices, stratified by label, drawn with ``seed``."""
    rng = np.random.default_rng(seed)
    first: list[int] = []
    for label in np.unique(y):
        rows = rng.permutation(np.flatnonzero(y == label))
        first += rows[: (len(rows) + int(rng.integers(2))) // 2].tolist()
    mask = np.zeros(len(y), dtype=bool)
    mask[first] = True
    return np.flatnonzero(mask), np.flatnonzero(~mask)


def abstention(probs: np.ndarray, y: np.ndarray, seed: int) -> dict[str, Any]:
    """Coverage and precision at `TARGET_PRECISION`, two-fold (module docstring, step 4)."""
    conf = probs.max(axis=1)
    correct = probs.argmax(axis=1) == y
    folds = []
    a, b = _halves(y, seed)
    for pick, score in ((a, b), (b, a)):
        choice = precision_threshold(conf[pick].tolist(), correct[pick].tolist(), TARGET_PRECISION)
        answered = conf[score] >= choice.threshold
        folds.append(
            {
                "threshold": choice.threshold if choice.reached else None,
                "pick_rows": len(pick),
                "pick_coverage": choice.coverage,
                "rows": len(score),
                "answered": int(answered.sum()),
                "right": int(correct[score][answered].sum()),
            }
        )
    answered_total = sum(f["answered"] for f in folds)
    return {
        "target": TARGET_PRECISION,
        "folds": folds,
        "coverage": statistics.mean(f["answered"] / f["rows"] for f in folds),
        "precision": sum(f["right"] for f in folds) / answered_total if answered_total else None,
    }


def _retrain_record(
    out: pipeline.TrainingOutput, seconds: float, first_s: float, n_first: int
) -> dict[str, Any]:
    notes = [n for n in out.notes if "retrain" in n]
    return {
        "accuracy": {m: float(out.evaluation_results[m]["accuracy"]) for m in MODELS},
        "flow_s": seconds,
        "ratio": seconds / first_s,
        "stages": out.timings,
        "notes": notes,
        # The retrain notes name the run retrained by its gold rows: the first run's count.
        "from_first_run": any(
            f"with {n_first} gold rows" in n or f"({n_first} of " in n for n in notes
        ),
        "load_after": os.getloadavg()[0],
    }


def run_one(task: str, seed: int, bundle: TaskBundle, work: Path, sizes: Sizes) -> dict[str, Any]:
    """Steps 1 to 6 of the module docstring (SetFit aside) for ``task`` and ``seed``."""
    first, pool, gold, from_test = hold_back(bundle, sizes, seed)
    root = work / f"{task}-{seed}"
    cache = root / "embeddings"
    os.environ[pipeline.EMBEDDING_CACHE_ENV] = str(cache)
    first, out, first_s = _flow(first, root / "first", seed, sizes.options)
    record: dict[str, Any] = {
        "task": task,
        "seed": seed,
        "n_classes": len(first.labels),
        "n_train": len(first.train),
        "n_pool": len(pool),
        "pool_from_test": from_test,
        "n_test": len(first.test),
        "n_unlabelled": len(first.unstructured) if first.unstructured is not None else 0,
        "accuracy": {m: float(out.evaluation_results[m]["accuracy"]) for m in MODELS},
        "flow_s": first_s,
        "stages": out.timings,
        "teacher_recipe": out.teacher_recipe,
        "notes": out.notes,
    }
    record["calibration"], clf, probs, y = calibration_figures(out.model_dir, first.test)
    record["abstention"] = abstention(probs, y, seed)
    label_of = dict(zip(pool, gold, strict=True))
    picks = {
        "suggested": suggest_examples(
            clf,
            pool,
            k=sizes.k,
            exclude=[*first.train.texts, *first.test.texts],
            seed=seed,
            cache_dir=cache,
        ).texts,
        "random": random.Random(seed).sample(pool, min(sizes.k, len(pool))),
    }
    record["retrain"] = {}
    order = ["suggested", "random"] if seed % 2 == 0 else ["random", "suggested"]
    for name in order:  # alternated: neither retrain always runs on a warmer machine
        added = [label_of[t] for t in picks[name]]
        _, r_out, r_s = _flow(
            _with_rows(first, picks[name], added), root / name, seed, sizes.options
        )
        record["retrain"][name] = _retrain_record(r_out, r_s, first_s, len(first.train))
        record["retrain"][name]["added"] = len(added)
        record["retrain"][name]["added_labels"] = dict(Counter(added))
    record["retrain_order"] = list(record["retrain"])
    t0 = time.perf_counter()
    record["lr"] = offline.lr_baseline(first, cache, (1.0, 10.0))
    record["lr_s"] = time.perf_counter() - t0
    record["load_after"] = os.getloadavg()[0]
    return record


# -- the report ------------------------------------------------------------------------------------
_mean = offline._mean  # NaN for no values, as in bench_offline_training's tables


def summarise(records: Sequence[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per task: means over seeds (row differences in test rows of each seed)."""
    out: dict[str, dict[str, Any]] = {}
    for task, rows in offline.by_task(records).items():
        lr = {c: _mean([r["lr"][c] for r in rows]) for c in rows[0]["lr"]}
        best_lr = max(lr, key=lambda c: lr[c])
        setfit = [r for r in rows if "setfit" in r]
        precisions = [p for r in rows if (p := r["abstention"]["precision"]) is not None]
        out[task] = {
            "seeds": len(rows),
            "classes": _mean([r["n_classes"] for r in rows]),
            "train": _mean([r["n_train"] for r in rows]),
            "pool_from_test": _mean([r["pool_from_test"] for r in rows]),
            "test": _mean([r["n_test"] for r in rows]),
            "ece_raw": _mean([r["calibration"]["ece_raw"] for r in rows]),
            "ece_cal": _mean([r["calibration"]["ece_calibrated"] for r in rows]),
            # Older --json records have no floor: NaN, not a made-up figure.
            "ece_floor": _mean([r["calibration"].get("ece_floor", float("nan")) for r in rows]),
            "temperatures": [r["calibration"]["temperature"] for r in rows],
            "coverage": _mean([r["abstention"]["coverage"] for r in rows]),
            "precision": _mean(precisions) if precisions else None,
            "mean": {m: _mean([r["accuracy"][m] for r in rows]) for m in MODELS},
            "suggested": _mean(
                [r["retrain"]["suggested"]["accuracy"]["student-tuned"] for r in rows]
            ),
            "random": _mean([r["retrain"]["random"]["accuracy"]["student-tuned"] for r in rows]),
            "ratio_suggested": _mean([r["retrain"]["suggested"]["ratio"] for r in rows]),
            "ratio_random": _mean([r["retrain"]["random"]["ratio"] for r in rows]),
            "lr": lr,
            "best_lr": best_lr,
            "teacher_minus_lr_rows": _mean(
                [(r["accuracy"]["teacher"] - r["lr"][best_lr]) * r["n_test"] for r in rows]
            ),
            "setfit": _mean([r["setfit"]["accuracy"] for r in setfit]) if setfit else None,
            "setfit_seeds": len(setfit),
            "student_on_setfit_seeds": _mean([r["accuracy"]["student-tuned"] for r in setfit]),
            "first_s_max": max(r["flow_s"] for r in rows),
        }
    return out


def print_table(summary: dict[str, dict[str, Any]]) -> None:
    """The per-task table (means over seeds)."""
    print(
        "\n| task | seeds | classes | train | pool from test | test | ECE raw | ECE cal "
        "| ECE floor | T "
        "| coverage@0.95 (precision) | student | +suggested | +random | retrain/first "
        "(sugg/rand) | teacher | LR C=1 | LR C=10 | SetFit | first max (s) |"
    )
    print("|---|" + "---|" * 19)
    for task, s in summary.items():
        temps = "/".join(f"{t:.2f}" if t is not None else "-" for t in s["temperatures"])
        precision = f"{s['precision']:.3f}" if s["precision"] is not None else "-"
        setfit = f"{s['setfit']:.3f} ({s['setfit_seeds']})" if s["setfit"] is not None else "-"
        print(
            f"| {task} | {s['seeds']} | {s['classes']:.0f} | {s['train']:.0f} | "
            f"{s['pool_from_test']:.0f} | {s['test']:.0f} | {s['ece_raw']:.3f} | "
            f"{s['ece_cal']:.3f} | {s['ece_floor']:.3f} | {temps} | {s['coverage']:.3f} ({precision}) | "
            f"{s['mean']['student-tuned']:.3f} | {s['suggested']:.3f} | {s['random']:.3f} | "
            f"{s['ratio_suggested']:.2f}/{s['ratio_random']:.2f} | {s['mean']['teacher']:.3f} | "
            f"{s['lr'].get('C=1', float('nan')):.3f} | {s['lr'].get('C=10', float('nan')):.3f} | "
            f"{setfit} | {s['first_s_max']:.0f} |"
        )


def _checks(
    records: Sequence[dict[str, Any]], summary: dict[str, dict[str, Any]]
) -> list[tuple[str, bool, str]]:
    """Each done-when criterion: its name, whether it holds and the figures."""
    checks = [
        (
            f"ECE after calibration <= {ECE_LIMIT} on every task, and lower than before",
            all(
                s["ece_cal"] <= ECE_LIMIT and s["ece_cal"] < s["ece_raw"] for s in summary.values()
            ),
            "; ".join(f"{t} {s['ece_raw']:.3f} -> {s['ece_cal']:.3f}" for t, s in summary.items()),
        ),
        (
            f"coverage at precision {TARGET_PRECISION} (threshold picked on the other test half)",
            all(r["abstention"]["folds"] for r in records),
            "; ".join(
                f"{t} {s['coverage']:.3f}"
                + (
                    f" at {s['precision']:.3f}"
                    if s["precision"] is not None
                    else " (none answered)"
                )
                for t, s in summary.items()
            ),
        ),
    ]
    gains = [
        r["retrain"]["suggested"]["accuracy"]["student-tuned"]
        - r["retrain"]["random"]["accuracy"]["student-tuned"]
        for r in records
    ]
    checks.append(
        (
            "suggested texts raise student accuracy more than random ones (mean over tasks, seeds)",
            _mean(gains) > 0,
            f"{_mean(gains) * 100:+.2f} points; "
            + "; ".join(
                f"{t} {(s['suggested'] - s['random']) * 100:+.1f}" for t, s in summary.items()
            ),
        )
    )
    worst = max(
        summary.items(), key=lambda kv: max(kv[1]["ratio_suggested"], kv[1]["ratio_random"])
    )
    checks.append(
        (
            f"retraining takes <= {RETRAIN_LIMIT:.0%} of the first training (per task mean)",
            all(
                max(s["ratio_suggested"], s["ratio_random"]) <= RETRAIN_LIMIT
                for s in summary.values()
            ),
            f"worst: {worst[0]} {worst[1]['ratio_suggested']:.2f} (suggested) / "
            f"{worst[1]['ratio_random']:.2f} (random)",
        )
    )
    return checks


def _baseline_checks(summary: dict[str, dict[str, Any]]) -> list[tuple[str, bool, str]]:
    with_setfit = {t: s for t, s in summary.items() if s["setfit"] is not None}
    detail = "; ".join(
        f"{t} {s['student_on_setfit_seeds']:.3f} vs {s['setfit']:.3f}"
        for t, s in with_setfit.items()
    )
    missing = [t for t in summary if t not in with_setfit]
    if missing:
        detail += ("; " if detail else "") + f"not measured on {', '.join(missing)}"
    worst = min(summary.items(), key=lambda kv: kv[1]["teacher_minus_lr_rows"])
    return [
        (
            "student at or above SetFit (same body, same seeds) on every task",
            not missing
            and all(s["student_on_setfit_seeds"] >= s["setfit"] for s in with_setfit.values()),
            detail,
        ),
        (
            "teacher not below plain LR (better of C=1, C=10) by more than 1 test row on average",
            all(s["teacher_minus_lr_rows"] >= -1.0 for s in summary.values()),
            f"worst: {worst[0]} {worst[1]['teacher_minus_lr_rows']:+.1f} rows",
        ),
    ]


def print_report(records: Sequence[dict[str, Any]], meta: dict[str, Any]) -> bool:
    """The table, the sanity warnings and the done-when checks; True when every check passes."""
    summary = summarise(records)
    print_table(summary)
    print(f"\nmachine: {meta.get('machine', '-')}")
    for r in records:
        where = f"{r['task']} seed {r['seed']}"
        if not r["calibration"]["classifier_applies_file"]:
            print(f"  WARNING {where}: the loaded classifier does not apply calibration.json")
        for name, retrain in r["retrain"].items():
            if not retrain["from_first_run"]:
                print(f"  WARNING {where}: the {name} retrain is not a retrain of the first run")
    checks = _checks(records, summary) + _baseline_checks(summary)
    print(f"\ndone-when checks (seeds per task: {sorted({s['seeds'] for s in summary.values()})}):")
    for name, ok, detail in checks:
        print(f"  {'PASS' if ok else 'FAIL'}  {name}: {detail}")
    return all(ok for _, ok, _ in checks)


# -- running ---------------------------------------------------------------------------------------
def _report(paths: Sequence[Path]) -> int:
    """Print the report of ``--json`` files; a (task, seed) in several is taken from the first."""
    return 0 if print_report(*offline.read_records(paths, KNOWN_TASKS)) else 1


def add_setfit(
    records: list[dict[str, Any]], first_of: Callable[[dict[str, Any]], TaskBundle], work: Path,
    args: argparse.Namespace, save: Any,
) -> None:  # fmt: skip
    """SetFit on each selected record's first-training rows (``first_of(record)``), cheapest
    first; ``save()`` after each."""
    for r in sorted(records, key=lambda r: r["n_train"]):
        if "setfit" in r or r["task"] not in args.setfit_tasks:
            continue
        if r["seed"] >= args.first_seed + args.setfit_seeds:
            continue
        bundle = first_of(r)
        r["setfit"] = offline.setfit_run(
            bundle, r["seed"], work / "setfit" / f"{r['task']}-{r['seed']}"
        )
        r["setfit"]["load_after"] = os.getloadavg()[0]
        save()
        print(
            f"  SetFit {r['task']} seed {r['seed']}: {r['setfit']['accuracy']:.3f} in "
            f"{r['setfit']['seconds']:.0f}s (load {r['setfit']['load_after']:.1f})",
            flush=True,
        )


def _setfit_onto(args: argparse.Namespace, builder: Builder, sizes: Sizes, work: Path) -> int:
    """``--setfit-onto``: SetFit added to an earlier run's records. Each record's first-training
    rows are rebuilt (the task build and the hold-back are seeded) and checked against the
    record's row counts before SetFit trains on them."""
    records, meta = offline.run_for_setfit(args.setfit_onto)
    out = args.json or args.setfit_onto

    def first_of(r: dict[str, Any]) -> TaskBundle:
        first, _, _, _ = hold_back(builder.build(r["task"], r["seed"]), sizes, r["seed"])
        if (len(first.train), len(first.test)) != (r["n_train"], r["n_test"]):
            raise SystemExit(
                f"{r['task']} seed {r['seed']}: rebuilt {len(first.train)} train / "
                f"{len(first.test)} test rows, the record has {r['n_train']} / {r['n_test']}: "
                "a different build; run with --setfit instead"
            )
        return first

    add_setfit(records, first_of, work, args, lambda: offline._save(out, meta, records))
    offline._save(out, meta, records)
    return 0 if print_report(records, meta) else 1


def _progress_line(r: dict[str, Any]) -> str:
    c, a, rt = r["calibration"], r["abstention"], r["retrain"]
    return (
        f"  {r['task']} seed {r['seed']}: student {r['accuracy']['student-tuned']:.3f} "
        f"(teacher {r['accuracy']['teacher']:.3f}, LR {r['lr']['C=1']:.3f}/{r['lr']['C=10']:.3f})"
        f"; ECE {c['ece_raw']:.3f} -> {c['ece_calibrated']:.3f} (T {c['temperature'] or 1:.2f}); "
        f"coverage@{TARGET_PRECISION} {a['coverage']:.3f}; +suggested "
        f"{rt['suggested']['accuracy']['student-tuned']:.3f}, +random "
        f"{rt['random']['accuracy']['student-tuned']:.3f}; first {r['flow_s']:.0f}s, retrains "
        f"{rt['suggested']['ratio']:.2f}/{rt['random']['ratio']:.2f} (load {r['load_after']:.1f})"
    )


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument(
        "--shared",
        type=Path,
        default=Path(__file__).resolve().parents[2] / "shared",
        help="the shared folder holding datasets/ (default: <repo>/../shared)",
    )
    parser.add_argument(
        "--tasks",
        nargs="+",
        default=DEFAULT_TASKS,
        metavar="TASK",
        help=f"({', '.join(KNOWN_TASKS)})",
    )
    parser.add_argument("--seeds", type=int, default=3, help="seeds per task (3)")
    parser.add_argument("--first-seed", type=int, default=0, help="the first seed (0)")
    parser.add_argument("--pool", type=int, help="held-back labelled rows (64; --quick: 24)")
    parser.add_argument("-k", "--k", type=int, help="rows added per retrain (16; --quick: 8)")
    parser.add_argument("--quick", action="store_true", help="tiny sizes for a smoke run")
    parser.add_argument("--setfit", action="store_true", help="also train SetFit (if installed)")
    parser.add_argument(
        "--setfit-tasks", nargs="+", metavar="TASK", help="where SetFit runs (default: every task)"
    )
    parser.add_argument(
        "--setfit-seeds", type=int, help="SetFit seeds per task, from --first-seed (default: all)"
    )
    parser.add_argument(
        "--json", type=Path, help="write the raw numbers here (after every task and seed)"
    )
    parser.add_argument("--work", type=Path, help="work folder (default: a temporary folder)")
    parser.add_argument("--report", type=Path, nargs="+", help="print the report of --json file(s)")
    parser.add_argument(
        "--setfit-onto",
        type=Path,
        metavar="JSON",
        help="add SetFit to an earlier --json run (its tasks, seeds and sizes; written to --json, "
        "else back to JSON)",
    )
    return parser


def _sizes(args: argparse.Namespace, parser: argparse.ArgumentParser) -> Sizes:
    base = QUICK if args.quick else Sizes()
    sizes = Sizes(
        pool=args.pool if args.pool is not None else base.pool,
        k=args.k if args.k is not None else base.k,
        unlabelled=base.unlabelled,
        options=base.options,
    )
    if not 1 <= sizes.k <= sizes.pool:
        parser.error(f"--k must lie in [1, --pool]; got k={sizes.k}, pool={sizes.pool}")
    return sizes


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.report:
        return _report(args.report)
    unknown = [t for t in args.tasks if t not in KNOWN_TASKS]
    if unknown:
        parser.error(f"unknown task {unknown[0]!r}; choose from {', '.join(KNOWN_TASKS)}")
    datasets = args.shared / "datasets"
    if not all((datasets / t).is_dir() for t in variants.SHARED_TASKS):
        parser.error(f"{datasets} lacks {', '.join(variants.SHARED_TASKS)}; pass --shared")
    sizes = _sizes(args, parser)
    args.setfit_tasks = args.setfit_tasks or args.tasks
    args.setfit_seeds = args.setfit_seeds if args.setfit_seeds is not None else args.seeds
    setfit_ok = args.setfit and importlib.util.find_spec("setfit") is not None
    if args.setfit and not setfit_ok:
        print("setfit is not installed: SetFit is skipped (pip install setfit)")
    if args.setfit_onto is not None:
        if importlib.util.find_spec("setfit") is None:
            parser.error("--setfit-onto needs setfit (pip install setfit)")
        set_torch_threads()
        with tempfile.TemporaryDirectory(prefix="distil-confidence-setfit-") as tmp:
            work = args.work or Path(tmp)
            return _setfit_onto(args, Builder(datasets, work / "build-cache"), sizes, work)
    # The retrain caches are what step 5 measures: a DISTIL_RETRAIN_CACHE=off here would turn
    # every retrain into a full training; each flow's records live in its embedding cache.
    os.environ.pop(RETRAIN_CACHE_ENV, None)
    set_torch_threads()
    load = os.getloadavg()
    meta: dict[str, Any] = {
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "git": offline._git_state(),
        "sizes": {"pool": sizes.pool, "k": sizes.k, "unlabelled": sizes.unlabelled},
        "quick": args.quick,
        "load_start": load,
        "machine": f"{os.cpu_count()} CPUs, torch threads {torch_threads()}, shared with other "
        f"jobs (load average at start {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f})",
    }
    print(f"load average at start: {load}; git: {meta['git']}", flush=True)
    records: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="distil-confidence-bench-") as tmp:
        work = args.work or Path(tmp)
        builder = Builder(datasets, work / "build-cache")
        builder._embedder.embed(["a warm-up sentence, so no flow pays the encoder's load"])
        for seed in range(args.first_seed, args.first_seed + args.seeds):
            for task in args.tasks:
                r = run_one(task, seed, builder.build(task, seed), work, sizes)
                records.append(r)
                offline._save(args.json, meta, records)
                print(_progress_line(r), flush=True)
        if setfit_ok:
            add_setfit(
                records,
                lambda r: TaskBundle.from_dir(work / f"{r['task']}-{r['seed']}" / "first" / "task"),
                work,
                args,
                lambda: offline._save(args.json, meta, records),
            )
    meta["load_end"] = list(os.getloadavg())
    offline._save(args.json, meta, records)
    print(f"load average at end: {meta['load_end']}")
    print_report(records, meta)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
