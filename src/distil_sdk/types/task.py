"""The task definition: ``job_description.json`` and ``config.yaml``.

Defaults and ranges follow the distil labs platform's configuration reference
(docs/task-format.md lists them). Keys this SDK does not know are kept and sent as they are -
the platform evolves faster than the SDK - but each one triggers a warning naming the key and
its section, because an unknown key is usually a typo.

Example:
    >>> jd = JobDescription(task_description="Route bank requests.",
    ...                     classes_description={"card": "Card issues", "fee": "Fees"})
    >>> jd.labels
    ['card', 'fee']
    >>> config = TaskConfig(tuning=TuningConfig(num_train_epochs=8))
    >>> config.synthgen.teacher_temperature
    0.7
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import ClassVar

from pydantic import ConfigDict, Field, field_validator

from .._errors import DataValidationError
from ._config import (
    BaseSection,
    EvaluationConfig,
    SynthgenConfig,
    TaskConfig,
    TuningConfig,
    _fatal,
    _read_limited,
)
from ._io import read_text
from ._limits import LIMITS, LimitError, file_too_large, load_json
from ._model import _SdkModel
from .validation import ValidationReport

__all__ = [
    "BaseSection",
    "EvaluationConfig",
    "JobDescription",
    "SynthgenConfig",
    "TaskConfig",
    "TuningConfig",
]

JOB_DESCRIPTION_FILE = "job_description.json"


class JobDescription(_SdkModel):
    """What the classifier should do: a task description and one description per class.

    ``labels`` keeps the order of ``classes_description`` as written in the file, which is the
    label order of trained models. Other documented keys (``synthetic_data_generation_
    instructions``...) are kept as they are.

    Example:
        >>> jd = JobDescription.from_file("my-task/job_description.json")  # doctest: +SKIP
        >>> jd.labels  # doctest: +SKIP
        ['card_payment_fee_charged', 'transfer_fee_charged']
    """

    model_config = ConfigDict(extra="allow")
    _error_code: ClassVar[str] = "invalid_job_description"

    task_description: str = Field(min_length=1)
    classes_description: dict[str, str]

    @field_validator("classes_description")
    @classmethod
    def _classes_usable(cls, value: dict[str, str]) -> dict[str, str]:
        if len(value) < 2:
            raise ValueError(
                f"needs at least 2 classes, found {len(value)}; add one entry per class "
                '(e.g. "class_name": "when this class applies")'
            )
        blank = [k for k in value if not k.strip()]
        if blank:
            raise ValueError("has an empty class name; give every class a name")
        return value

    @property
    def labels(self) -> list[str]:
        """The class names, in file order."""
        return list(self.classes_description)

    @classmethod
    def from_file(cls, path: str | Path) -> JobDescription:
        """Read ``job_description.json``.

        Raises:
            DataValidationError: the file is missing, not UTF-8 JSON, or lacks a required key;
                the report's finding names the file and the key.
        """
        path = Path(path)
        try:
            data = _read_limited(path)
        except OSError as exc:
            raise _fatal(
                path.name,
                "missing_file",
                f"cannot read {path}: {exc.strerror}; "
                "create it with task_description and classes_description.",
            ) from exc
        return cls.from_bytes(data, file=path.name)

    @classmethod
    def from_bytes(cls, data: bytes | str, *, file: str = JOB_DESCRIPTION_FILE) -> JobDescription:
        """Parse the content of a ``job_description.json`` (``file`` names it in errors)."""
        if len(data) > LIMITS.max_config_file_bytes:
            limit = file_too_large(
                len(data), LIMITS.max_config_file_bytes, "DISTIL_MAX_CONFIG_FILE_BYTES"
            )
            raise _fatal(file, limit.code, limit.message)
        text, decode_findings = read_text(data, file)
        if any(f.severity == "error" for f in decode_findings):
            raise DataValidationError(ValidationReport(findings=decode_findings))
        try:
            raw = load_json(text)
        except LimitError as exc:
            where = f" (line {exc.line})" if exc.line else ""
            raise _fatal(
                file, exc.code, f"the job description{where} {exc.message}", row=exc.line
            ) from exc
        except json.JSONDecodeError as exc:
            raise _fatal(
                file,
                "invalid_json",
                f"invalid JSON at line {exc.lineno}, column "
                f"{exc.colno}: {exc.msg}; fix the syntax (a JSON object is expected).",
            ) from None
        if not isinstance(raw, dict):
            raise _fatal(
                file,
                "invalid_json",
                f"expected a JSON object, found {type(raw).__name__}; "
                'write {"task_description": ..., "classes_description": {...}}.',
            )
        for key in ("task_description", "classes_description"):
            if key not in raw:
                raise _fatal(
                    file, "missing_key", f"the key {key!r} is missing; add it.", column=key
                )
        return cls._validate_file(raw, file, "invalid_job_description")

    def to_json(self) -> str:
        """The ``job_description.json`` content (UTF-8, indented, class order kept)."""
        return json.dumps(self.model_dump(), ensure_ascii=False, indent=2) + "\n"
