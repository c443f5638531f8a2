"""Everyday commands: ``validate`` a task folder and ``evaluate`` a model on a labelled file.

``validate`` needs only the core package; ``evaluate`` (`._evaluate`) loads the model with
`LocalClassifier` (``distil-sdk[local]``) and draws with matplotlib
(``distil-sdk[plot]``) when ``--plot`` asks.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..types._words import plural
from . import _evaluate
from ._batch import default_out
from ._output import add_json_flag, emit, json_mode

__all__ = ["register", "warn_file_texts"]


def register(subparsers: Any) -> None:
    """Add ``validate`` and ``evaluate`` to the ``distil-sdk`` parser."""
    validate = subparsers.add_parser(
        "validate",
        help="check a task folder without training (exit 0 valid, 2 invalid)",
        description="Read TASK_DIR as `train` would and print every finding (errors and "
        "warnings, with file, row and column). Exit code 0 when the task is valid, 2 when not.",
    )
    validate.add_argument(
        "task_dir",
        type=Path,
        metavar="TASK_DIR",
        help="folder with job_description.json, train.csv, test.csv, ...",
    )
    add_json_flag(validate)
    validate.set_defaults(func=_validate)

    _evaluate.register(subparsers)


def _err(text: str) -> None:
    sys.stderr.write(text.rstrip("\n") + "\n")
    sys.stderr.flush()


def _validate(args: argparse.Namespace) -> int:
    from ..types.data import TaskBundle

    task_dir: Path = args.task_dir
    if not task_dir.is_dir():
        from ._output import UsageError

        raise UsageError(f"{task_dir}: not a folder (expected a task folder)")
    bundle = TaskBundle.from_dir(task_dir)  # unreadable -> DataValidationError -> main(): exit 2
    report = bundle.validate()
    labels = bundle.job_description.labels
    unlabelled = len(bundle.unlabelled) if bundle.unlabelled is not None else 0
    counts = (
        f"{len(bundle.train)} train / {len(bundle.test)} test / {unlabelled} unlabelled rows, "
        f"{plural(len(labels), 'class', 'classes')}"
    )
    verdict = (
        f"{task_dir}: valid ({counts})"
        if report.ok
        else f"{task_dir}: invalid - fix the errors above and run validate again ({counts})"
    )
    if json_mode(args):
        if report.findings:
            _err(report.to_table())
        _err(verdict)
    data = {
        "task_dir": str(task_dir),
        "ok": report.ok,
        "errors": len(report.errors),
        "warnings": len(report.warnings),
        "train_rows": len(bundle.train),
        "test_rows": len(bundle.test),
        "unlabelled_rows": unlabelled,
        "labels": labels,
        "findings": [f.model_dump(mode="json") for f in report.findings],
    }
    emit(args, data, report.to_table() + "\n" + verdict)
    return 0 if report.ok else 2


def warn_file_texts(texts: Sequence[str]) -> None:
    """Warn (stderr) when a TEXT argument names an existing file: it is classified as a text."""
    for text in texts:
        if text == "-" or "\n" in text or len(text) > 4096:
            continue
        try:
            is_file = Path(text).expanduser().is_file()
        except OSError:  # a name too long or otherwise impossible: a text, not a path
            is_file = False
        if is_file:
            _err(
                f"warning: {text!r} is an existing file, classified here as a text; to predict "
                f"its rows run: distil-sdk predict MODEL --input {text} (they go to "
                f"{default_out(text)})"
            )
