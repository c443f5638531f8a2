"""Validation findings and the report that collects them.

A `Finding` is one problem in a task bundle: how bad it is (``"error"`` blocks an upload,
``"warning"`` does not), a stable ``code``, where it is (``file``, ``row``, ``column``) and a
message that says what to do. `validate_bundle` runs every check; reading a file already
turns unreadable content into findings (see `distil_sdk.types._io`).

Row numbers are the row a user sees when opening the file: in a CSV the header is row 1 and the
first data row is row 2 (as in a spreadsheet); in a JSONL file the row is the line number; for a
dataset built in memory (``from_lists``...) it is the 1-based position in the list.

Example:
    >>> report = ValidationReport(findings=[Finding(severity="error", code="unknown_label",
    ...     file="train.csv", row=3, column="answer", message="Use one of: a, b.")])
    >>> report.ok
    False
    >>> report.summary()
    '1 error, 0 warnings: train.csv row 3, column answer: Use one of: a, b. [unknown_label]'
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, ConfigDict, Field

from .._errors import DataValidationError
from ._words import plural

if TYPE_CHECKING:
    from ._bundle import TaskBundle

__all__ = ["Finding", "Severity", "ValidationReport", "validate_bundle"]

Severity = Literal["error", "warning"]


class Finding(BaseModel):
    """One problem found in a task bundle.

    Attributes:
        severity: ``"error"`` (the platform would reject the upload) or ``"warning"``.
        code: stable identifier, e.g. ``"unknown_label"`` (all codes: docs/task-format.md).
        file: the file name (``"train.csv"``), or the split name for in-memory data.
        row: the row as a user sees it (CSV: header is row 1; JSONL: line number), or ``None``.
        column: the column, JSON key or config key (``"tuning.learning_rate"``), or ``None``.
        message: what is wrong and what to do about it.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    severity: Severity
    code: str
    file: str | None = None
    row: int | None = None
    column: str | None = None
    message: str

    def location(self) -> str:
        """Where the problem is, e.g. ``"train.csv row 3, column answer"``."""
        parts = []
        if self.file:
            parts.append(self.file)
        if self.row is not None:
            parts.append(f"row {self.row}")
        where = " ".join(parts)
        if self.column:
            where = f"{where}, column {self.column}" if where else f"column {self.column}"
        return where

    def __str__(self) -> str:
        where = self.location()
        return (
            f"{where}: {self.message} [{self.code}]" if where else f"{self.message} [{self.code}]"
        )


class ValidationReport(BaseModel):
    """All findings for a task bundle; errors block an upload, warnings do not.

    Example:
        >>> report = bundle.validate()  # doctest: +SKIP
        >>> print(report.to_table())  # doctest: +SKIP
        >>> report.raise_for_errors()  # doctest: +SKIP
    """

    model_config = ConfigDict(extra="forbid")

    findings: list[Finding] = Field(default_factory=list)

    @property
    def errors(self) -> list[Finding]:
        """The findings that block an upload."""
        return [f for f in self.findings if f.severity == "error"]

    @property
    def warnings(self) -> list[Finding]:
        """The findings worth a look that do not block an upload."""
        return [f for f in self.findings if f.severity == "warning"]

    @property
    def ok(self) -> bool:
        """``True`` when there is no error (warnings allowed)."""
        return not self.errors

    def summary(self, limit: int = 3) -> str:
        """One line: the counts, then the first ``limit`` findings (errors first)."""
        head = f"{plural(len(self.errors), 'error')}, {plural(len(self.warnings), 'warning')}"
        shown = (self.errors + self.warnings)[:limit]
        if not shown:
            return f"{head}."
        more = len(self.findings) - len(shown)
        tail = f" (+{more} more)" if more > 0 else ""
        return f"{head}: " + "; ".join(str(f) for f in shown) + tail

    def to_table(self) -> str:
        """A plain-text table (one finding per line, errors first) for a terminal."""
        if not self.findings:
            return "No problems found."
        header = ("SEVERITY", "CODE", "FILE", "ROW", "COLUMN", "MESSAGE")
        rows = [
            (
                f.severity,
                f.code,
                f.file or "",
                "" if f.row is None else str(f.row),
                f.column or "",
                f.message,
            )
            for f in self.errors + self.warnings
        ]
        # The message is last and not padded so long messages do not widen every line.
        widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header) - 1)]
        lines = [
            "  ".join(cell.ljust(w) for cell, w in zip(r[:-1], widths, strict=True)) + "  " + r[-1]
            for r in [header, *rows]
        ]
        lines.append(self.summary(limit=0))
        return "\n".join(line.rstrip() for line in lines)

    def raise_for_errors(self) -> None:
        """Raise `DataValidationError` (carrying this report) on any error."""
        if not self.ok:
            raise DataValidationError(self)


def validate_bundle(bundle: TaskBundle) -> ValidationReport:
    """Every check on a bundle: what reading found plus the content checks.

    Same as `TaskBundle.validate`.
    """
    from ._checks import check_bundle

    return ValidationReport(findings=check_bundle(bundle))
