"""Rendering for the CLI: JSON for scripts, aligned plain-text tables for people."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel

from .._errors import DistilError

__all__ = ["UsageError", "emit", "json_mode", "table", "to_jsonable"]


class UsageError(DistilError):
    """A problem with how the command was called (exit code 2)."""


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
