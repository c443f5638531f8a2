"""CSV (and TSV) output of batch prediction: a header, then one line per row, in row order.

The columns and their names are those of the JSON Lines and Parquet outputs. A cell holds a
string as it is, a number in Python's shortest round-trip form (``float(cell)`` gives back
exactly the value the JSON Lines output holds), nothing for a null, ``true``/``false`` for a
boolean, a date or a time in ISO 8601, and a list or an object (``top_labels``, ``top_scores``,
a nested input column) as JSON. The csv module quotes what needs quoting: delimiters, quotes
and line breaks in a text.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, TextIO

from ._columns import BatchInputError

__all__ = ["CsvRows", "csv_cell", "json_default"]


def json_default(value: Any) -> str:
    """What ``json.dumps`` cannot write itself (Parquet's dates, times, decimals) as text:
    ISO 8601 for a date or a time, else ``str``."""
    isoformat = getattr(value, "isoformat", None)
    return str(isoformat()) if callable(isoformat) else str(value)


def csv_cell(value: Any) -> str:
    """One value as the text of its CSV cell (see the module docstring)."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):  # before int: a bool is an int
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, (list, tuple, dict)):
        return json.dumps(value, ensure_ascii=False, default=json_default)
    return json_default(value)  # a date, a decimal, ... (Parquet input), as JSON Lines has it


class CsvRows:
    """Rows (dicts) into an open text file as CSV, or TSV when ``path`` ends in ``.tsv``.

    The header is ``columns`` when they are known upfront, else the first rows' keys in the
    order they first appear. A row without a column gets an empty cell; a row with a column
    the header lacks raises `BatchInputError`, since a CSV file has one header.
    """

    def __init__(self, handle: TextIO, path: Path, columns: Sequence[str] | None = None) -> None:
        delimiter = "\t" if path.suffix.lower() == ".tsv" else ","
        # The csv module's own "\r\n" line end (RFC 4180), not "\n": the module quotes a text
        # holding a character of the line end, so a lone "\r" in a text survives only so.
        self._writer = csv.writer(handle, delimiter=delimiter)
        self._path = path
        self.columns: list[str] | None = None
        self._known: set[str] = set()
        self.rows = 0
        if columns is not None:
            self.start(columns)

    def start(self, columns: Iterable[str]) -> None:
        """Write the header, unless one is already written."""
        if self.columns is None:
            self.columns = list(columns)
            self._known = set(self.columns)
            self._writer.writerow(self.columns)

    def write(self, rows: Sequence[Mapping[str, Any]]) -> None:
        """Append ``rows``; the first call without known columns writes the header."""
        if not rows:
            return
        self.start(dict.fromkeys(key for row in rows for key in row))
        columns = self.columns or []
        for row in rows:
            self.rows += 1
            extra = [key for key in row if key not in self._known]
            if extra:
                raise BatchInputError(
                    f"{self._path}: row {self.rows} has {'columns' if extra[1:] else 'a column'} "
                    f"{', '.join(map(repr, extra))} that the rows before it lack; a CSV file "
                    "has one header, so give every row the same fields, or write .jsonl or "
                    ".parquet instead"
                )
            self._writer.writerow([csv_cell(row.get(name)) for name in columns])
