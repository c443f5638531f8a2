"""TaskBundle: a task folder or an upload body, read with one parser (re-exported by data.py)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

from .._errors import DataValidationError
from ._io import TableFormat
from .data import LabelledDataset, UnlabelledDataset, _Table
from .task import JOB_DESCRIPTION_FILE, JobDescription, TaskConfig
from .validation import Finding, ValidationReport, validate_bundle

_T = TypeVar("_T", bound=_Table[Any])

_TABLE_SUFFIXES = (".csv", ".jsonl")
_CONFIG_SUFFIXES = (".yaml", ".yml", ".json")
# Upload body key -> file stem, accepted content types, required.
_PAYLOAD_PARTS: dict[str, tuple[str, tuple[str, ...], bool]] = {
    "job_description": ("job_description", ("json",), True),
    "train_data": ("train", ("csv", "jsonl"), True),
    "test_data": ("test", ("csv", "jsonl"), True),
    "unstructured_data": ("unstructured", ("csv", "jsonl"), False),
    "config": ("config", ("yaml", "json"), False),
}


def _error(code: str, file: str | None, message: str, column: str | None = None) -> Finding:
    return Finding(severity="error", code=code, file=file, column=column, message=message)


class _Collector:
    """Runs each loader, keeping its findings; a loader that raises marks the bundle unusable."""

    def __init__(self) -> None:
        self.findings: list[Finding] = []
        self.fatal = False

    def load(self, loader: Callable[[], Any]) -> Any:
        try:
            result = loader()
        except DataValidationError as exc:
            self.findings += exc.report.findings
            self.fatal = True
            return None
        if isinstance(result, _Table):
            self.findings += result.findings
        return result

    def fail(self, finding: Finding) -> None:
        self.findings.append(finding)
        self.fatal = True

    def raise_if_fatal(self) -> None:
        if self.fatal:
            raise DataValidationError(ValidationReport(findings=self.findings))


class TaskBundle:
    """Everything uploaded for one model: job description, train/test data, optional
    unlabelled data and config.

    Example:
        >>> bundle = TaskBundle.from_dir("my-task")  # doctest: +SKIP
        >>> report = bundle.validate()  # doctest: +SKIP
        >>> report.raise_for_errors()  # doctest: +SKIP
        >>> body = bundle.to_upload_payload()  # doctest: +SKIP
    """

    def __init__(
        self,
        job_description: JobDescription,
        train: LabelledDataset,
        test: LabelledDataset,
        unstructured: UnlabelledDataset | None = None,
        config: TaskConfig | None = None,
    ) -> None:
        self.job_description = job_description
        self.train = train
        self.test = test
        self.unstructured = unstructured
        self.config = config if config is not None else TaskConfig()

    @property
    def labels(self) -> list[str]:
        """The class names in job description order."""
        return self.job_description.labels

    def validate(self) -> ValidationReport:
        """Every finding: what reading the files found plus the content checks
        (docs/task-format.md lists the codes). Never raises for bad data."""
        return validate_bundle(self)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, TaskBundle):
            return NotImplemented
        return (self.job_description, self.train, self.test, self.unstructured, self.config) == (
            other.job_description,
            other.train,
            other.test,
            other.unstructured,
            other.config,
        )

    __hash__ = None  # type: ignore[assignment]  # mutable

    def __repr__(self) -> str:
        extra = f", unstructured={len(self.unstructured)}" if self.unstructured is not None else ""
        return (
            f"TaskBundle(labels={self.labels!r}, train={len(self.train)}, "
            f"test={len(self.test)}{extra})"
        )

    # -- folders -----------------------------------------------------------------------------

    @classmethod
    def from_dir(cls, path: str | Path) -> TaskBundle:
        """Read a task folder: ``job_description.json``, ``train.csv|jsonl``,
        ``test.csv|jsonl``, optional ``unstructured.csv|jsonl`` and ``config.yaml|yml|json``.

        Raises:
            DataValidationError: a required file is missing, ambiguous (``train.csv`` *and*
                ``train.jsonl``) or cannot be read as a dataset at all; the report lists every
                problem found in the folder, not just the first.
        """
        root = Path(path)
        if not root.is_dir():
            raise DataValidationError(
                ValidationReport(
                    findings=[
                        _error(
                            "missing_file",
                            str(root),
                            f"{root} is not a folder; pass the folder that holds "
                            "job_description.json, train.csv and test.csv.",
                        )
                    ]
                )
            )
        found = _Collector()
        jd_path = root / JOB_DESCRIPTION_FILE
        job = found.load(lambda: JobDescription.from_file(jd_path)) if jd_path.is_file() else None
        if not jd_path.is_file():
            found.fail(
                _error(
                    "missing_file",
                    JOB_DESCRIPTION_FILE,
                    f"no {JOB_DESCRIPTION_FILE} "
                    f"in {root}; add it (task_description, classes_description).",
                )
            )
        train = _load_table(found, root, "train", LabelledDataset, required=True)
        test = _load_table(found, root, "test", LabelledDataset, required=True)
        unstructured = _load_table(found, root, "unstructured", UnlabelledDataset, required=False)
        config_path = _pick(found, root, "config", _CONFIG_SUFFIXES, required=False)
        config = found.load(lambda: TaskConfig.from_file(config_path)) if config_path else None
        found.raise_if_fatal()
        # Not fatal means every required part loaded.
        assert job is not None and train is not None and test is not None
        return cls(job, train, test, unstructured, config)

    def to_dir(self, path: str | Path, *, format: str | None = None) -> Path:
        """Write the bundle as a task folder (each file atomically); returns the folder.

        Each dataset keeps the format it was read from (CSV otherwise) unless ``format``
        (``"csv"``, ``"jsonl"`` or ``"chat"``: ``.jsonl`` files of the platform's current chat
        rows) is given. Refuses to leave both ``train.csv`` and
        ``train.jsonl`` behind, which :meth:`from_dir` could not read.
        """
        from ._io import atomic_write_text

        root = Path(path)
        tables: list[tuple[str, _Table[Any]]] = [("train", self.train), ("test", self.test)]
        if self.unstructured is not None:
            tables.append(("unstructured", self.unstructured))
        targets = [
            (root / f"{stem}.{_suffix(format) or table.format or 'csv'}", table)
            for stem, table in tables
        ]
        stale = [
            root / f"{t.stem}{s}"
            for t, _ in targets
            for s in _TABLE_SUFFIXES
            if s != t.suffix and (root / f"{t.stem}{s}").exists()
        ]
        stale += [root / f"config{s}" for s in (".yml", ".json") if (root / f"config{s}").exists()]
        if stale:
            raise FileExistsError(
                f"{stale[0]} already exists and would make the folder ambiguous; "
                "delete it or write to an empty folder."
            )
        atomic_write_text(root / JOB_DESCRIPTION_FILE, self.job_description.to_json())
        for target, table in targets:
            if format == "chat":
                atomic_write_text(target, table.to_text("chat"))
            else:
                table.to_file(target)
        # The user's own YAML (comments kept) when the config is unchanged since reading.
        config = self.config
        text = config.source_text() if config.source_format() == "yaml" else config.to_yaml()
        atomic_write_text(root / "config.yaml", text)
        return root

    # -- the current platform's files (POST /datasets) ---------------------------------------

    def to_dataset_files(self) -> dict[str, bytes]:
        """The files of a ``POST /datasets`` body in the platform's current format, keyed by
        the body's field: ``job_description`` (JSON), ``train_data`` / ``test_data`` (JSONL chat
        rows), ``unstructured_data`` (JSONL ``{"context"}`` rows, when present) and ``config``
        (the YAML the user wrote when unchanged since reading, else a fresh dump).

        Example:
            >>> files = TaskBundle.from_dir("my-task").to_dataset_files()  # doctest: +SKIP
            >>> files["train_data"].splitlines()[0]  # doctest: +SKIP
            b'{"messages": [{"role": "user", "content": "..."}, {"role": "assistant", ...}]}'
        """
        from ._dataset_files import to_dataset_files

        return to_dataset_files(self)

    @classmethod
    def from_dataset_files(cls, files: Mapping[str, bytes]) -> TaskBundle:
        """Read the files of a ``POST /datasets`` body (see :meth:`to_dataset_files`); flat
        ``question``/``answer`` rows are read too. Findings name the file as the platform
        stores it (``train_data`` is ``"train.jsonl"``).

        Raises:
            DataValidationError: a required file is missing or cannot be read at all; the
                report lists every problem with file, line and what to do.
        """
        from ._dataset_files import from_dataset_files

        return from_dataset_files(cls, files)

    # -- upload bodies (the /models generation) -----------------------------------------------

    def to_upload_payload(self) -> dict[str, dict[str, str]]:
        """The ``POST /models/{id}/uploads`` body: each part as ``{"type", "content"}``."""
        body = {"job_description": {"type": "json", "content": self.job_description.to_json()}}
        parts: list[tuple[str, _Table[Any] | None]] = [
            ("train_data", self.train),
            ("test_data", self.test),
            ("unstructured_data", self.unstructured),
        ]
        for key, table in parts:
            if table is not None:
                fmt = table.format or "csv"
                body[key] = {"type": fmt, "content": table.to_text(fmt)}
        body["config"] = {
            "type": self.config.source_format(),
            "content": self.config.source_text(),
        }
        return body

    @classmethod
    def from_upload_payload(cls, body: Mapping[str, Any]) -> TaskBundle:
        """Parse an upload body with the same readers as :meth:`from_dir`; findings name the
        part as a file (``train_data`` of type csv is ``"train.csv"``).

        Raises:
            DataValidationError: a required part is missing or malformed, or cannot be read.
        """
        found = _Collector()
        if not isinstance(body, Mapping):
            found.fail(
                _error(
                    "invalid_payload",
                    None,
                    "the upload body must be a JSON object "
                    "with job_description, train_data and test_data.",
                )
            )
            found.raise_if_fatal()
        for key in body:
            if key not in _PAYLOAD_PARTS:
                found.fail(
                    _error(
                        "invalid_payload",
                        None,
                        f"unknown part {key!r}; expected {', '.join(_PAYLOAD_PARTS)}.",
                        column=key,
                    )
                )
        loaded: dict[str, Any] = {}
        for key, (stem, types, required) in _PAYLOAD_PARTS.items():
            part = body.get(key)
            if part is None:
                if required:
                    found.fail(
                        _error(
                            "missing_file",
                            None,
                            f"the part {key!r} is missing; add "
                            f'{{"type": "{types[0]}", "content": "..."}}.',
                            column=key,
                        )
                    )
                continue
            kind = part.get("type") if isinstance(part, Mapping) else None
            content = part.get("content") if isinstance(part, Mapping) else None
            if kind not in types or not isinstance(content, str):
                found.fail(
                    _error(
                        "invalid_payload",
                        None,
                        f"the part {key!r} must be "
                        f'{{"type": {" or ".join(map(repr, types))}, "content": <text>}}.',
                        column=key,
                    )
                )
                continue
            loaded[key] = found.load(_payload_loader(key, f"{stem}.{kind}", kind, content))
        found.raise_if_fatal()
        return cls(
            loaded["job_description"],
            loaded["train_data"],
            loaded["test_data"],
            loaded.get("unstructured_data"),
            loaded.get("config"),
        )


def _suffix(format: str | None) -> str | None:
    if format not in (None, "csv", "jsonl", "chat"):
        raise ValueError(f"format must be 'csv', 'jsonl' or 'chat', not {format!r}")
    return "jsonl" if format == "chat" else format


def _payload_loader(key: str, file: str, kind: str, content: str) -> Callable[[], Any]:
    if key == "job_description":
        return lambda: JobDescription.from_bytes(content, file=file)
    if key == "config":
        return lambda: TaskConfig.from_text(
            content, format="json" if kind == "json" else "yaml", file=file
        )
    table = UnlabelledDataset if key == "unstructured_data" else LabelledDataset
    fmt: TableFormat = "jsonl" if kind == "jsonl" else "csv"
    return lambda: table.from_bytes(content, format=fmt, file=file)


def _pick(
    found: _Collector, root: Path, stem: str, suffixes: tuple[str, ...], required: bool
) -> Path | None:
    """The one existing ``stem.<suffix>`` file; none or several are findings."""
    present = [root / f"{stem}{s}" for s in suffixes if (root / f"{stem}{s}").is_file()]
    if len(present) > 1:
        names = " and ".join(p.name for p in present)
        found.fail(
            _error(
                "ambiguous_file",
                present[0].name,
                f"both {names} exist in {root}; keep only one of them.",
            )
        )
        return None
    if not present:
        if required:
            names = " or ".join(f"{stem}{s}" for s in suffixes)
            found.fail(
                _error("missing_file", f"{stem}{suffixes[0]}", f"no {names} in {root}; add it.")
            )
        return None
    return present[0]


def _load_table(
    found: _Collector, root: Path, stem: str, table: type[_T], required: bool
) -> _T | None:
    path = _pick(found, root, stem, _TABLE_SUFFIXES, required)
    if path is None:
        return None
    result: _T | None = found.load(lambda: table.from_file(path))
    return result
