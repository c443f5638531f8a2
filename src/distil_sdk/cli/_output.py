"""Rendering for the CLI: JSON for scripts, aligned plain-text tables for people."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel

from .._errors import DataValidationError, DistilError
from ..types.validation import ValidationReport

__all__ = [
    "FileInvalidError",
    "UsageError",
    "add_json_flag",
    "emit",
    "iso_time",
    "json_mode",
    "port",
    "sample_rate",
    "table",
    "to_jsonable",
]


class UsageError(DistilError):
    """A problem with how the command was called (exit code 2)."""


class FileInvalidError(DataValidationError):
    """A file the command was given (not a task folder) cannot be used; ``subject`` names it
    in the last line (``test.csv is invalid (...)``) under the findings table. Exit code 2."""

    def __init__(self, report: ValidationReport, subject: str) -> None:
        super().__init__(report)
        self.subject = subject


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


# argparse ``type=`` checks: a bad value is a usage error before anything runs or is sent.


def port(value: str) -> int:
    """A TCP port number, 0-65535 (0: the system picks a free port, as for any server)."""
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {value!r}") from None
    if not 0 <= number <= 65535:
        raise argparse.ArgumentTypeError(f"a port is 0-65535 (0 picks a free one), got {number}")
    return number


def iso_time(value: str) -> str:
    """An ISO 8601 date or time (``2025-06-01``, ``2025-06-01T12:00:00Z``), kept as written."""
    import datetime as dt

    try:  # Python 3.10's fromisoformat does not read a trailing Z
        dt.datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"not an ISO 8601 time: {value!r} (e.g. 2025-06-01 or 2025-06-01T12:00:00Z)"
        ) from None
    return value


def sample_rate(value: str) -> float:
    """A share between 0 and 1."""
    try:
        rate = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {value!r}") from None
    if not 0.0 <= rate <= 1.0:
        raise argparse.ArgumentTypeError(f"a rate is between 0 and 1, got {value}")
    return rate


def to_jsonable(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json", by_alias=True, exclude_none=True)
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {k: to_jsonable(v) for k, v in value.items()}
    return value


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """Columns padded to their widest cell; the last column is never padded."""
    cells = [[str(h) for h in headers]] + [
        ["" if c is None else str(c) for c in row] for row in rows
    ]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    return "\n".join(
        "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in cells
    )


def emit(args: argparse.Namespace, data: Any, text: str) -> None:
    """Print ``data`` as JSON when ``--output json``, else the human ``text``."""
    if getattr(args, "output", "table") == "json":
        sys.stdout.write(json.dumps(to_jsonable(data), indent=2) + "\n")
    else:
        sys.stdout.write(text.rstrip("\n") + "\n")


def json_mode(args: argparse.Namespace) -> bool:
    """Whether the result goes to stdout as JSON (``--json``, or its alias ``--output json``);
    progress, warnings and findings then go to stderr only."""
    return getattr(args, "output", "table") == "json"
