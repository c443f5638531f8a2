"""The files of a task: the one table the client, the types and the local server read.

Today's Dataset (``data-preparation/overview.md`` and ``execution/backend-api.md`` of the
platform's reference) is ``config.yaml`` and ``job_description.json`` (required) and the
optional ``train.jsonl``, ``test.jsonl`` and ``traces.jsonl`` (a file left out is an empty
split). The staging answer names each file by extension (``train_data_jsonl``), a create body
by field (``train_data``). The seed's unlabelled texts (``unstructured.csv|jsonl``) are a part
of the ``/models`` upload body only: a Dataset has no place for them, and they travel as
traces (`to_dataset_files`, docs/task-format.md says why).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ._datasets import LabelledDataset, UnlabelledDataset
from ._traces import Traces
from ._words import plural
from .task import JobDescription, TaskConfig
from .validation import Finding

if TYPE_CHECKING:
    from ._bundle import TaskBundle

__all__ = [
    "DATASET_FILES",
    "DatasetFile",
    "dataset_file",
    "from_dataset_files",
    "staging_keys",
    "to_dataset_files",
]


@dataclass(frozen=True)
class DatasetFile:
    """One file of a task, as each side names it."""

    #: The create body's field (``train_data``); also the ``/models`` upload body's part.
    field: str
    #: The file's name in a Dataset folder and in downloads (``train.jsonl``).
    name: str
    #: The staging answer's key (``train_data_jsonl``); ``None``: not a file of a Dataset.
    staging_key: str | None
    #: A Dataset cannot be created without it.
    required: bool
    #: Content types of the ``/models`` upload part; ``()``: not a part of that body.
    upload_types: tuple[str, ...] = ()
    #: The ``/models`` upload body needs it.
    upload_required: bool = False

    @property
    def stem(self) -> str:
        """The name without its extension (``train``): a task folder may hold ``.csv``."""
        return self.name.split(".", 1)[0]


DATASET_FILES: tuple[DatasetFile, ...] = (
    DatasetFile("config", "config.yaml", "config_yaml", True, ("yaml", "json")),
    DatasetFile(
        "job_description", "job_description.json", "job_description_json", True, ("json",), True
    ),
    DatasetFile("train_data", "train.jsonl", "train_data_jsonl", False, ("csv", "jsonl"), True),
    DatasetFile("test_data", "test.jsonl", "test_data_jsonl", False, ("csv", "jsonl"), True),
    DatasetFile("traces", "traces.jsonl", "traces_jsonl", False),
    DatasetFile("unstructured_data", "unstructured.jsonl", None, False, ("csv", "jsonl")),
)


def dataset_file(field: str) -> DatasetFile:
    """The table's row of ``field`` (``KeyError`` for a field no task has)."""
    for entry in DATASET_FILES:
        if entry.field == field:
            return entry
    raise KeyError(field)


def staging_keys() -> dict[str, str]:
    """Create-body field -> staging key, for the files of a Dataset."""
    return {f.field: f.staging_key for f in DATASET_FILES if f.staging_key is not None}


def to_dataset_files(bundle: TaskBundle) -> dict[str, bytes]:
    """The files of a Dataset, by field: splits with rows only (a split left out is empty),
    the seed's unlabelled texts appended to the traces."""
    files = {
        "config": bundle.config.source_text().encode("utf-8"),
        "job_description": bundle.job_description.to_json().encode("utf-8"),
    }
    if len(bundle.train):
        files["train_data"] = bundle.train.to_text("chat").encode("utf-8")
    if len(bundle.test):
        files["test_data"] = bundle.test.to_text("chat").encode("utf-8")
    traces = bundle.dataset_traces()
    if traces is not None and len(traces):
        files["traces"] = traces.to_text().encode("utf-8")
    return files


def _loader(entry: DatasetFile, data: bytes | str) -> Callable[[], Any]:
    file = entry.name
    if entry.field == "job_description":
        return lambda: JobDescription.from_bytes(data, file=file)
    if entry.field == "config":
        return lambda: TaskConfig.from_text(data, format="yaml", file=file)
    if entry.field == "traces":
        return lambda: Traces.from_bytes(data, file=file)
    if entry.field == "unstructured_data":
        return lambda: UnlabelledDataset.from_bytes(data, format="jsonl", file=file)
    return lambda: LabelledDataset.from_bytes(data, format="jsonl", file=file)


def from_dataset_files(cls: type[TaskBundle], files: Mapping[str, bytes]) -> TaskBundle:
    from ._bundle import _Collector

    found = _Collector()
    if not isinstance(files, Mapping):
        found.fail(_error(None, None, "expected a mapping of field name to file bytes."))
        found.raise_if_fatal()
    fields = [f.field for f in DATASET_FILES]
    for field in files:
        if field not in fields:
            found.fail(
                _error(
                    str(field),
                    field,
                    f"unknown dataset file {field!r}; a Dataset holds {', '.join(staging_keys())}.",
                )
            )
    loaded: dict[str, Any] = {}
    for entry in DATASET_FILES:
        data = files.get(entry.field)
        if data is None:
            if entry.required:
                found.fail(
                    Finding(
                        severity="error",
                        code="missing_file",
                        file=entry.name,
                        column=entry.field,
                        message=f"the file {entry.field!r} ({entry.name}) is missing; add it.",
                    )
                )
            continue
        if not isinstance(data, bytes | bytearray | str):
            found.fail(
                _error(entry.name, entry.field, f"{entry.field!r} must be the file's bytes.")
            )
            continue
        content = bytes(data) if not isinstance(data, str) else data
        if not content.strip() and not entry.required:
            continue  # an empty file is an empty split
        loaded[entry.field] = found.load(_loader(entry, content))
        if isinstance(loaded[entry.field], LabelledDataset):
            _refuse_flat_rows(loaded[entry.field])
    found.raise_if_fatal()
    return cls(
        loaded["job_description"],
        loaded.get("train_data"),
        loaded.get("test_data"),
        loaded.get("unstructured_data"),
        loaded.get("config"),
        traces=loaded.get("traces"),
    )


def _refuse_flat_rows(dataset: LabelledDataset) -> None:
    """Today's Dataset refuses flat ``{"question", "answer"}`` rows (data-preparation/overview.md);
    a seed-era folder read by ``TaskBundle.from_dir`` is converted to chat rows instead."""
    flat = [i for i, example in enumerate(dataset) if example.conversation is None]
    if not flat:
        return
    rows = ", ".join(str(dataset.row_of(i)) for i in flat[:5]) + (", ..." if len(flat) > 5 else "")
    finding = Finding(
        severity="error",
        code="flat_rows",
        file=dataset.source,
        row=dataset.row_of(flat[0]),
        column="messages",
        message=f"{plural(len(flat), 'flat question/answer row')} (rows {rows}); a Dataset's rows are "
        'chat conversations, {"messages": [{"role": "user", ...}, {"role": "assistant", ...}]}. '
        "Read the folder with TaskBundle.from_dir (or pass the folder to datasets.create), "
        "which converts them.",
    )
    dataset._findings = (*dataset._findings, finding)


def _error(file: str | None, column: str | None, message: str) -> Finding:
    return Finding(
        severity="error", code="invalid_payload", file=file, column=column, message=message
    )
