"""``distil-sdk evaluate MODEL LABELLED_FILE``: score a model on a labelled file.

The file is read here, not by ``LocalClassifier.evaluate``, so that every message is about the
file the user gave (``test.csv has no column ...``), the columns can be named
(``--text-column`` / ``--label-column``), and rows that cannot be read stop the run with a
findings table instead of silently leaving the scores.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import sys
from pathlib import Path
from typing import Any

from ..types._io import decode, parse_table, table_format
from ..types.validation import Finding, ValidationReport
from ._output import FileInvalidError, UsageError, add_json_flag, emit

__all__ = ["file_header", "read_labelled", "register"]

# What ``evaluate`` reads when no column is named: the platform's names first, then the
# SDK's own (``LocalClassifier.evaluate`` takes both).
TEXT_COLUMNS = ("question", "text")
LABEL_COLUMNS = ("answer", "label")


def register(subparsers: Any) -> None:
    """Add ``evaluate`` to the ``distil-sdk`` parser."""
    evaluate = subparsers.add_parser(
        "evaluate",
        help="score a trained model on a labelled CSV/JSONL/Parquet file",
        description="Predict every row of LABELLED_FILE and print accuracy, per-label "
        "precision/recall/F1, the confusion matrix, the calibration error (ECE) of the "
        "probabilities and the accuracy against coverage; --plot also draws the matrix and "
        "the reliability diagram into images. The texts are in the column question or text, "
        "the labels in answer or label, unless --text-column / --label-column name others.",
    )
    evaluate.add_argument("model_dir", type=Path, metavar="MODEL", help="model folder or .tar")
    evaluate.add_argument("data", type=Path, metavar="LABELLED_FILE")
    evaluate.add_argument(
        "--text-column",
        default=None,
        metavar="NAME",
        help="the column holding the texts (default: question, else text)",
    )
    evaluate.add_argument(
        "--label-column",
        default=None,
        metavar="NAME",
        help="the column holding the gold labels (default: answer, else label)",
    )
    evaluate.add_argument(
        "--plot",
        type=Path,
        default=None,
        metavar="FILE.png",
        help="draw the confusion matrix into this image, and the reliability diagram into "
        "FILE-reliability.png beside it (needs distil-sdk[plot])",
    )
    evaluate.add_argument(
        "--normalize", action="store_true", help="plot shares of each gold label, not counts"
    )
    evaluate.add_argument(
        "--target-precision",
        type=float,
        default=None,
        metavar="P",
        help="also find the lowest --min-confidence for predict at which the answered rows "
        "reach precision P (e.g. 0.95), and the share of rows it answers",
    )
    evaluate.add_argument(
        "--no-calibration",
        action="store_true",
        help="score the model's raw probabilities, not the ones its calibration.json calibrates",
    )
    add_json_flag(evaluate)
    evaluate.set_defaults(func=_evaluate)


def _err(text: str) -> None:
    sys.stderr.write(text.rstrip("\n") + "\n")
    sys.stderr.flush()


def _evaluate(args: argparse.Namespace) -> int:
    from ..inference import LocalClassifier
    from ._batch import require_model

    _check_evaluate_options(args)  # before the model loads: fail in a second, not a minute
    texts, gold, columns = read_labelled(args.data, args.text_column, args.label_column)
    require_model(args.model_dir)
    classifier = LocalClassifier.from_pretrained(args.model_dir, calibrate=not args.no_calibration)
    report = classifier.evaluate((texts, gold), target_precision=args.target_precision)
    plots = _draw(args, report) if args.plot is not None else None
    data: dict[str, Any] = {
        "model": str(args.model_dir),
        "data": str(args.data),
        "text_column": columns[0],
        "label_column": columns[1],
        **report.model_dump(mode="json"),
        "plot": None if plots is None else str(plots[0]),
        "reliability_plot": None if plots is None else str(plots[1]),
    }
    emit(args, data, report.to_table())
    return 0


def _check_evaluate_options(args: argparse.Namespace) -> None:
    from ..inference._report import _require

    if args.plot is not None:
        _require("matplotlib", "distil-sdk[plot]", "--plot")
        if args.plot.suffix.lower() not in (".png", ".svg", ".pdf", ".jpg", ".jpeg"):
            raise UsageError(f"--plot {args.plot}: use a .png, .svg, .pdf or .jpg file name")
    target = args.target_precision
    if target is not None and not 0.0 < target <= 1.0:
        raise UsageError(
            f"--target-precision must be a precision in (0, 1] (e.g. 0.95, not 95), got {target:g}"
        )


def _draw(args: argparse.Namespace, report: Any) -> tuple[Path, Path]:
    """The confusion matrix into ``--plot``, the reliability diagram beside it."""
    from matplotlib.figure import Figure

    matrix = args.plot
    reliability = matrix.with_name(f"{matrix.stem}-reliability{matrix.suffix}")
    matrix.parent.mkdir(parents=True, exist_ok=True)
    size = max(4.0, 0.6 * len(report.labels) + 2.0)
    report.plot(
        Figure(figsize=(size + 1.0, size)).subplots(), normalize=args.normalize, path=matrix
    )
    _err(f"confusion matrix drawn into {matrix}")
    report.plot_reliability(Figure(figsize=(5.0, 5.0)).subplots(), path=reliability)
    _err(f"reliability diagram drawn into {reliability}")
    return matrix, reliability


def read_labelled(
    path: Path, text_column: str | None, label_column: str | None
) -> tuple[list[str], list[str], tuple[str, str]]:
    """``(texts, gold labels, (text column, label column))`` from a labelled file.

    Raises:
        UsageError: no such file, a format it cannot read, or a column it does not have.
        FileInvalidError: rows that cannot be used (the findings say which and why).
    """
    if not path.is_file():
        raise UsageError(f"{path}: no such file (a labelled CSV, JSONL or Parquet file)")
    if path.suffix.lower() == ".parquet":
        return _read_parquet(path, text_column, label_column)
    try:
        fmt = table_format(path)
    except ValueError as exc:
        raise UsageError(f"{exc}, or .parquet") from None
    data = path.read_bytes()
    header = file_header(data, path.name, fmt)
    if fmt == "jsonl" and "messages" in header and text_column is label_column is None:
        columns = ("question", "answer")  # chat rows: the reader takes the user/assistant turns
    else:
        columns = _columns(path.name, header, text_column, label_column)
    parsed = parse_table(data, file=path.name, format=fmt, columns=columns)
    # Columns the file has beyond the two read are its own business here, not a problem.
    findings = [f for f in parsed.findings if f.code != "extra_column"]
    rows = [(row, values[columns[0]], values[columns[1]]) for row, values in parsed.records]
    findings += _label_findings(path.name, columns[1], rows)
    _stop_on_errors(path, findings, usable=len(rows))
    return [text for _, text, _ in rows], [label for _, _, label in rows], columns


def file_header(data: bytes, file: str, fmt: str) -> list[str]:
    """The column names: a CSV's header row, or the keys of a JSONL file's first object."""
    text, _ = decode(data, file)
    if fmt == "csv":
        try:
            return next(csv.reader(io.StringIO(text, newline="")), [])
        except csv.Error:
            return []  # the reader below says what is wrong, with the row
    for line in text.splitlines():
        if line.strip():
            try:
                first = json.loads(line)
            except ValueError:
                return []
            return [str(k) for k in first] if isinstance(first, dict) else []
    return []


def _columns(
    file: str, header: list[str], text_column: str | None, label_column: str | None
) -> tuple[str, str]:
    """The text and label columns: the ones named, else the first default the file has."""
    if not header:  # nothing readable: the reader says why (empty file, bad syntax...)
        return text_column or TEXT_COLUMNS[0], label_column or LABEL_COLUMNS[0]
    chosen = []
    for named, defaults, option in (
        (text_column, TEXT_COLUMNS, "--text-column"),
        (label_column, LABEL_COLUMNS, "--label-column"),
    ):
        found = named or next((c for c in defaults if c in header), None)
        if found is None or found not in header:
            wanted = repr(named) if named else " or ".join(map(repr, defaults))
            raise UsageError(
                f"{file} has no column {wanted} (its columns: {', '.join(map(repr, header))}); "
                f"name the column with {option} NAME"
            )
        chosen.append(found)
    if chosen[0] == chosen[1]:
        raise UsageError(f"the texts and the labels are both the column {chosen[0]!r}")
    return chosen[0], chosen[1]


def _label_findings(file: str, column: str, rows: list[tuple[int, str, str]]) -> list[Finding]:
    """An empty gold label cannot be scored: one error per such row."""
    return [
        Finding(
            severity="error",
            code="empty_label",
            file=file,
            row=row,
            column=column,
            message="the label is empty; give the row its label or delete the row.",
        )
        for row, _, label in rows
        if not label.strip()
    ]


def _stop_on_errors(path: Path, findings: list[Finding], *, usable: int) -> None:
    """Errors stop the run (scores over silently skipped rows would mislead); warnings are
    printed and the run goes on."""
    report = ValidationReport(findings=findings)
    if not report.ok:
        raise FileInvalidError(report, subject=path.name)
    if report.warnings:
        _err(report.to_table())
    if usable == 0:
        raise UsageError(f"{path.name} has no rows to evaluate; add labelled rows")


def _read_parquet(
    path: Path, text_column: str | None, label_column: str | None
) -> tuple[list[str], list[str], tuple[str, str]]:
    from .._errors import DistilError
    from ..inference._report import _require

    pd = _require("pandas", "pandas pyarrow", f"reading {path}")
    try:
        frame = pd.read_parquet(path)
    except (OSError, ValueError, ImportError) as exc:
        raise DistilError(f"{path}: cannot read the Parquet file ({exc})") from exc
    columns = _columns(path.name, [str(c) for c in frame.columns], text_column, label_column)
    findings: list[Finding] = []
    rows: list[tuple[int, str, str]] = []
    # Row numbers count from 1, as in the findings of CSV and JSONL files.
    pairs = zip(frame[columns[0]], frame[columns[1]], strict=True)
    for row, (text, label) in enumerate(pairs, start=1):
        if not isinstance(text, str):
            findings.append(
                Finding(
                    severity="error",
                    code="not_a_string",
                    file=path.name,
                    row=row,
                    column=columns[0],
                    message=f"the text is {text!r}, not a string; fill it in or drop the row.",
                )
            )
            continue
        missing = label is None or (isinstance(label, float) and label != label)  # NaN
        rows.append((row, text, "" if missing else str(label)))
    findings += _label_findings(path.name, columns[1], rows)
    _stop_on_errors(path, findings, usable=len(rows))
    return [text for _, text, _ in rows], [label for _, _, label in rows], columns
