"""TaskBundle: a Dataset folder, a seed-era task folder or an upload body, read with one parser
(re-exported by data.py)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

from .._errors import DataValidationError
from ._dataset_files import DATASET_FILES
from ._datasets import LabelledDataset, UnlabelledDataset, _Table
from ._io import TableFormat
from ._task_types import TaskType
from ._traces import TRACES_FILE, Traces, observation_format_of
from .task import JOB_DESCRIPTION_FILE, JobDescription, TaskConfig
from .validation import Finding, ValidationReport, validate_bundle

_T = TypeVar("_T", bound=_Table[Any])

_TABLE_SUFFIXES = (".csv", ".jsonl")
_CONFIG_SUFFIXES = (".yaml", ".yml", ".json")


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
    """Everything a Dataset holds for one task: job description, config, and the optional
    train and test splits and traces (a split left out is empty); a seed-era task folder may
    add unlabelled texts (``unstructured``), which travel to a Dataset as traces.

    Example:
        >>> bundle = TaskBundle.from_dir("my-task")  # doctest: +SKIP
        >>> report = bundle.validate()  # doctest: +SKIP
        >>> report.raise_for_errors()  # doctest: +SKIP
        >>> files = bundle.to_dataset_files()  # doctest: +SKIP
    """

    def __init__(
        self,
        job_description: JobDescription,
        train: LabelledDataset | None = None,
        test: LabelledDataset | None = None,
        unstructured: UnlabelledDataset | None = None,
        config: TaskConfig | None = None,
        *,
        traces: Traces | None = None,
    ) -> None:
        self.job_description = job_description
        self.train = train if train is not None else LabelledDataset()
        self.test = test if test is not None else LabelledDataset()
        self.unstructured = unstructured
        self.traces = traces
        self.config = config if config is not None else TaskConfig()

    @property
    def task(self) -> TaskType:
        """The task type (``base.task`` of the config): ``classification``,
        ``question-answering``, ``chat-completion`` or ``chat-completion-agentic``."""
        return self.config.task_type

    @property
    def unlabelled(self) -> UnlabelledDataset | None:
        """The in-domain inputs without labels, what a teacher labels for distillation: the
        seed's unlabelled texts, then the first user turn of each trace (blank and repeated
        texts left out); ``None`` when the task has neither."""
        if self.unstructured is None and self.traces is None:
            return None
        texts = list(self.unstructured.texts) if self.unstructured is not None else []
        if self.traces is not None:
            texts += self.traces.user_texts(observation_format_of(self.config))
        return UnlabelledDataset(dict.fromkeys(t for t in texts if t.strip()))

    def dataset_traces(self) -> Traces | None:
        """The traces a Dataset of this task holds: its own, then one per unlabelled text of
        the seed's ``unstructured`` file, in the config's ``trace_processing.
        observation_format`` (today's Dataset has no file for unlabelled texts)."""
        if self.unstructured is None or not len(self.unstructured):
            return self.traces
        mapped = Traces.from_texts(self.unstructured.texts, observation_format_of(self.config))
        return mapped if self.traces is None else self.traces + mapped

    @property
    def labels(self) -> list[str]:
        """The class names in job description order."""
        return self.job_description.labels

    def validate(self) -> ValidationReport:
        """Every finding: what reading the files found plus the content checks
        (docs/task-format.md lists the codes). Never raises for bad data."""
        return validate_bundle(self)

    def _parts(self) -> tuple[Any, ...]:
        return (
            self.job_description,
            self.train,
            self.test,
            self.unstructured,
            self.traces,
            self.config,
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, TaskBundle):
            return NotImplemented
        return self._parts() == other._parts()

    __hash__ = None  # type: ignore[assignment]  # mutable

    def __repr__(self) -> str:
        extra = f", unstructured={len(self.unstructured)}" if self.unstructured is not None else ""
        extra += f", traces={len(self.traces)}" if self.traces is not None else ""
        head = f"labels={self.labels!r}" if self.task == "classification" else f"task={self.task!r}"
        return f"TaskBundle({head}, train={len(self.train)}, test={len(self.test)}{extra})"

    # -- folders -----------------------------------------------------------------------------

    @classmethod
    def from_dir(cls, path: str | Path) -> TaskBundle:
        """Read a Dataset folder or a seed-era task folder.

        Today's Dataset folder (what ``client.datasets.download_files`` writes):
        ``job_description.json``, ``config.yaml`` and the optional ``train.jsonl``,
        ``test.jsonl`` (chat rows) and ``traces.jsonl``; a split left out is empty. The seed's
        folder is read too: ``train.csv|jsonl`` and ``test.csv|jsonl`` with ``question``/
        ``answer`` columns, an optional ``unstructured.csv|jsonl`` (``context``) of unlabelled
        texts, ``config.yaml|yml|json``.

        Raises:
            DataValidationError: the job description is missing, a file is ambiguous
                (``train.csv`` *and* ``train.jsonl``) or cannot be read as a dataset at all; the
                report lists every problem found in the folder, not just the first.
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
                            "job_description.json, config.yaml and train.jsonl / test.jsonl.",
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
                    f"no {JOB_DESCRIPTION_FILE} in {root}; add it (task_description and, for "
                    "classification, classes_description).",
                )
            )
        train = _load_table(found, root, "train", LabelledDataset)
        test = _load_table(found, root, "test", LabelledDataset)
        unstructured = _load_table(found, root, "unstructured", UnlabelledDataset)
        traces_path = root / TRACES_FILE
        traces = (
            found.load(lambda: Traces.from_file(traces_path)) if traces_path.is_file() else None
        )
        config_path = _pick(found, root, "config", _CONFIG_SUFFIXES)
        config = found.load(lambda: TaskConfig.from_file(config_path)) if config_path else None
        found.raise_if_fatal()
        assert job is not None  # not fatal means the job description loaded
        return cls(job, train, test, unstructured, config, traces=traces)

    def to_dir(self, path: str | Path, *, format: str | None = None) -> Path:
        """Write the bundle as a task folder (each file atomically); returns the folder.

        Each dataset keeps the format it was read from (CSV otherwise) unless ``format``
        (``"csv"``, ``"jsonl"`` or ``"chat"``: a Dataset folder of today, chat rows, the
        unlabelled texts as traces) is given. An empty split is left out. Refuses to leave both
        ``train.csv`` and ``train.jsonl`` behind, which `from_dir` could not read.
        """
        from ._io import atomic_write_text

        root = Path(path)
        tables: list[tuple[str, _Table[Any]]] = [
            (stem, table)
            for stem, table in (("train", self.train), ("test", self.test))
            if len(table)
        ]
        traces = self.dataset_traces() if format == "chat" else self.traces
        if self.unstructured is not None and format != "chat":
            tables.append(("unstructured", self.unstructured))
        targets = [
            (root / f"{stem}.{_suffix(format) or table.format or _default_format(table)}", table)
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
        if traces is not None and len(traces):
            atomic_write_text(root / TRACES_FILE, traces.to_text())
        # The user's own YAML (comments kept) when the config is unchanged since reading.
        config = self.config
        text = config.source_text() if config.source_format() == "yaml" else config.to_yaml()
        atomic_write_text(root / "config.yaml", text)
        return root

    # -- the current platform's files (POST /datasets) ---------------------------------------

    def to_dataset_files(self) -> dict[str, bytes]:
        """The files of a ``POST /datasets`` body, keyed by the body's field: ``config`` (the
        YAML the user wrote when unchanged since reading, else a fresh dump),
        ``job_description`` (JSON), and ``train_data`` / ``test_data`` (JSONL chat rows) and
        ``traces`` (JSONL) when they have rows. The seed's unlabelled texts are appended to the
        traces, one user turn each, in ``trace_processing.observation_format``.

        Example:
            >>> files = TaskBundle.from_dir("my-task").to_dataset_files()  # doctest: +SKIP
            >>> files["train_data"].splitlines()[0]  # doctest: +SKIP
            b'{"messages": [{"role": "user", "content": "..."}, {"role": "assistant", ...}]}'
        """
        from ._dataset_files import to_dataset_files

        return to_dataset_files(self)

    @classmethod
    def from_dataset_files(cls, files: Mapping[str, bytes]) -> TaskBundle:
        """Read the files of a ``POST /datasets`` body (see `to_dataset_files`); flat
        ``question``/``answer`` rows and the seed's ``unstructured_data`` are read too. Findings
        name the file as the platform stores it (``train_data`` is ``"train.jsonl"``).

        Raises:
            DataValidationError: ``config`` or ``job_description`` is missing, or a file
                cannot be read at all; the report lists every problem with file, line and what
                to do.
        """
        from ._dataset_files import from_dataset_files

        return from_dataset_files(cls, files)

    # -- upload bodies (the /models generation) -----------------------------------------------

    def to_upload_payload(self) -> dict[str, dict[str, str]]:
        """The ``POST /models/{id}/uploads`` body: each part as ``{"type", "content"}``. That
        generation has no traces: their user turns join the unlabelled texts
        (``unstructured_data``), the place it had for them."""
        body = {"job_description": {"type": "json", "content": self.job_description.to_json()}}
        parts: list[tuple[str, _Table[Any] | None]] = [
            ("train_data", self.train),
            ("test_data", self.test),
            ("unstructured_data", self.unstructured if self.traces is None else self.unlabelled),
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
        """Parse an upload body with the same readers as `from_dir`; findings name the
        part as a file (``train_data`` of type csv is ``"train.csv"``).

        Raises:
            DataValidationError: a required part is missing or malformed, or cannot be read.
        """
        found = _Collector()
        parts = [f for f in DATASET_FILES if f.upload_types]
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
            if key not in {f.field for f in parts}:
                found.fail(
                    _error(
                        "invalid_payload",
                        None,
                        f"unknown part {key!r}; expected {', '.join(f.field for f in parts)}.",
                        column=key,
                    )
                )
        loaded: dict[str, Any] = {}
        for entry in parts:
            key, types = entry.field, entry.upload_types
            part = body.get(key)
            if part is None:
                if entry.upload_required:
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
            loaded[key] = found.load(_payload_loader(key, f"{entry.stem}.{kind}", kind, content))
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


def _default_format(table: _Table[Any]) -> str:
    # Chat rows (any task type's conversations) only fit JSONL.
    return "jsonl" if getattr(table, "_chat", False) else "csv"


def _pick(found: _Collector, root: Path, stem: str, suffixes: tuple[str, ...]) -> Path | None:
    """The one existing ``stem.<suffix>`` file (``None``: there is none); several are a
    finding."""
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
    return present[0] if present else None


def _load_table(found: _Collector, root: Path, stem: str, table: type[_T]) -> _T | None:
    """The split ``stem`` of the folder; ``None`` when it has no file, or an empty ``.jsonl``
    one (an empty split, as on the platform: the seed's CSV files still need rows)."""
    path = _pick(found, root, stem, _TABLE_SUFFIXES)
    if path is None:
        return None
    if path.suffix == ".jsonl" and _blank(path):
        return None
    result: _T | None = found.load(lambda: table.from_file(path))
    return result


def _blank(path: Path) -> bool:
    with path.open("rb") as fh:
        return not fh.read(1 << 16).strip() and path.stat().st_size < (1 << 16)
