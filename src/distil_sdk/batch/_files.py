"""``predict_file``: a file in, the same rows with predictions out, on this machine or on Ray.

The local engine streams the input in chunks through one ``LocalClassifier`` (CSV and JSON Lines
with the standard library, Parquet with pyarrow); the Ray engine runs `predict_dataset`.
Both write one output file (JSON Lines, CSV or Parquet) through the same writer, into a
temporary sibling renamed into place when complete, so a failed run never leaves a
half-written file under the final name.
"""

from __future__ import annotations

import csv
import gzip
import json
import logging
import os
import tempfile
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from .._errors import DistilError
from .._fs import publish_file
from .._progress import resolve_progress
from ..types._words import plural
from ._bar import row_bar
from ._columns import (
    EMPTY_TEXT_ADVICE,
    BatchInputError,
    as_strings,
    blank_positions,
    check_texts,
    output_names,
    prediction_columns,
)
from ._csv_out import CsvRows, json_default
from ._ray import InputFormat, infer_format, quiet_ray_data, ray_log_level, start_ray

if TYPE_CHECKING:
    import pyarrow as pa

    from ..inference import LocalClassifier

__all__ = ["predict_file"]

logger = logging.getLogger("distil_sdk")

# Rows read, predicted and written at a time by the local engine: LocalClassifier sorts this many
# texts by length at once (its own chunk), and memory stays flat on any file size.
LOCAL_CHUNK = 4096

OutputFormat = Literal["parquet", "json", "csv"]

_OUT_SUFFIXES: dict[str, OutputFormat] = {
    ".parquet": "parquet",
    ".pq": "parquet",
    ".jsonl": "json",
    ".json": "json",
    ".ndjson": "json",
    ".csv": "csv",
    ".tsv": "csv",  # the CSV writer with tabs
}


def _pyarrow() -> Any:
    try:
        import pyarrow as pa
        import pyarrow.parquet  # makes pa.parquet available
    except ImportError as exc:
        raise DistilError(
            "Parquet needs pyarrow: pip install pyarrow (or 'distil-sdk[ray]')"
        ) from exc
    return pa


class _OneFileWriter:
    """JSON Lines, CSV or Parquet into ``path``, via a temporary sibling renamed into place.

    ``columns``: a CSV file's header when known upfront (else its first rows' keys).
    """

    def __init__(self, path: Path, fmt: OutputFormat, columns: Sequence[str] | None = None) -> None:
        self.path, self.fmt, self.rows = path, fmt, 0
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
        os.close(fd)
        self.tmp = Path(tmp)
        # The text formats; newline="" is the csv module's rule (it writes its own line ends).
        self._text = (
            None
            if fmt == "parquet"
            else self.tmp.open("w", encoding="utf-8", newline="" if fmt == "csv" else None)
        )
        self._csv = (
            CsvRows(self._text, path, columns) if self._text is not None and fmt == "csv" else None
        )
        self._parquet: Any = None
        self._schema: Any = None

    def write_rows(self, rows: list[dict[str, Any]]) -> None:
        if self._csv is not None:
            self._csv.write(rows)
        elif self._text is not None:
            # default=: a Parquet input's dates and decimals, which JSON has no type for.
            self._text.writelines(
                json.dumps(row, ensure_ascii=False, default=json_default) + "\n" for row in rows
            )
        elif rows:
            pa = _pyarrow()
            # Later chunks take the first chunk's schema, so one file holds one schema.
            self.write_table(pa.Table.from_pylist(rows, schema=self._schema))
        self.rows += len(rows) if self._text is not None else 0

    def write_table(self, table: pa.Table) -> None:
        if self._text is not None:
            if self._csv is not None:  # the header from the schema: an all-null column too
                self._csv.start(table.column_names)
            self.write_rows(table.to_pylist())
            return
        pa = _pyarrow()
        if self._parquet is None:
            self._schema = table.schema
            self._parquet = pa.parquet.ParquetWriter(str(self.tmp), table.schema)
        self._parquet.write_table(table)
        self.rows += table.num_rows

    def commit(self) -> None:
        if self._text is not None:
            self._text.close()
        elif self._parquet is not None:
            self._parquet.close()
        else:  # no rows at all: still a valid, empty Parquet file
            pa = _pyarrow()
            pa.parquet.write_table(pa.table({}), str(self.tmp))
        publish_file(self.tmp, self.path)  # fsynced; the mode a new file gets, not mkstemp's 0600

    def abort(self) -> None:
        if self._text is not None:
            self._text.close()
        if self._parquet is not None:
            self._parquet.close()
        self.tmp.unlink(missing_ok=True)


def output_format(path: str | os.PathLike[str]) -> OutputFormat | None:
    """``"parquet"``, ``"json"`` (JSON Lines) or ``"csv"`` (also ``.tsv``) from the suffix;
    ``None`` for a folder or a URI, or a suffix no writer writes."""
    name = os.fspath(path)
    if "://" in name:
        return None
    return _OUT_SUFFIXES.get(Path(name).suffix.lower())


def _read_chunks(
    path: Path, fmt: InputFormat, text_column: str, size: int, *, only_text: bool = False
) -> Iterator[list[dict[str, Any]]]:
    """Rows of ``size`` dicts; ``only_text`` may leave out the other columns (Parquet does)."""
    if fmt == "parquet":
        pa = _pyarrow()
        reader = pa.parquet.ParquetFile(str(path))
        if text_column not in reader.schema_arrow.names:
            _no_column(path, text_column, reader.schema_arrow.names)
        columns = [text_column] if only_text else None
        for batch in reader.iter_batches(batch_size=size, columns=columns):
            yield batch.to_pylist()
        return
    with _open_text(path) as handle:
        if fmt == "csv":
            reader_ = csv.DictReader(handle, delimiter=_delimiter(path))
            if text_column not in (reader_.fieldnames or []):
                _no_column(path, text_column, list(reader_.fieldnames or []))
            rows: list[dict[str, Any]] = []
            for row_no, row in enumerate(reader_, 1):
                if None in row:  # DictReader's key for the fields beyond the header's
                    _too_many_fields(path, row_no, len(row[None]), len(reader_.fieldnames or []))
                rows.append(row)
                if len(rows) == size:
                    yield rows
                    rows = []
            if rows:
                yield rows
            return
        rows = []
        for line_no, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except ValueError as exc:
                raise BatchInputError(f"{path}, line {line_no}: not valid JSON ({exc})") from exc
            if not isinstance(row, dict):
                raise BatchInputError(f"{path}, line {line_no}: expected a JSON object")
            rows.append(row)
            if len(rows) == size:
                yield rows
                rows = []
        if rows:
            yield rows


def _open_text(path: Path) -> Any:
    """A CSV or JSON Lines file (plain or ``.gz``) opened for reading text."""
    opener: Any = gzip.open if path.name.lower().endswith(".gz") else open
    return opener(path, "rt", encoding="utf-8", newline="")


def _delimiter(path: Path) -> str:
    return "\t" if path.name.lower().removesuffix(".gz").endswith(".tsv") else ","


def _header(path: Path, fmt: InputFormat) -> list[str]:
    """The columns a file declares upfront (a Parquet schema, a CSV header); JSON Lines: none."""
    if fmt == "parquet":
        return list(_pyarrow().parquet.ParquetFile(str(path)).schema_arrow.names)
    if fmt == "csv":
        with _open_text(path) as handle:
            return next(csv.reader(handle, delimiter=_delimiter(path)), [])
    return []


def _too_many_fields(path: Path, row_no: int, extra: int, columns: int) -> None:
    raise BatchInputError(
        f"{path}, row {row_no}: {plural(extra, 'more field', 'more fields')} than the "
        f"header's {plural(columns, 'column')} (data rows counted from 1, the header not "
        'counted); quote a value that holds the delimiter ("a, b") or fix the row'
    )


def _no_column(path: Path, column: str, names: list[str]) -> None:
    raise BatchInputError(
        f"{path}: no text column {column!r} (columns: {', '.join(names)}); "
        "pass --text-column / text_column= to name it"
    )


def _scan_texts(path: Path, fmt: InputFormat, text_column: str) -> tuple[int, list[str]]:
    """The number of rows and every column (in first-seen order), after checking every text:
    the first null or non-string raises, and so do empty or whitespace-only texts, all of them
    listed - before any prediction."""
    blank: list[int] = []
    total = 0
    seen = dict.fromkeys(_header(path, fmt))
    for rows in _read_chunks(path, fmt, text_column, LOCAL_CHUNK, only_text=True):
        if fmt == "json":  # rows may differ in their keys: a CSV output's header needs them all
            for row in rows:
                seen.update(dict.fromkeys(row))
        texts = as_strings(
            [row.get(text_column) for row in rows],
            text_column,
            lambda i, first=total: f"{path}, row {first + i + 1}",  # type: ignore[misc]
        )
        blank += [total + i + 1 for i in blank_positions(texts)]
        total += len(rows)
    if blank:
        shown = ", ".join(map(str, blank[:10])) + (", ..." if len(blank) > 10 else "")
        raise BatchInputError(
            f"{path}: {len(blank)} row(s) have an empty or whitespace-only text in column "
            f"{text_column!r}: rows {shown} (data rows counted from 1, a header not counted). "
            f"{EMPTY_TEXT_ADVICE}, then run again; nothing was written"
        )
    return total, list(seen)


def _check_clash(path: Path, columns: Sequence[str], added: Sequence[str]) -> None:
    """Refuse an input that already has a column the prediction adds, before it runs."""
    clash = [name for name in added if name in columns]
    if clash:
        raise BatchInputError(
            f"{path}: already has column(s) {', '.join(map(repr, clash))}, which the "
            "prediction adds; pass a prefix (--prefix pred_) to name the new columns apart"
        )


def _predict_local(
    classifier: LocalClassifier,
    path: Path,
    fmt: InputFormat,
    writer: _OneFileWriter,
    *,
    text_column: str,
    chunk: int,
    options: dict[str, Any],
    bar: Any,
) -> int:
    """Predict ``path`` into ``writer``; returns how many texts the model truncated."""
    labels = classifier.labels
    # The bar moves once per slice: eight forward passes keep the length sorting effective
    # while a CPU run still reports every few seconds.
    step = classifier.batch_size * 8
    start = truncated = 0
    for rows in _read_chunks(path, fmt, text_column, chunk):
        texts = check_texts(
            [row.get(text_column) for row in rows],
            text_column,
            lambda i, first=start: f"{path}, row {first + i + 1}",  # type: ignore[misc]
        )
        parts = []
        for at in range(0, len(texts), step):
            probs, cut = classifier._proba_counting(texts[at : at + step])
            parts.append(probs)
            truncated += cut
            if bar is not None:
                bar.update(len(probs))
        columns = prediction_columns(np.concatenate(parts), labels, **options)
        for i, row in enumerate(rows):
            for name, values in columns.items():
                value = values[i]
                row[name] = value.item() if hasattr(value, "item") else value
        writer.write_rows(rows)
        start += len(rows)
    return truncated


def _local_source(
    input_path: str | os.PathLike[str],
    input_format: InputFormat | None,
    out_path: str | os.PathLike[str],
) -> tuple[Path, InputFormat, OutputFormat]:
    """The input file, its format and the output format, checked for the local engine."""
    source = Path(input_path).expanduser()
    if not source.is_file():
        raise BatchInputError(f"{source}: no such file (the local engine reads one file)")
    fmt = input_format or infer_format(str(source))
    if fmt is None:
        raise BatchInputError(
            f"{source}: cannot tell the format from the name; use .parquet, .csv or .jsonl"
        )
    if source.name.lower().endswith((".bz2", ".zst", ".lz4", ".br")):
        raise BatchInputError(
            f"{source}: the local engine reads plain or .gz files; decompress it first, "
            "or use --engine ray"
        )
    out_fmt = output_format(out_path)
    if out_fmt is None:
        raise BatchInputError(
            f"{out_path}: the output must end in .jsonl, .csv or .parquet (folders and URIs "
            "need --engine ray)"
        )
    return source, fmt, out_fmt


def _run_local(
    model: str | os.PathLike[str],
    input_path: str | os.PathLike[str],
    out_path: str | os.PathLike[str],
    *,
    text_column: str,
    input_format: InputFormat | None,
    batch_size: int | None,
    options: dict[str, Any],
    load_options: dict[str, Any] | None,
    progress: bool | None,
) -> int:
    from ..inference import LocalClassifier

    source, fmt, out_fmt = _local_source(input_path, input_format, out_path)
    # Every text is checked before the model loads or the output opens: a bad row found
    # after minutes of prediction would waste them, and the scan counts the rows for the bar.
    total, columns = _scan_texts(source, fmt, text_column)
    classifier = LocalClassifier.from_pretrained(model, **(load_options or {}))
    added = output_names(classifier.labels, **options)
    _check_clash(source, columns, added)
    writer = _OneFileWriter(Path(out_path).expanduser(), out_fmt, [*columns, *added])
    try:
        with row_bar(progress, total, source.name) as bar:
            truncated = _predict_local(
                classifier,
                source,
                fmt,
                writer,
                text_column=text_column,
                chunk=batch_size or LOCAL_CHUNK,
                options=options,
                bar=bar,
            )
        writer.commit()
    except BaseException:
        writer.abort()
        raise
    if truncated:
        warnings.warn(
            f"{source}: {truncated} text(s) exceeded the model's maximum length of "
            f"{classifier._predictor.max_length} tokens and were truncated",
            UserWarning,
            stacklevel=3,
        )
    return writer.rows


def _root_cause(exc: BaseException) -> BaseException | None:
    """Our own error inside a Ray failure (Ray wraps what an actor raised), if there is one."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        # A RayTaskError is also an instance of what it wraps, but its text is a whole remote
        # traceback: go on to the wrapped exception (``.cause``) first.
        cause = getattr(current, "cause", None)
        if isinstance(cause, BaseException):
            current = cause
            continue
        if isinstance(current, DistilError):
            return current
        current = current.__cause__
    return None


def predict_file(
    model: str | os.PathLike[str],
    input_path: str | os.PathLike[str],
    out_path: str | os.PathLike[str],
    *,
    engine: Literal["local", "ray"] = "local",
    text_column: str = "text",
    top_k: int | None = None,
    probabilities: bool = False,
    prefix: str = "",
    input_format: InputFormat | None = None,
    batch_size: int | None = None,
    concurrency: int | None = None,
    num_gpus: float = 0,
    address: str | None = None,
    load_options: dict[str, Any] | None = None,
    progress: bool | None = None,
    ray_log_level: int | str | None = None,
) -> int | None:
    """Predict every row of a Parquet / CSV / JSON Lines file; write them with predictions.

    ``out_path`` ending in ``.jsonl``, ``.csv`` (``.tsv``) or ``.parquet`` is one file, written
    atomically, with the same columns in each format (a CSV file has a header; its
    ``top_labels`` / ``top_scores`` cells hold JSON lists). With ``engine="ray"`` it may also be
    a folder or a URI (``s3://bucket/out/``), which Ray's workers fill with Parquet files. Rows
    keep their input order in a single output file. Returns the rows written (``None`` for a
    folder). ``load_options`` go to
    ``LocalClassifier.from_pretrained``; the Ray options are those of `predict_dataset`,
    and ``address`` names the cluster (default ``$RAY_ADDRESS``, else a Ray instance started
    here for this run).

    A null, empty or whitespace-only text raises `BatchInputError` naming the file and rows;
    the local engine checks every row before predicting. ``progress`` shows a bar of rows
    done out of the total (``None``: only on a terminal or in a notebook; never under
    ``DISTIL_NO_PROGRESS=1``). ``ray_log_level`` is where Ray's console logs start (default
    ``$DISTIL_RAY_LOG_LEVEL``, else ``"WARNING"``: no INFO lines; ``"INFO"`` shows them all).

    Example:
        >>> predict_file("model/", "tickets.csv", "labelled.parquet", top_k=3)  # doctest: +SKIP
        120000
    """
    options: dict[str, Any] = {"top_k": top_k, "probabilities": probabilities, "prefix": prefix}
    if top_k is not None and top_k < 1:
        raise ValueError(f"top_k must be >= 1, got {top_k}")
    if engine == "local":
        return _run_local(
            model,
            input_path,
            out_path,
            text_column=text_column,
            input_format=input_format,
            batch_size=batch_size,
            options=options,
            load_options=load_options,
            progress=progress,
        )
    if engine != "ray":
        raise ValueError(f"engine must be 'local' or 'ray', got {engine!r}")
    return _predict_ray(
        model,
        input_path,
        out_path,
        address=address,
        text_column=text_column,
        input_format=input_format,
        batch_size=batch_size,
        concurrency=concurrency,
        num_gpus=num_gpus,
        options=options,
        load_options=load_options,
        progress=progress,
        log_level=ray_log_level,
    )


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS / Windows
        return os.cpu_count() or 1


def _predict_ray(
    model: str | os.PathLike[str],
    input_path: str | os.PathLike[str],
    out_path: str | os.PathLike[str],
    *,
    address: str | None,
    text_column: str,
    input_format: InputFormat | None,
    batch_size: int | None,
    concurrency: int | None,
    num_gpus: float,
    options: dict[str, Any],
    load_options: dict[str, Any] | None,
    progress: bool | None,
    log_level: int | str | None,
) -> int | None:
    from ._ray import DEFAULT_BATCH_SIZE, _import_ray, predict_dataset, read_dataset

    ray = _import_ray()
    level = ray_log_level(log_level)
    if not ray.is_initialized():
        # A Ray instance for this run only: one logical CPU more than the cores, so the
        # default pool (CPUs - 1, see predict_dataset) puts an actor on every core and the
        # spare slot runs the (I/O-bound) read tasks.
        start_ray(ray, level, address=address, num_cpus=_cores() + 1)
    with quiet_ray_data(level):
        source = read_dataset(input_path, text_column=text_column, input_format=input_format)
        # This dataset's own context (a copy taken when it was read): an actor's error
        # reaches us as itself, and rows stay in input order.
        source.context.raise_original_map_exception = True
        source.context.execution_options.preserve_order = True
        # Only a single output file gets our bar (a folder gets Ray Data's own): count for it.
        counted = resolve_progress(progress) and output_format(out_path) is not None
        total = _known_rows(source, input_path, input_format) if counted else None
        ds = predict_dataset(
            source,
            model,
            text_column=text_column,
            batch_size=batch_size or DEFAULT_BATCH_SIZE,
            concurrency=concurrency,
            num_gpus=num_gpus,
            load_options=load_options,
            **options,
        )
        return _write_ray_output(ds, out_path, progress, total)


def _known_rows(
    ds: Any, input_path: str | os.PathLike[str], input_format: InputFormat | None
) -> int | None:
    """The row count of local Parquet input, from the files' footers; ``None`` for what would
    have to be read twice to count (CSV, JSON Lines, object storage)."""
    name = os.fspath(input_path)
    if "://" in name:
        return None
    fmt = input_format or infer_format(name)
    if fmt is None and Path(name).is_dir():
        fmt = next(
            (infer_format(p.name) for p in sorted(Path(name).rglob("*")) if p.is_file()), None
        )
    return int(ds.count()) if fmt == "parquet" else None


def _write_ray_output(
    ds: Any, out_path: str | os.PathLike[str], progress: bool | None, total: int | None
) -> int | None:
    """Consume ``ds`` into one file (atomically, with our bar) or a folder (Ray's own bars)."""
    out_fmt = output_format(out_path)
    writer = _OneFileWriter(Path(out_path).expanduser(), out_fmt) if out_fmt else None
    # One bar, ours, for one file; Ray Data's own bars for the folder its workers write.
    ds.context.enable_progress_bars = writer is None and resolve_progress(progress)
    try:
        if writer is None:
            ds.write_parquet(os.fspath(out_path))
            return None
        with row_bar(progress, total, Path(out_path).name) as bar:
            for table in ds.iter_batches(batch_format="pyarrow", batch_size=None):
                writer.write_table(table)
                if bar is not None:
                    bar.update(table.num_rows)
        writer.commit()
        return writer.rows
    except Exception as exc:
        if writer is not None:
            writer.abort()
        raise _unwrapped(exc) from exc
    except BaseException:
        if writer is not None:
            writer.abort()
        raise


def _unwrapped(exc: Exception) -> BaseException:
    """What to raise for a failed Ray run: our own error inside Ray's wrapper, by its type."""
    ours = _root_cause(exc)
    if ours is exc:
        return exc
    if ours is None:
        return DistilError(f"the Ray job failed: {exc}")
    # Re-raised by type, so callers catch what the actor raised, not Ray's wrapper.
    # Ray appends its retry advice to the message; ours is the first part.
    message = str(ours).split("\nFailed to apply UDF", 1)[0]
    try:
        return type(ours)(message)
    except TypeError:
        return DistilError(message)
