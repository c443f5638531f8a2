"""A task bundle as the files of the current platform's ``POST /datasets`` body, and back.

The platform stages each file by field (``train_data`` ...) and reads JSONL chat rows; the
readers are the same ones :meth:`TaskBundle.from_dir` uses, so a file gives the same findings
whichever way it arrives.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from .data import LabelledDataset, UnlabelledDataset
from .task import JobDescription, TaskConfig
from .validation import Finding

if TYPE_CHECKING:
    from ._bundle import TaskBundle

#: Body field -> (file name in findings, required).
DATASET_FILES: dict[str, tuple[str, bool]] = {
    "job_description": ("job_description.json", True),
    "train_data": ("train.jsonl", True),
    "test_data": ("test.jsonl", True),
    "unstructured_data": ("unstructured.jsonl", False),
    "config": ("config.yaml", False),
}


def to_dataset_files(bundle: TaskBundle) -> dict[str, bytes]:
    files = {
        "job_description": bundle.job_description.to_json().encode("utf-8"),
        "train_data": bundle.train.to_text("chat").encode("utf-8"),
        "test_data": bundle.test.to_text("chat").encode("utf-8"),
    }
    if bundle.unstructured is not None:
        files["unstructured_data"] = bundle.unstructured.to_text("chat").encode("utf-8")
    files["config"] = bundle.config.source_text().encode("utf-8")
    return files


def _loader(field: str, file: str, data: bytes | str) -> Callable[[], Any]:
    if field == "job_description":
        return lambda: JobDescription.from_bytes(data, file=file)
    if field == "config":
        return lambda: TaskConfig.from_text(data, format="yaml", file=file)
    table = UnlabelledDataset if field == "unstructured_data" else LabelledDataset
    return lambda: table.from_bytes(data, format="jsonl", file=file)


def from_dataset_files(cls: type[TaskBundle], files: Mapping[str, bytes]) -> TaskBundle:
    from ._bundle import _Collector

    found = _Collector()
    if not isinstance(files, Mapping):
        found.fail(_error(None, None, "expected a mapping of field name to file bytes."))
        found.raise_if_fatal()
    for field in files:
        if field not in DATASET_FILES:
            found.fail(
                _error(
                    str(field),
                    field,
                    f"unknown dataset file {field!r}; this SDK reads {', '.join(DATASET_FILES)}.",
                )
            )
    loaded: dict[str, Any] = {}
    for field, (file, required) in DATASET_FILES.items():
        data = files.get(field)
        if data is None:
            if required:
                found.fail(
                    Finding(
                        severity="error",
                        code="missing_file",
                        file=file,
                        column=field,
                        message=f"the file {field!r} ({file}) is missing; add it.",
                    )
                )
            continue
        if not isinstance(data, bytes | bytearray | str):
            found.fail(_error(file, field, f"{field!r} must be the file's bytes."))
            continue
        loaded[field] = found.load(
            _loader(field, file, bytes(data) if not isinstance(data, str) else data)
        )
    found.raise_if_fatal()
    return cls(
        loaded["job_description"],
        loaded["train_data"],
        loaded["test_data"],
        loaded.get("unstructured_data"),
        loaded.get("config"),
    )


def _error(file: str | None, column: str | None, message: str) -> Finding:
    return Finding(
        severity="error", code="invalid_payload", file=file, column=column, message=message
    )
