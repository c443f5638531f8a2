"""``dataset`` commands beyond the shared reads: ``create`` (a task folder, validated here, or
the per-file flags), ``create-from-traces``, the derivations (relabel traces, generate
synthetic data), ``metrics`` and ``download``."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from ...types._words import plural
from .._output import UsageError, emit, json_mode, table
from .._platform import client_from_args
from ._common import Func, created, dest, overrides, say

__all__ = [
    "DATASET_OPERATIONS",
    "dataset_create",
    "dataset_derive",
    "dataset_download",
    "dataset_from_traces",
    "dataset_metrics",
]

#: The derivation verbs, and the operation each sends.
DATASET_OPERATIONS = {
    "relabel-traces-train": "relabel_traces_train",
    "relabel-traces-test": "relabel_traces_test",
    "generate-synthetic-data-train": "generate_synthetic_data_train",
    "generate-synthetic-data-test": "generate_synthetic_data_test",
}


def _dataset_files(args: argparse.Namespace) -> Any:
    """The task to create a Dataset from: ``DIR`` / ``--data DIR`` (validated here, its warnings
    on stderr), or the per-file flags as the files themselves."""
    per_file = {
        "config": args.config,
        "job_description": args.job_description,
        "train_data": args.train,
        "test_data": args.test,
        "traces": args.traces,
    }
    given = {k: v for k, v in per_file.items() if v is not None}
    folder = args.data or args.dir
    if args.data and args.dir:
        raise UsageError("give the folder once: DIR or --data DIR")
    if folder and given:
        raise UsageError("--data DIR and the per-file flags (--config, --train...) do not combine")
    if given:
        return _read_files(given)
    if not folder:
        raise UsageError("give the task folder: dataset create DIR (or --data DIR)")
    return _validated_bundle(args, folder)


def _read_files(given: dict[str, str]) -> dict[str, bytes]:
    """The per-file flags' files: config and job description, and at least one data file."""
    missing = [f"--{k.replace('_', '-')}" for k in ("config", "job_description") if k not in given]
    if missing or len(given) < 3:
        raise UsageError(
            "with per-file flags, dataset create needs --config and --job-description and "
            "at least one of --train, --test, --traces"
            + (f" (missing: {', '.join(missing)})" if missing else "")
        )
    files: dict[str, bytes] = {}
    for field, path in given.items():
        file = Path(path)
        if not file.is_file():
            raise UsageError(f"{path}: no such file (nothing was uploaded)")
        files[field] = file.read_bytes()
    return files


def _validated_bundle(args: argparse.Namespace, folder: str) -> Any:
    """The task folder, validated: errors stop it, warnings go to stderr (not with ``--json``)."""
    from ...types.data import TaskBundle

    bundle = TaskBundle.from_dir(Path(folder))  # DataValidationError -> exit 2 with the report
    report = bundle.validate()
    report.raise_for_errors()  # main() prints the findings table and exits 2
    if report.warnings and not json_mode(args):
        say(report.to_table())
    return bundle


def dataset_create(args: argparse.Namespace) -> int:
    task = _dataset_files(args)
    with client_from_args(args) as client:
        dataset = client.datasets.create(task)
    emit(args, dataset, f"Upload successful. Dataset ID: {dataset.id}")
    return 0


def dataset_derive(operation: str) -> Func:
    def run(args: argparse.Namespace) -> int:
        config, job_description = overrides(args)
        with client_from_args(args) as client:
            dataset = client.datasets.derive(
                args.id,
                operation,  # type: ignore[arg-type]  # one of DATASET_OPERATIONS
                config,
                job_description,
                smoke=args.smoke,
            )
            return created(args, client, "dataset", dataset)

    return run


def dataset_from_traces(args: argparse.Namespace) -> int:
    config, job_description = overrides(args)
    if config is None or job_description is None:
        raise UsageError("dataset create-from-traces needs --config and --job-description")
    with client_from_args(args) as client:
        dataset = client.datasets.from_prepared_traces(args.id, config, job_description)
    emit(args, dataset, f"Dataset created. ID: {dataset.id}")
    return 0


def dataset_metrics(args: argparse.Namespace) -> int:
    with client_from_args(args) as client:
        metrics = client.datasets.metrics(args.id)
    rows = [
        ("train", metrics.train_data_size_bytes),
        ("test", metrics.test_data_size_bytes),
        ("traces", metrics.traces_size_bytes),
    ]
    text = table(("SPLIT", "BYTES"), [(k, "-" if v is None else v) for k, v in rows])
    emit(args, metrics, text)
    return 0


def dataset_download(args: argparse.Namespace) -> int:
    folder = dest(args, f"{args.id}-data")
    with client_from_args(args) as client:
        files = client.datasets.download_files(args.id, folder)
    data = {"id": args.id, "path": str(folder), "files": {k: str(v) for k, v in files.items()}}
    names = ", ".join(sorted(p.name for p in files.values()))
    emit(args, data, f"dataset {args.id}: {plural(len(files), 'file')} saved to {folder} ({names})")
    return 0
