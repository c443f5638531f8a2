"""Tolerant reading and atomic writing of the task's files.

Reading never lets a ``csv``/``json``/``UnicodeDecodeError`` escape: every problem becomes a
`Finding` with the file, the row a user sees (CSV: header is row 1, first data row is
row 2, as in a spreadsheet; JSONL: the line number) and the column, and the readable rows are
kept so that one run reports everything. A table is *fatal* only when nothing sensible can be
built from it (empty file, a required column missing from the header).
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from .._fs import write_text_atomic
from ._chat import is_chat_row, messages_to_record
from ._limits import LIMITS, LimitError, file_too_large, find_surrogate, load_json
from ._words import plural, with_article
from .validation import Finding

TableFormat = Literal["csv", "jsonl"]

_UTF8_BOM = b"\xef\xbb\xbf"
_UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")
# Bytes that are not UTF-8 decode (with surrogateescape) to lone surrogates U+DC80..U+DCFF,
# which valid UTF-8 can never produce: they mark exactly the undecodable spots.
_ESCAPED_BYTE = re.compile("[\udc80-\udcff]")

# Other names for the platform's columns: the SDK's own ``evaluate`` and ``predict`` read
# ``text`` / ``label``, so a file with them needs only a rename, which the finding names.
RENAMES: dict[str, tuple[str, ...]] = {
    "question": ("text",),
    "answer": ("label",),
    "context": ("text",),
}
_ROLES = {"question": "the input text", "answer": "the label", "context": "an unlabelled text"}


def _rename_hint(old: str, new: str, where: str = "") -> str:
    role = f" (the platform's name for {_ROLES[new]})" if new in _ROLES else ""
    return f"rename {old!r} to {new!r}{where}{role}"


def _error(
    code: str, file: str | None, message: str, row: int | None = None, column: str | None = None
) -> Finding:
    return Finding(severity="error", code=code, file=file, row=row, column=column, message=message)


def _warning(
    code: str, file: str | None, message: str, row: int | None = None, column: str | None = None
) -> Finding:
    return Finding(
        severity="warning", code=code, file=file, row=row, column=column, message=message
    )


def table_format(path: str | Path) -> TableFormat:
    """``"csv"`` or ``"jsonl"`` from a file name; anything else is a ``ValueError``."""
    suffix = Path(path).suffix.lower()
    if suffix == ".csv":
        return "csv"
    if suffix in (".jsonl", ".ndjson"):
        return "jsonl"
    raise ValueError(
        f"{Path(path).name}: unsupported file type {suffix or '(none)'!r}; use .csv or .jsonl"
    )


def decode(data: bytes | str, file: str) -> tuple[str, list[Finding]]:
    """Text from bytes: a UTF-8 BOM is stripped with a warning; undecodable bytes are kept as
    lone surrogates (see ``_ESCAPED_BYTE``) for the caller to locate; UTF-16 is an error."""
    findings: list[Finding] = []
    if isinstance(data, str):
        if data.startswith("\ufeff"):
            findings.append(_bom_warning(file))
            data = data[1:]
        return data, findings
    if data.startswith(_UTF8_BOM):
        findings.append(_bom_warning(file))
        data = data[len(_UTF8_BOM) :]
    elif data[:2] in _UTF16_BOMS:
        findings.append(_error("not_utf8", file, "the file is UTF-16 encoded; save it as UTF-8."))
        return data.decode("utf-16", errors="replace"), findings
    return data.decode("utf-8", errors="surrogateescape"), findings


def _bom_warning(file: str) -> Finding:
    return _warning(
        "bom",
        file,
        "the file starts with a byte-order mark (BOM); it was ignored, "
        "but save the file as UTF-8 without BOM to be safe.",
        row=1,
    )


def read_text(data: bytes | str, file: str) -> tuple[str, list[Finding]]:
    """Decode a whole-document file (JSON/YAML); undecodable bytes give one error with the line."""
    text, findings = decode(data, file)
    bad = _ESCAPED_BYTE.search(text)
    if bad:
        line = text.count("\n", 0, bad.start()) + 1
        findings.append(
            _error(
                "not_utf8",
                file,
                f"bytes that are not UTF-8 at line {line}; save "
                "the file as UTF-8 (e.g. 'Save as... > CSV UTF-8').",
                row=line,
            )
        )
        text = _ESCAPED_BYTE.sub("\ufffd", text)
    return text, findings


@dataclass
class ParsedTable:
    """What reading a table gave: ``records`` as ``(row, {column: text})`` plus findings."""

    file: str | None
    format: TableFormat
    records: list[tuple[int, dict[str, Any]]] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    fatal: bool = False
    chat: bool = False  # rows were chat conversations (the platform's current format)


def _clean_cell(value: str, parsed: ParsedTable, row: int, column: str) -> str:
    if _ESCAPED_BYTE.search(value):
        parsed.findings.append(
            _error(
                "not_utf8",
                parsed.file,
                "contains bytes that are not UTF-8 (shown as \ufffd); save "
                "the file as UTF-8 (e.g. 'Save as... > CSV UTF-8').",
                row=row,
                column=column,
            )
        )
        return _ESCAPED_BYTE.sub("\ufffd", value)
    return value


def parse_table(
    data: bytes | str, *, file: str, format: TableFormat, columns: Sequence[str]
) -> ParsedTable:
    """Read CSV or JSONL content whose rows need ``columns``; never raises on bad content."""
    parsed = ParsedTable(file=file, format=format)
    if len(data) > LIMITS.max_data_file_bytes:
        limit = file_too_large(len(data), LIMITS.max_data_file_bytes, "DISTIL_MAX_DATA_FILE_BYTES")
        parsed.findings.append(_error(limit.code, file, limit.message))
        parsed.fatal = True
        return parsed
    text, parsed.findings = decode(data, file)
    if not text.strip():
        parsed.findings.append(
            _error(
                "empty_file",
                file,
                "the file is empty; add "
                f"{'a header row with ' if format == 'csv' else ''}"
                f"{', '.join(columns)} and one row per example.",
            )
        )
        parsed.fatal = True
        return parsed
    if format == "csv":
        _parse_csv(text, parsed, columns)
    else:
        _parse_jsonl(text, parsed, columns)
    return parsed


def _parse_csv(text: str, parsed: ParsedTable, columns: Sequence[str]) -> None:
    file = parsed.file
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    header: list[str] | None = None
    index: dict[str, int] = {}
    row = 0
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            row += 1
            parsed.findings.append(
                _error("csv_syntax", file, _csv_error_message(exc, reader.line_num), row=row)
            )
            continue
        row += 1
        if header is None:
            header = [_clean_cell(c, parsed, row, f"#{i + 1}") for i, c in enumerate(cells)]
            index = _check_header(header, parsed, columns)
            if parsed.fatal:
                return
            continue
        if not cells:
            continue  # blank line
        if len(cells) != len(header):
            parsed.findings.append(
                _error(
                    "ragged_row",
                    file,
                    f"has {len(cells)} fields but the header has {len(header)}; "
                    "quote fields that contain commas, or add the missing fields. The row was "
                    "skipped.",
                    row=row,
                )
            )
            continue
        parsed.records.append(
            (row, {c: _clean_cell(cells[index[c]], parsed, row, c) for c in columns})
        )


def _csv_error_message(exc: csv.Error, line: int) -> str:
    if "field larger than field limit" in str(exc):
        return (
            f"a field near line {line} is longer than {csv.field_size_limit()} characters - "
            "usually a quote that is never closed; close it or shorten the text. The row "
            "was skipped."
        )
    return (
        f"malformed CSV near line {line}: {exc}; a field that holds a comma, quote or line "
        'break must be wrapped in double quotes, with quotes inside doubled (""). The row '
        "was skipped."
    )


def _check_header(header: list[str], parsed: ParsedTable, columns: Sequence[str]) -> dict[str, int]:
    file = parsed.file
    index: dict[str, int] = {}
    for i, name in enumerate(header):
        if name in columns and name in index:
            parsed.findings.append(
                _error(
                    "duplicate_column",
                    file,
                    f"the column {name!r} appears twice in the header; keep one.",
                    row=1,
                    column=name,
                )
            )
            parsed.fatal = True
        index.setdefault(name, i)
    renamed: set[str] = set()  # columns a finding asks to rename: no "remove it" for them
    for name in columns:
        if name not in index:
            old = _renamable(header, name, columns)
            if old is not None:
                renamed.add(old)
                hint = _rename_hint(old, name)
            else:
                hint = f"add {with_article(repr(name))} column"
            parsed.findings.append(
                _error(
                    "missing_column",
                    file,
                    f"the header has no {name!r} column (found: "
                    f"{', '.join(map(repr, header))}); {hint}.",
                    row=1,
                    column=name,
                )
            )
            parsed.fatal = True
    for name in header:
        if name not in columns and name not in renamed:
            label = repr(name) if name.strip() else "an unnamed column (trailing comma?)"
            parsed.findings.append(
                _warning(
                    "extra_column",
                    file,
                    f"{label} is not used and was ignored; remove it.",
                    row=1,
                    column=name or None,
                )
            )
    return index


def _renamable(header: Sequence[str], name: str, columns: Sequence[str]) -> str | None:
    """The header's column that is ``name`` under another spelling (``Question``) or another
    tool's name for it (``text`` for ``question``); ``None`` when there is none."""
    free = [h for h in header if h not in columns]
    near = [h for h in free if h.strip().lower() == name]
    alias = [h for h in free if h.strip().lower() in RENAMES.get(name, ())]
    found = near or alias
    return found[0] if found else None


def _object_shape(columns: Sequence[str]) -> str:
    return "{" + ", ".join(f'"{c}": "..."' for c in columns) + "}"


def _parse_jsonl(text: str, parsed: ParsedTable, columns: Sequence[str]) -> None:
    extra: dict[str, int] = {}  # unknown key -> first line, reported once per key
    renames: dict[tuple[str, str], list[int]] = {}  # (missing key, key to rename) -> lines
    lines_with_content = 0
    for row, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        lines_with_content += 1
        obj = _json_object(line, row, parsed, columns)
        if obj is None:
            continue
        if is_chat_row(obj, columns):
            _add_chat_row(obj, row, parsed, columns)
            continue
        wrong = [
            (name, old)
            for name in columns
            if name not in obj
            for old in RENAMES.get(name, ())
            if old in obj and old not in columns
        ]
        for pair in wrong:
            renames.setdefault(pair, []).append(row)
        for key in obj:
            if key not in columns:
                extra.setdefault(key, row)
        if wrong:
            continue  # one finding per rename for the whole file, below
        values = _record_values(obj, parsed, row, columns, clean=True)
        if values is not None:
            parsed.records.append((row, values))
    for (name, old), rows in renames.items():
        parsed.findings.append(_rename_finding(parsed.file, name, old, rows))
    renamed = {old for _, old in renames}
    for key, row in extra.items():
        if key not in renamed:
            parsed.findings.append(
                _warning(
                    "extra_column",
                    parsed.file,
                    f"the key {key!r} is not used and was ignored; remove it.",
                    row=row,
                    column=key,
                )
            )
    if lines_with_content and not parsed.records:
        parsed.fatal = True


def _json_object(
    line: str, row: int, parsed: ParsedTable, columns: Sequence[str]
) -> dict[str, Any] | None:
    """The JSON object on one line, or ``None`` with a finding saying why it is not one."""
    file = parsed.file
    if _ESCAPED_BYTE.search(line):
        # Bad bytes first: left in, they would read as lone surrogates below.
        parsed.findings.append(
            _error(
                "not_utf8",
                file,
                "contains bytes that are not UTF-8 (shown as \ufffd); save the file as UTF-8.",
                row=row,
            )
        )
        line = _ESCAPED_BYTE.sub("\ufffd", line)
    try:
        obj = load_json(line, line=row)
    except LimitError as exc:
        parsed.findings.append(
            _error(exc.code, file, f"{exc.message} The line was skipped.", row=row)
        )
        return None
    except json.JSONDecodeError as exc:
        parsed.findings.append(
            _error(
                "invalid_json",
                file,
                f"not valid JSON ({exc.msg} at character {exc.colno}); "
                "each line must be one complete JSON object. The line was skipped.",
                row=row,
            )
        )
        return None
    if not isinstance(obj, dict):
        parsed.findings.append(
            _error(
                "invalid_json",
                file,
                f"is a JSON {type(obj).__name__}, not an object; write "
                f"{_object_shape(columns)} on each line.",
                row=row,
            )
        )
        return None
    return obj


def _add_chat_row(
    obj: dict[str, Any], row: int, parsed: ParsedTable, columns: Sequence[str]
) -> None:
    flat, problems = messages_to_record(obj, file=parsed.file, row=row)
    parsed.findings += problems
    if flat is None:
        return
    parsed.chat = True
    # A chat row is kept whole (its other keys, e.g. ``context``, are the task's).
    values = _record_values(flat, parsed, row, columns, clean=True)
    if values is not None:
        parsed.records.append((row, {**values, "conversation": flat["conversation"]}))


def _rename_finding(file: str | None, name: str, old: str, rows: list[int]) -> Finding:
    """One error for every line that has ``old`` where the platform reads ``name``."""
    if len(rows) == 1:
        where, skipped = f"this line has {old!r} instead", "The line was skipped."
    else:
        where = f"{plural(len(rows), 'line')} (this is the first) have {old!r} instead"
        skipped = "The lines were skipped."
    return _error(
        "missing_field",
        file,
        f"the key {name!r} is missing: {where}; "
        f"{_rename_hint(old, name, ' on every line')}. {skipped}",
        row=rows[0],
        column=name,
    )


def _record_values(
    obj: Mapping[str, Any],
    parsed: ParsedTable,
    row: int,
    columns: Sequence[str],
    *,
    clean: bool = False,
) -> dict[str, str] | None:
    """The row's text per column, or ``None`` (with findings) when the row is unusable.

    ``clean``: the values come from a JSONL line already cleared of bad bytes and lone
    surrogates, so the per-value scans are skipped (they cost a third of reading a file).
    """
    values: dict[str, str] = {}
    for column in columns:
        if column not in obj:
            parsed.findings.append(
                _error(
                    "missing_field",
                    parsed.file,
                    f"the key {column!r} is missing; add it. The row was skipped.",
                    row=row,
                    column=column,
                )
            )
            return None
        value = obj[column]
        if value is None or (isinstance(value, float) and value != value):  # null / NaN
            value = ""
        elif isinstance(value, bool | int | float):
            parsed.findings.append(
                _warning(
                    "not_a_string",
                    parsed.file,
                    f"is a number ({value!r}), read as text {str(value)!r}; write it as a string.",
                    row=row,
                    column=column,
                )
            )
            value = str(value)
        elif not isinstance(value, str):
            parsed.findings.append(
                _error(
                    "not_a_string",
                    parsed.file,
                    f"is {with_article(type(value).__name__)}, expected text; "
                    "write a string. The row was skipped.",
                    row=row,
                    column=column,
                )
            )
            return None
        if clean:
            values[column] = value
            continue
        if find_surrogate(value) is not None:
            parsed.findings.append(
                _error(
                    "lone_surrogate",
                    parsed.file,
                    "holds a lone surrogate character (e.g. \\ud800), which cannot be "
                    "encoded as UTF-8 or uploaded; remove it. The row was skipped.",
                    row=row,
                    column=column,
                )
            )
            return None
        values[column] = _clean_cell(value, parsed, row, column)
    return values


def parse_records(
    records: Iterable[Mapping[str, Any]], *, file: str | None, columns: Sequence[str]
) -> ParsedTable:
    """In-memory records checked like JSONL lines (row = 1-based position)."""
    parsed = ParsedTable(file=file, format="jsonl")
    for row, obj in enumerate(records, start=1):
        if not isinstance(obj, Mapping):
            parsed.findings.append(
                _error(
                    "not_a_record",
                    file,
                    f"is {with_article(type(obj).__name__)}, not a mapping; pass "
                    f"{_object_shape(columns)}. The record was skipped.",
                    row=row,
                )
            )
            continue
        values = _record_values(obj, parsed, row, columns)
        if values is not None:
            parsed.records.append((row, values))
    return parsed


def dump_table(
    rows: Iterable[Sequence[str]], *, columns: Sequence[str], format: TableFormat
) -> str:
    """CSV (header + rows, quoted where needed) or JSONL (one object per line) text."""
    if format == "jsonl":
        return "".join(
            json.dumps(dict(zip(columns, r, strict=True)), ensure_ascii=False) + "\n" for r in rows
        )
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(columns)
    writer.writerows(rows)
    return buffer.getvalue()


def atomic_write_text(path: str | Path, text: str) -> Path:
    """Write UTF-8 ``text`` to ``path`` through a temporary file and ``os.replace``, so a
    reader never sees a half-written file and a failure leaves the old file intact."""
    return write_text_atomic(path, text)  # the one atomic publish: keeps a replaced file's mode
