"""Everyday commands: ``validate`` a task folder and ``evaluate`` a model on a labelled file.

``validate`` needs only the core package; ``evaluate`` loads the model with
`LocalClassifier` (``distil-sdk[local]``) and draws with matplotlib
(``distil-sdk[plot]``) when ``--plot`` asks.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ._output import emit, json_mode

__all__ = ["add_json_flag", "register", "warn_file_texts"]


def add_json_flag(parser: argparse.ArgumentParser) -> None:
    """``--json`` on a subcommand too (``distil-sdk validate DIR --json``); SUPPRESS keeps a
    global ``--json`` given before the subcommand."""
    parser.add_argument(
        "--json",
        dest="output",
        action="store_const",
        const="json",
        default=argparse.SUPPRESS,
        help="print the result as JSON on stdout (progress and findings go to stderr)",
    )


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

    evaluate = subparsers.add_parser(
        "evaluate",
        help="score a trained model on a labelled CSV/JSONL/Parquet file",
        description="Predict every row of LABELLED_FILE (columns question/answer or "
        "text/label) and print accuracy, per-label precision/recall/F1 and the confusion "
        "matrix; --plot also draws the matrix into an image.",
    )
    evaluate.add_argument("model_dir", type=Path, metavar="MODEL", help="model folder or .tar")
    evaluate.add_argument("data", type=Path, metavar="LABELLED_FILE")
    evaluate.add_argument(
        "--plot",
        type=Path,
        default=None,
        metavar="FILE.png",
        help="draw the confusion matrix into this image (needs distil-sdk[plot])",
    )
    evaluate.add_argument(
        "--normalize", action="store_true", help="plot shares of each gold label, not counts"
    )
    add_json_flag(evaluate)
    evaluate.set_defaults(func=_evaluate)


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
        f"{len(labels)} classes"
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


def _evaluate(args: argparse.Namespace) -> int:
    from ..inference import LocalClassifier
    from ..inference._report import _require

    if args.plot is not None:  # before the model loads: fail in a second, not after a minute
        _require("matplotlib", "distil-sdk[plot]", "--plot")
        if args.plot.suffix.lower() not in (".png", ".svg", ".pdf", ".jpg", ".jpeg"):
            from ._output import UsageError

            raise UsageError(f"--plot {args.plot}: use a .png, .svg, .pdf or .jpg file name")
    if not args.data.is_file():
        from ._output import UsageError

        raise UsageError(f"{args.data}: no such file (a labelled CSV, JSONL or Parquet file)")
    classifier = LocalClassifier.from_pretrained(args.model_dir)
    report = classifier.evaluate(args.data)
    if args.plot is not None:
        from matplotlib.figure import Figure

        args.plot.parent.mkdir(parents=True, exist_ok=True)
        size = max(4.0, 0.6 * len(report.labels) + 2.0)
        report.plot(
            Figure(figsize=(size + 1.0, size)).subplots(), normalize=args.normalize, path=args.plot
        )
        _err(f"confusion matrix drawn into {args.plot}")
    data: dict[str, Any] = {
        "model": str(args.model_dir),
        "data": str(args.data),
        **report.model_dump(mode="json"),
        "plot": None if args.plot is None else str(args.plot),
    }
    emit(args, data, report.to_table())
    return 0


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
                f"its rows run: distil-sdk predict MODEL --input {text} --out predictions.jsonl"
            )
