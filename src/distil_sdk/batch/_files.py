"""``predict_file``: a file in, the same rows with predictions out, on this machine or on Ray.

The local engine streams the input in chunks through one ``LocalClassifier`` (CSV and JSON Lines
with the standard library, Parquet with pyarrow); the Ray engine runs `predict_dataset`.
Both write one output file through the same writer, into a temporary sibling renamed into place
when complete, so a failed run never leaves a half-written file under the final name.
"""

from __future__ import annotations

import csv
import gzip
import json
import logging
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from .._errors import DistilError
from ._columns import BatchInputError, check_texts, output_names, prediction_columns
from ._ray import InputFormat, infer_format

if TYPE_CHECKING:
    import pyarrow as pa

    from ..inference import LocalClassifier

__all__ = ["predict_file"]

logger = logging.getLogger("distil_sdk")

# Rows read, predicted and written at a time by the local engine: LocalClassifier sorts this many
# texts by length at once (its own chunk), and memory stays flat on any file size.
LOCAL_CHUNK = 4096

_OUT_SUFFIXES: dict[str, Literal["parquet", "json"]] = {
    ".parquet": "parquet",
    ".pq": "parquet",
    ".jsonl": "json",
    ".json": "json",
    ".ndjson": "json",
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
    """JSON Lines or Parquet into ``path``, via a temporary sibling renamed into place."""

    def __init__(self, path: Path, fmt: Literal["parquet", "json"]) -> None:
        self.path, self.fmt, self.rows = path, fmt, 0
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
        os.close(fd)
        self.tmp = Path(tmp)
        self._json = self.tmp.open("w", encoding="utf-8") if fmt == "json" else None
        self._parquet: Any = None
        self._schema: Any = None

    def write_rows(self, rows: list[dict[str, Any]]) -> None:
        if self._json is not None:
            self._json.writelines(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)
        elif rows:
            pa = _pyarrow()
            # Later chunks take the first chunk's schema, so one file holds one schema.
            self.write_table(pa.Table.from_pylist(rows, schema=self._schema))
        self.rows += len(rows) if self._json is not None else 0

    def write_table(self, table: pa.Table) -> None:
        if self._json is not None:
            self.write_rows(table.to_pylist())
            return
        pa = _pyarrow()
        if self._parquet is None:
            self._schema = table.schema
            self._parquet = pa.parquet.ParquetWriter(str(self.tmp), table.schema)
        self._parquet.write_table(table)
        self.rows += table.num_rows

    def commit(self) -> None:
        if self._json is not None:
            self._json.close()
        elif self._parquet is not None:
            self._parquet.close()
        else:  # no rows at all: still a valid, empty Parquet file
            pa = _pyarrow()
            pa.parquet.write_table(pa.table({}), str(self.tmp))
        os.replace(self.tmp, self.path)

    def abort(self) -> None:
        if self._json is not None:
            self._json.close()
        if self._parquet is not None:
            self._parquet.close()
        self.tmp.unlink(missing_ok=True)


def output_format(path: str | os.PathLike[str]) -> Literal["parquet", "json"] | None:
    """``"parquet"`` or ``"json"`` (JSON Lines) from the suffix; ``None`` for a folder/URI."""
    name = os.fspath(path)
    if "://" in name:
        return None
    return _OUT_SUFFIXES.get(Path(name).suffix.lower())


def _read_chunks(
    path: Path, fmt: InputFormat, text_column: str, size: int
) -> Iterator[list[dict[str, Any]]]:
    if fmt == "parquet":
        pa = _pyarrow()
        reader = pa.parquet.ParquetFile(str(path))
        if text_column not in reader.schema_arrow.names:
            _no_column(path, text_column, reader.schema_arrow.names)
        for batch in reader.iter_batches(batch_size=size):
            yield batch.to_pylist()
        return
    name = path.name.lower()
    opener: Any = gzip.open if name.endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8", newline="") as handle:
        if fmt == "csv":
            delimiter = "\t" if name.removesuffix(".gz").endswith(".tsv") else ","
            reader_ = csv.DictReader(handle, delimiter=delimiter)
            if text_column not in (reader_.fieldnames or []):
                _no_column(path, text_column, list(reader_.fieldnames or []))
            rows: list[dict[str, Any]] = []
            for row in reader_:
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


def _no_column(path: Path, column: str, names: list[str]) -> None:
    raise BatchInputError(
        f"{path}: no text column {column!r} (columns: {', '.join(names)}); "
        "pass --text-column / text_column= to name it"
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
) -> None:
    labels = classifier.labels
    added = output_names(labels, **options)
    start = 0
    for rows in _read_chunks(path, fmt, text_column, chunk):
        clash = [name for name in added if name in rows[0]]
        if clash:
            raise BatchInputError(
                f"{path}: already has column(s) {', '.join(map(repr, clash))}, which the "
                "prediction adds; pass a prefix (--prefix pred_) to name the new columns apart"
            )
        texts = check_texts(
            [row.get(text_column) for row in rows],
            text_column,
            lambda i, first=start: f"{path}, row {first + i + 1}",  # type: ignore[misc]
        )
        columns = prediction_columns(classifier.predict_proba(texts), labels, **options)
        for i, row in enumerate(rows):
            for name, values in columns.items():
                value = values[i]
                row[name] = value.item() if hasattr(value, "item") else value
        writer.write_rows(rows)
        start += len(rows)


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
) -> int | None:
    """Predict every row of a Parquet / CSV / JSON Lines file; write them with predictions.

    ``out_path`` ending in ``.parquet`` or ``.jsonl`` is one file, written atomically. With
    ``engine="ray"`` it may also be a folder or a URI (``s3://bucket/out/``), which Ray's workers
    fill with Parquet files. Rows keep their input order in a single output file. Returns the
    rows written (``None`` for a folder). ``load_options`` go to
    ``LocalClassifier.from_pretrained``; the Ray options are those of `predict_dataset`,
    and ``address`` names the cluster (default ``$RAY_ADDRESS``, else a Ray instance started
    here for this run).

    Example:
        >>> predict_file("model/", "tickets.csv", "labelled.parquet", top_k=3)  # doctest: +SKIP
        120000
    """
    options: dict[str, Any] = {"top_k": top_k, "probabilities": probabilities, "prefix": prefix}
    if top_k is not None and top_k < 1:
        raise ValueError(f"top_k must be >= 1, got {top_k}")
    out_fmt = output_format(out_path)
    if engine == "local":
        from ..inference import LocalClassifier

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
        if out_fmt is None:
            raise BatchInputError(
                f"{out_path}: the output must end in .parquet or .jsonl (folders and URIs "
                "need --engine ray)"
            )
        classifier = LocalClassifier.from_pretrained(model, **(load_options or {}))
        writer = _OneFileWriter(Path(out_path).expanduser(), out_fmt)
        try:
            _predict_local(
                classifier,
                source,
                fmt,
                writer,
                text_column=text_column,
                chunk=batch_size or LOCAL_CHUNK,
                options=options,
            )
            writer.commit()
        except BaseException:
            writer.abort()
            raise
        return writer.rows
    if engine != "ray":
        raise ValueError(f"engine must be 'local' or 'ray', got {engine!r}")
    return _predict_ray(
        model,
        input_path,
        out_path,
        out_fmt,
        address=address,
        text_column=text_column,
        input_format=input_format,
        batch_size=batch_size,
        concurrency=concurrency,
        num_gpus=num_gpus,
        options=options,
        load_options=load_options,
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
    out_fmt: Literal["parquet", "json"] | None,
    *,
    address: str | None,
    text_column: str,
    input_format: InputFormat | None,
    batch_size: int | None,
    concurrency: int | None,
    num_gpus: float,
    options: dict[str, Any],
    load_options: dict[str, Any] | None,
) -> int | None:
    from ._ray import DEFAULT_BATCH_SIZE, _import_ray, predict_dataset

    ray = _import_ray()
    if not ray.is_initialized():
        if address or os.environ.get("RAY_ADDRESS"):
            ray.init(address=address, log_to_driver=False)
        else:
            # A Ray instance for this run only: one logical CPU more than the cores, so the
            # default pool (CPUs - 1, see predict_dataset) puts an actor on every core and the
            # spare slot runs the (I/O-bound) read tasks.
            ray.init(num_cpus=_cores() + 1, log_to_driver=False, include_dashboard=False)
    ds = predict_dataset(
        input_path,
        model,
        text_column=text_column,
        batch_size=batch_size or DEFAULT_BATCH_SIZE,
        concurrency=concurrency,
        num_gpus=num_gpus,
        input_format=input_format,
        load_options=load_options,
        **options,
    )
    # This dataset's own context (a copy taken when it was read): rows stay in input order.
    ds.context.execution_options.preserve_order = True
    writer = _OneFileWriter(Path(out_path).expanduser(), out_fmt) if out_fmt else None
    try:
        if writer is None:
            ds.write_parquet(os.fspath(out_path))
            return None
        for table in ds.iter_batches(batch_format="pyarrow", batch_size=None):
            writer.write_table(table)
        writer.commit()
        return writer.rows
    except Exception as exc:
        if writer is not None:
            writer.abort()
        ours = _root_cause(exc)
        if ours is exc:
            raise
        if ours is not None:
            # Re-raised by type, so callers catch what the actor raised, not Ray's wrapper.
            # Ray appends its retry advice to the message; ours is the first part.
            message = str(ours).split("\nFailed to apply UDF", 1)[0]
            try:
                rebuilt = type(ours)(message)
            except TypeError:
                rebuilt = DistilError(message)
            raise rebuilt from exc
        raise DistilError(f"the Ray job failed: {exc}") from exc
    except BaseException:
        if writer is not None:
            writer.abort()
        raise
