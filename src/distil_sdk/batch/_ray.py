"""``predict_dataset``: a ``LocalClassifier`` in a pool of Ray Data actors."""

from __future__ import annotations

import gc
import logging
import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from .._errors import DistilError, ModelLoadError
from ._columns import BatchInputError, check_texts, output_names, prediction_columns

if TYPE_CHECKING:
    import pyarrow as pa
    import ray.data

    from ..inference import LocalClassifier

__all__ = [
    "RAY_LOG_LEVEL_ENV",
    "InputFormat",
    "predict_dataset",
    "quiet_ray_data",
    "ray_log_level",
    "read_dataset",
    "start_ray",
]

logger = logging.getLogger("distil_sdk")

InputFormat = Literal["parquet", "csv", "json"]

# Rows handed to one actor call.
# LocalClassifier sorts each call's texts by length before batching them, so larger calls pad
# less; 1024 rows still split a modest file into enough blocks to keep several actors busy.
DEFAULT_BATCH_SIZE = 1024

# Ray's own logs (ray.init's, Ray Data's execution plans and progress lines) start at this level
# on the console; a value here (DEBUG, INFO, ...) or ``ray_log_level=`` shows more.
RAY_LOG_LEVEL_ENV = "DISTIL_RAY_LOG_LEVEL"

_SUFFIXES: dict[str, InputFormat] = {
    ".parquet": "parquet",
    ".pq": "parquet",
    ".csv": "csv",
    ".tsv": "csv",
    ".jsonl": "json",
    ".json": "json",
    ".ndjson": "json",
}


def _import_ray() -> Any:
    try:
        import ray
        import ray.data
    except ImportError as exc:
        raise DistilError(
            "batch prediction on Ray needs Ray Data: pip install 'distil-sdk[ray]'"
        ) from exc
    return ray


def ray_log_level(level: int | str | None) -> int:
    """The console level for Ray's logs: ``level``, else ``$DISTIL_RAY_LOG_LEVEL``, else WARNING."""
    where = "ray_log_level"
    if level is None:
        level, where = os.environ.get(RAY_LOG_LEVEL_ENV) or logging.WARNING, RAY_LOG_LEVEL_ENV
    if isinstance(level, int):
        return level
    number = logging.getLevelName(level.strip().upper())
    if not isinstance(number, int):
        raise ValueError(f"{where}={level!r} is not a log level; use DEBUG, INFO, WARNING or ERROR")
    return number


def start_ray(
    ray: Any, level: int, *, address: str | None = None, num_cpus: int | None = None
) -> None:
    """``ray.init``, quiet by default: Ray's INFO lines and the actors' own output
    (``log_to_driver``) only when ``level`` is INFO or lower; never a dashboard.

    ``address`` joins a cluster; without it a Ray instance starts here (``num_cpus`` CPUs).
    Ray Data's console follows ``level`` from then on (its log files keep everything).
    """
    verbose = level <= logging.INFO
    if address or os.environ.get("RAY_ADDRESS"):
        ray.init(address=address, logging_level=level, log_to_driver=verbose)
    else:
        ray.init(
            num_cpus=num_cpus,
            logging_level=level,
            log_to_driver=verbose,
            include_dashboard=False,
        )
    _ray_data_console(level)


class _HideDisabledBars(logging.Filter):
    # Ray Data warns that its progress bars are off, which is what a quiet run asked for.
    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith("Progress bars disabled")


def _ray_data_console(level: int) -> list[tuple[logging.Handler, int, logging.Filter | None]]:
    """Set Ray Data's console handlers to ``level``; returns what `quiet_ray_data` restores."""
    changed: list[tuple[logging.Handler, int, logging.Filter | None]] = []
    for handler in logging.getLogger("ray.data").handlers:
        # Console handlers only: Ray Data's session log file keeps every line for debugging.
        if isinstance(handler, logging.StreamHandler) and not isinstance(
            handler, logging.FileHandler
        ):
            hide = _HideDisabledBars() if level > logging.INFO else None
            if hide is not None:
                handler.addFilter(hide)
            changed.append((handler, handler.level, hide))
            handler.setLevel(level)
    return changed


@contextmanager
def quiet_ray_data(level: int) -> Iterator[None]:
    """Ray Data's console at ``level`` while a run executes, as it was afterwards."""
    changed = _ray_data_console(level)
    try:
        yield
    finally:
        for handler, before, hide in changed:
            handler.setLevel(before)
            if hide is not None:
                handler.removeFilter(hide)


def infer_format(path: str) -> InputFormat | None:
    """The format a path's suffix names (``.csv.gz`` counts as ``.csv``), or ``None``."""
    name = path.rstrip("/").lower()
    for compression in (".gz", ".bz2", ".zst", ".lz4", ".br"):
        name = name.removesuffix(compression)
    return _SUFFIXES.get(os.path.splitext(name)[1])


def _is_uri(path: str) -> bool:
    return "://" in path


def read_dataset(
    paths: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
    *,
    text_column: str = "text",
    input_format: InputFormat | None = None,
) -> ray.data.Dataset:
    """Read Parquet, CSV or JSON Lines with Ray Data (local paths or ``s3://``, ``gs://``, ...).

    The format comes from ``input_format`` or the first path's suffix; a folder is read by the
    suffix of the files in it (local) or as Parquet (object storage). In CSV the text column is
    always read as strings, so an empty cell is the empty text and ``007`` stays ``"007"``.
    """
    ray = _import_ray()
    items = [paths] if isinstance(paths, (str, os.PathLike)) else list(paths)
    if not items:
        raise BatchInputError("no input paths given")
    names = [os.fspath(p) if _is_uri(os.fspath(p)) else _local(p) for p in items]
    fmt = input_format or infer_format(names[0]) or _folder_format(names[0])
    from ray.data import Dataset

    read: Dataset  # declared: ray's readers reach mypy untyped
    if fmt == "parquet":
        read = ray.data.read_parquet(names)
        return read
    if fmt == "json":
        read = ray.data.read_json(names, lines=True)
        return read
    if fmt == "csv":
        import pyarrow as pa
        from pyarrow import csv

        delimiter = "\t" if names[0].lower().endswith((".tsv", ".tsv.gz")) else ","
        read = ray.data.read_csv(
            names,
            parse_options=csv.ParseOptions(delimiter=delimiter, newlines_in_values=True),
            convert_options=csv.ConvertOptions(column_types={text_column: pa.string()}),
        )
        return read
    raise BatchInputError(f"unknown input format {fmt!r}: use 'parquet', 'csv' or 'json'")


def _local(path: str | os.PathLike[str]) -> str:
    resolved = Path(path).expanduser().absolute()
    if not resolved.exists():
        raise BatchInputError(f"{resolved}: no such file or folder")
    return str(resolved)


def _folder_format(path: str) -> InputFormat:
    if not _is_uri(path) and Path(path).is_dir():
        for child in sorted(Path(path).rglob("*")):
            fmt = infer_format(child.name) if child.is_file() else None
            if fmt is not None:
                return fmt
        raise BatchInputError(f"{path}: no .parquet, .csv or .jsonl file in this folder")
    if _is_uri(path):
        return "parquet"
    raise BatchInputError(
        f"{path}: cannot tell the format from the name; pass input_format='parquet', 'csv' or "
        "'json' (JSON Lines)"
    )


class _ClassifierActor:
    """One per actor: loads the model once, then predicts every batch Ray Data hands it."""

    def __init__(
        self,
        model: Any,
        load_options: dict[str, Any],
        text_column: str,
        top_k: int | None,
        probabilities: bool,
        prefix: str,
    ) -> None:
        from transformers.utils import logging as hf_logging

        from ..inference import LocalClassifier

        hf_logging.disable_progress_bar()  # type: ignore[no-untyped-call]
        # A LocalClassifier arrives already reloaded from its path by its __setstate__.
        self.classifier = (
            model
            if isinstance(model, LocalClassifier)
            else LocalClassifier.from_pretrained(model, **load_options)
        )
        self.labels = self.classifier.labels
        self.text_column = text_column
        self.options: dict[str, Any] = {
            "top_k": top_k,
            "probabilities": probabilities,
            "prefix": prefix,
        }
        self.added = output_names(self.labels, **self.options)

    def __call__(self, batch: pa.Table) -> pa.Table:
        import pyarrow as pa

        _check_columns(batch.column_names, self.text_column, self.added)
        values = batch.column(self.text_column).to_pylist()
        texts = check_texts(values, self.text_column, lambda i: _describe(batch, i))
        probs = self.classifier.predict_proba(texts)
        for name, column in prediction_columns(probs, self.labels, **self.options).items():
            batch = batch.append_column(name, pa.array(column))
        return batch


def _describe(batch: pa.Table, index: int) -> str:
    # A Ray batch has no global row number; the row's own values are what identifies it.
    row = batch.slice(index, 1).to_pylist()[0]
    shown = repr(row)
    return f"the row {shown[:200] + '...' if len(shown) > 200 else shown}"


def _check_columns(columns: Sequence[str], text_column: str, added: Sequence[str]) -> None:
    if text_column not in columns:
        raise BatchInputError(
            f"no text column {text_column!r} in the data (columns: {', '.join(columns)}); "
            "pass text_column= (--text-column) to name it"
        )
    clash = [name for name in added if name in columns]
    if clash:
        raise BatchInputError(
            f"the data already has column(s) {', '.join(map(repr, clash))}, which the "
            "prediction adds; pass prefix= (e.g. 'pred_') to name the new columns apart"
        )


def _model_source(model: str | os.PathLike[str] | LocalClassifier) -> Any:
    from ..inference import LocalClassifier

    if isinstance(model, LocalClassifier):
        return model
    path = Path(model).expanduser()
    # Actors may start in another working directory (or on another node): hand them an absolute
    # path, and fail here, by name, on a typo rather than in every actor.
    if not path.exists():
        raise ModelLoadError(
            f"{path.absolute()}: no such file or folder; the model must be at a path this driver "
            "and every Ray node can read (a shared or synced filesystem)"
        )
    return str(path.absolute())


def _cluster(ray: Any, log_level: int | str | None) -> dict[str, float]:
    """Ray up (started quiet when it is not), and its resources."""
    # A failed run's actors live on, holding their CPUs, until Python's cycle collector frees
    # its executor (measured: a retry right after a failure found one CPU of two still held).
    # The new run's read tasks would wait for that CPU; collect first.
    gc.collect()
    if not ray.is_initialized():
        start_ray(ray, ray_log_level(log_level))
    return dict(ray.cluster_resources())


def _pool_size(resources: dict[str, float], num_gpus: float, num_cpus: float) -> int:
    if num_gpus > 0:
        return max(1, int(resources.get("GPU", 0) // num_gpus))
    # One CPU stays free: Ray Data's file listing and read tasks need a CPU slot each, and a
    # fixed pool that holds every slot waits for them forever.
    return max(1, int(resources.get("CPU", 1) // num_cpus) - 1)


def _warn_if_starving(
    resources: dict[str, float], size: int | tuple[int, int], num_gpus: float, num_cpus: float
) -> None:
    most = size[1] if isinstance(size, tuple) else size
    if num_gpus == 0 and most * num_cpus >= resources.get("CPU", 0):
        logger.warning(
            "%s actors x %s CPUs take every CPU of the Ray cluster (%s); reading files needs a "
            "free CPU, so the run may stall: use fewer actors",
            most,
            num_cpus,
            resources.get("CPU", 0),
        )


def predict_dataset(
    dataset: ray.data.Dataset | str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
    model: str | os.PathLike[str] | LocalClassifier,
    *,
    text_column: str = "text",
    batch_size: int = DEFAULT_BATCH_SIZE,
    concurrency: int | tuple[int, int] | None = None,
    num_gpus: float = 0,
    num_cpus: float = 1,
    top_k: int | None = None,
    probabilities: bool = False,
    prefix: str = "",
    input_format: InputFormat | None = None,
    load_options: dict[str, Any] | None = None,
    ray_log_level: int | str | None = None,
) -> ray.data.Dataset:
    """Classify every row of a Ray Dataset (or files Ray reads) with a pool of model actors.

    Each actor loads the model once (``LocalClassifier.from_pretrained(model, **load_options)``)
    and predicts ``batch_size`` rows per call. The result is lazy: rows are predicted when it is
    consumed (``write_parquet``, ``iter_batches``, ...). Every input column is kept and
    ``label``/``score`` are added, plus ``top_labels``/``top_scores`` with ``top_k=k`` and one
    ``prob_<label>`` column per class with ``probabilities=True``; values equal
    ``LocalClassifier.predict_proba`` on the same texts. Rows come out in any order unless
    ``ray.data.DataContext.get_current().execution_options.preserve_order = True``.

    Args:
        dataset: a ``ray.data.Dataset``, or Parquet / CSV / JSON Lines paths or folders, local
            or on object storage (``s3://bucket/tickets/``); see `read_dataset`.
        model: a model folder, a ``*-model.tar``, or a ``LocalClassifier`` (pickled as its
            path); the path must be readable from every node.
        text_column: the column holding the texts. A null, empty or whitespace-only text
            raises `BatchInputError` naming the row.
        batch_size: rows per actor call; the input is split, as it streams, into blocks of at
            most this many rows, so every actor of the pool gets some.
        concurrency: actors in the pool; ``(min, max)`` autoscales. Default: one per
            ``num_gpus`` GPUs of the cluster; on CPUs one per ``num_cpus`` CPUs, less one CPU
            left for Ray's read tasks (a pool holding every CPU starves them and stalls).
        num_gpus: GPUs per actor (``1`` on a GPU cluster; the model loads with
            ``device="auto"``, so each actor uses the GPU Ray gives it).
        num_cpus: CPUs per actor; Ray sets the actor's torch threads to this.
        top_k: add the ``top_k`` best labels and their scores, best first.
        probabilities: add one ``prob_<label>`` column per class.
        prefix: put before every added column's name (``"pred_"``) when names would clash.
        input_format: ``"parquet"``, ``"csv"`` or ``"json"`` when the paths don't say.
        load_options: keywords for ``LocalClassifier.from_pretrained`` in every actor
            (``{"dtype": "float32", "batch_size": 64}``; its ``batch_size`` is texts per
            forward pass, this function's is rows per actor call).
        ray_log_level: when this call starts Ray (none is running), the level its console logs
            start at: default ``$DISTIL_RAY_LOG_LEVEL``, else ``"WARNING"``; ``"INFO"`` shows
            all of Ray's output.

    Example:
        >>> ds = predict_dataset("s3://bucket/tickets/", "/shared/my-model.tar",
        ...                      num_gpus=1, top_k=3)                      # doctest: +SKIP
        >>> ds.write_parquet("s3://bucket/tickets-labelled/")             # doctest: +SKIP
    """
    ray = _import_ray()
    _check_counts(top_k=top_k, batch_size=batch_size)
    source = _model_source(model)
    from ray.data import Dataset

    # Ray first: reading files would start it with Ray's own (loud) defaults.
    resources = _cluster(ray, ray_log_level)
    ds = _spread(_input_dataset(dataset, text_column, input_format, prefix), batch_size)
    size = concurrency if concurrency is not None else _pool_size(resources, num_gpus, num_cpus)
    _warn_if_starving(resources, size, num_gpus, num_cpus)
    actor_args = (source, dict(load_options or {}), text_column, top_k, probabilities, prefix)
    predicted: Dataset = ds.map_batches(
        _ClassifierActor,
        fn_constructor_args=actor_args,
        batch_size=batch_size,
        batch_format="pyarrow",
        compute=_actor_pool(ray, size, num_gpus),
        num_gpus=num_gpus,
        num_cpus=num_cpus,
    )
    return predicted


def _check_counts(**counts: int | None) -> None:
    for name, value in counts.items():
        if value is not None and value < 1:
            raise ValueError(f"{name} must be >= 1, got {value}")


def _input_dataset(
    dataset: Any, text_column: str, input_format: InputFormat | None, prefix: str
) -> ray.data.Dataset:
    """``dataset`` itself, or the files it names read; a wrong text column fails here."""
    from ray.data import Dataset

    ds: Dataset
    if isinstance(dataset, Dataset):
        ds = dataset
    else:
        ds = read_dataset(dataset, text_column=text_column, input_format=input_format)
        # This dataset's context is its own (a copy taken at read time): an actor's
        # BatchInputError then reaches the caller as itself (a TypeError subclass), not as
        # Ray's generic UserCodeException. A caller's own dataset is left as it is.
        ds.context.raise_original_map_exception = True
    schema = ds.schema(fetch_if_missing=False)
    if schema is not None:
        # Known without running anything: report a wrong column now, not from inside an actor.
        _check_columns(schema.names, text_column, [f"{prefix}label", f"{prefix}score"])
    return ds


def _spread(ds: ray.data.Dataset, batch_size: int) -> ray.data.Dataset:
    """``ds`` in blocks of at most ``batch_size`` rows, so every actor of the pool gets some.

    Ray Data hands an actor whole blocks, and its readers pack up to ~128 MiB into one block:
    a text file of a million short rows would otherwise be a single actor's work while the rest
    of the pool idles (measured: 2 actors ran at the speed of one). The streaming repartition
    slices blocks as they arrive, without reading everything first or reordering rows.
    """
    spread: ray.data.Dataset = ds.repartition(target_num_rows_per_block=batch_size)
    # Slicing takes no CPU worth a slot, and a task that waits for one can wait forever: the
    # pool may hold every free slot while a failed run's actors, kept alive by a traceback
    # someone holds (a notebook, a log handler), hold the rest. Ray's API has no argument for
    # it: set it on the plan's operator when it is there to set.
    operator = getattr(getattr(spread, "_logical_plan", None), "dag", None)
    remote_args = getattr(operator, "ray_remote_args", None)
    if isinstance(remote_args, dict):
        remote_args.setdefault("num_cpus", 0)
        # A task of no CPU is never held back by the CPU count, so Ray started one worker
        # process per waiting block: 40 processes for a 40-item ``from_items`` dataset
        # (measured), each importing Ray. A small cap keeps a few workers, reused.
        _cap_tasks(operator, SLICING_TASKS)
    return spread


SLICING_TASKS = 4  # slicing a block takes milliseconds: a few tasks keep any pool fed


def _cap_tasks(operator: Any, size: int) -> None:
    """At most ``size`` of ``operator``'s tasks at once, when Ray's plan lets us say so."""
    from ray.data import TaskPoolStrategy

    compute = getattr(operator, "compute", None)
    if isinstance(compute, TaskPoolStrategy) and compute.size is None:
        object.__setattr__(operator, "compute", TaskPoolStrategy(size=size))


def _actor_pool(ray: Any, size: int | tuple[int, int], num_gpus: float) -> Any:
    """Ray Data's compute strategy: a fixed pool of ``size`` actors, or ``(min, max)``.

    CPU actors take one call at a time. Ray's default queues a second call on an actor while
    its first runs, so the first actor to finish loading the model took both calls of a
    2000-row run and the other actor never worked (measured); a call of seconds gains nothing
    from a queued one. GPU actors keep the default: their calls are short, and a queued one
    keeps the GPU busy while the next batch is fetched.
    """
    queue = {"max_tasks_in_flight_per_actor": 1} if num_gpus == 0 else {}
    if isinstance(size, tuple):
        return ray.data.ActorPoolStrategy(min_size=size[0], max_size=size[1], **queue)
    return ray.data.ActorPoolStrategy(size=size, **queue)
