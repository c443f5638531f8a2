"""``distil-sdk suggest MODEL FILE -k 20 -o to-label.csv``: the texts worth labelling next.

FILE holds unlabelled texts: a CSV or JSONL file (column ``context``, ``text`` or ``question``,
or the one ``--text-column`` names), or a ``.txt`` file with one text per line. The output is a
CSV ready to label (`distil_sdk.suggest_examples` explains the choice): the text, an empty
``answer`` column, then the rank, score, the student's (and teacher's) label and the reasons.
"""

from __future__ import annotations

import argparse
from dataclasses import asdict
from pathlib import Path
from typing import Any

from ..types._io import decode, parse_table, table_format
from ..types.validation import ValidationReport
from ._evaluate import file_header
from ._output import FileInvalidError, UsageError, add_json_flag, emit, table

__all__ = ["read_texts", "register"]

#: The columns read when none is named: the task files' names (unstructured, train/test), then
#: the SDK's own.
TEXT_COLUMNS = ("context", "question", "text")


def register(subparsers: Any) -> None:
    """Add ``suggest`` to the ``distil-sdk`` parser."""
    suggest = subparsers.add_parser(
        "suggest",
        help="pick the unlabelled texts worth labelling next (a CSV to fill in)",
        description="Score every text of FILE by the model's uncertainty, its disagreement "
        "with the teacher saved beside it and diversity, and write the best K to a CSV with an "
        "empty answer column. Fill it in, add the rows to the task's train.csv and train again.",
    )
    suggest.add_argument("model_dir", type=Path, metavar="MODEL", help="model folder or .tar")
    suggest.add_argument(
        "data", type=Path, metavar="FILE", help="unlabelled texts: CSV, JSONL or .txt"
    )
    suggest.add_argument("-k", type=int, default=20, help="how many texts (default 20)")
    suggest.add_argument(
        "-o",
        "--out",
        type=Path,
        default=Path("to-label.csv"),
        metavar="FILE.csv",
        help="where to write them (default to-label.csv)",
    )
    suggest.add_argument(
        "--text-column",
        default=None,
        metavar="NAME",
        help="the column holding the texts (default: context, question, else text)",
    )
    suggest.add_argument(
        "--exclude",
        type=Path,
        action="append",
        default=[],
        metavar="FILE",
        help="texts already labelled, never suggested (repeatable), e.g. the task's train.csv "
        "and test.csv",
    )
    suggest.add_argument(
        "--no-teacher",
        dest="teacher",
        action="store_false",
        help="ignore the teacher saved in the model folder (uncertainty and diversity only)",
    )
    suggest.add_argument(
        "--encoder",
        default=None,
        metavar="NAME",
        help="sentence encoder for diversity: a folder or hub id (default: the teacher's, "
        "else the bundled all-MiniLM-L6-v2)",
    )
    suggest.add_argument("--seed", type=int, default=0, help="seed of the clustering (default 0)")
    suggest.add_argument("--force", action="store_true", help="replace an existing output file")
    add_json_flag(suggest)
    suggest.set_defaults(func=_suggest)


def _suggest(args: argparse.Namespace) -> int:
    from ..inference._suggest import suggest_examples
    from ._batch import require_model

    if args.k < 1:
        raise UsageError(f"-k {args.k}: ask for at least 1 text")
    if args.out.suffix.lower() != ".csv":
        raise UsageError(f"-o {args.out}: the output is a CSV file; name it *.csv")
    if args.out.exists() and not args.force:
        raise UsageError(
            f"{args.out} already exists (it may hold labels you filled in); pass --force to "
            "replace it or choose -o FILE.csv"
        )
    texts = read_texts(args.data, args.text_column)
    exclude = [t for path in args.exclude for t in read_texts(path, None)]
    require_model(args.model_dir)
    picks = suggest_examples(
        args.model_dir,
        texts,
        args.k,
        teacher=None if args.teacher else False,
        exclude=exclude,
        encoder=args.encoder,
        seed=args.seed,
    )
    picks.write_csv(args.out)
    rows = [
        [e.rank, f"{e.score:.3f}", e.predicted, e.teacher_label or "-", _short(e.text)]
        for e in picks
    ]
    skipped = ", ".join(f"{n} {why}" for why, n in picks.skipped.items())
    text = (
        table(["rank", "score", "student", "teacher", "text"], rows)
        + f"\n\n{len(picks)} of {picks.candidates} candidate texts"
        + (f" ({skipped} left out)" if skipped else "")
        + f" written to {args.out}; signals: {', '.join(picks.signals)}"
        + "\nfill in its answer column, add those rows to the task's train.csv, train again"
    )
    data = {
        "model": str(args.model_dir),
        "data": str(args.data),
        "out": str(args.out),
        "candidates": picks.candidates,
        "skipped": picks.skipped,
        "signals": list(picks.signals),
        "examples": [asdict(e) for e in picks],
    }
    emit(args, data, text)
    return 0


def _short(text: str, width: int = 60) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[: width - 3] + "..."


def read_texts(path: Path, text_column: str | None) -> list[str]:
    """The texts of an unlabelled (or labelled) file: CSV/JSONL column, or ``.txt`` lines.

    Raises:
        UsageError: no such file, a format it cannot read, or no such column.
        FileInvalidError: rows that cannot be read (the findings name file, row and column).
    """
    if not path.is_file():
        raise UsageError(f"{path}: no such file (a CSV, JSONL or .txt file of texts)")
    if path.suffix.lower() == ".txt":
        text, _ = decode(path.read_bytes(), path.name)
        return [line for line in text.splitlines() if line.strip()]
    try:
        fmt = table_format(path)
    except ValueError as exc:
        raise UsageError(f"{exc}, or .txt (one text per line)") from None
    data = path.read_bytes()
    column = _column(path.name, file_header(data, path.name, fmt), text_column)
    parsed = parse_table(data, file=path.name, format=fmt, columns=(column,))
    # Other columns (a label, an id) are the file's business here, not a problem.
    report = ValidationReport(findings=[f for f in parsed.findings if f.code != "extra_column"])
    if not report.ok:
        raise FileInvalidError(report, subject=path.name)
    return [str(values[column]) for _, values in parsed.records]


def _column(file: str, header: list[str], named: str | None) -> str:
    if not header:  # nothing readable: the reader says why (empty file, bad syntax...)
        return named or TEXT_COLUMNS[0]
    found = named or next((c for c in TEXT_COLUMNS if c in header), None)
    if found is None or found not in header:
        wanted = repr(named) if named else " or ".join(map(repr, TEXT_COLUMNS))
        raise UsageError(
            f"{file} has no column {wanted} (its columns: {', '.join(map(repr, header))}); "
            "name the column with --text-column NAME"
        )
    return found
