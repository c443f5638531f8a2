"""The task definition: ``job_description.json`` and ``config.yaml``.

Defaults and ranges follow the distil labs platform's configuration reference
(docs/task-format.md lists them). Keys this SDK does not know are kept and sent as they are -
the platform evolves faster than the SDK - but each config key triggers a warning naming the key
and its section, because an unknown key is usually a typo.

The job description is typed per task type (``job-description.md`` of the platform reference):
`job_description_findings` checks what a task type requires of it (classification needs
``classes_description``, ``chat-completion-agentic`` needs ``tools``...).

Example:
    >>> jd = JobDescription(task_description="Route bank requests.",
    ...                     classes_description={"card": "Card issues", "fee": "Fees"})
    >>> jd.labels
    ['card', 'fee']
    >>> job_description_findings(jd, "classification")
    []
    >>> config = TaskConfig(tuning=TuningConfig(num_train_epochs=8))
    >>> config.synthgen.teacher_temperature
    0.7
    >>> config.task_type
    'classification'
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import (
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    field_validator,
    model_serializer,
)

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
from ._task_types import TASK_TYPES, TaskType, task_type_error
from .validation import Finding, ValidationReport

__all__ = [
    "BaseSection",
    "EvaluationConfig",
    "JobDescription",
    "SynthgenConfig",
    "TaskConfig",
    "TaskType",
    "Tool",
    "ToolFunction",
    "TuningConfig",
    "job_description_findings",
]

JOB_DESCRIPTION_FILE = "job_description.json"


class _OmitsUnsetNone(_SdkModel):
    """A model whose dump leaves out the optional fields that were not given, so that a file
    read and written again is unchanged and nothing the user did not write is sent."""

    @model_serializer(mode="wrap")
    def _omit_unset_none(self, handler: SerializerFunctionWrapHandler) -> Any:
        data = handler(self)
        if isinstance(data, dict):
            for name in type(self).model_fields:
                if name not in self.model_fields_set and name in data and data[name] is None:
                    del data[name]
        return data


class ToolFunction(_OmitsUnsetNone):
    """The ``function`` of a tool: the OpenAI function-calling spec (other keys are kept)."""

    model_config = ConfigDict(extra="allow")
    _error_code: ClassVar[str] = "invalid_job_description"

    name: str = Field(min_length=1)
    description: str | None = None
    #: A JSON schema, usually ``{"type": "object", "properties": {...}, "required": [...]}``;
    #: properties may declare ``default`` values.
    parameters: dict[str, Any] | None = None


class Tool(_OmitsUnsetNone):
    """One entry of ``tools``: ``{"type": "function", "function": {"name": ..., ...}}``."""

    model_config = ConfigDict(extra="allow")
    _error_code: ClassVar[str] = "invalid_job_description"

    type: Literal["function"]
    function: ToolFunction


#: The job description keys each task type takes (job-description.md § Fields by task type).
_COMMON_KEYS = (
    "task_description",
    "synthetic_data_generation_instructions",
    "trace_processing_instructions",
)
_TASK_KEYS: dict[TaskType, tuple[str, ...]] = {
    "classification": (*_COMMON_KEYS, "classes_description"),
    "question-answering": (*_COMMON_KEYS, "llm_as_a_judge_instructions"),
    "chat-completion": (*_COMMON_KEYS, "tools", "llm_as_a_judge_instructions"),
    "chat-completion-agentic": (*_COMMON_KEYS, "tools", "llm_as_a_judge_instructions"),
}
#: Keys of the previous platform's QA job description; migrating-old-entities.md: "A QA job
#: description with text in input_description or context_description: remove the two keys."
_RETIRED_KEYS = ("input_description", "context_description")


class JobDescription(_OmitsUnsetNone):
    """What the model should do: ``job_description.json``, typed per task type.

    Every task type has ``task_description``; classification has ``classes_description``, the
    chat completion tasks ``tools``; the other keys are optional. Which keys a task type needs
    or refuses is checked by `job_description_findings`, not when the file is read, so a
    question-answering job description (no classes) reads too. Keys this SDK does not know are
    kept as they are (the platform rejects them: the findings say so).

    ``labels`` keeps the order of ``classes_description`` as written in the file, which is the
    label order of trained models (``[]`` without classes). Optional keys that were not given
    are left out of `to_json` and ``model_dump()``, so a file round-trips unchanged.

    Example:
        >>> jd = JobDescription.from_file("my-task/job_description.json")  # doctest: +SKIP
        >>> jd.labels  # doctest: +SKIP
        ['card_payment_fee_charged', 'transfer_fee_charged']
    """

    model_config = ConfigDict(extra="allow")
    _error_code: ClassVar[str] = "invalid_job_description"

    task_description: str = Field(min_length=1)
    #: Classification only: class name -> when it applies (at least 2 classes).
    classes_description: dict[str, str] | None = None
    #: Chat completion only: OpenAI function schemas with unique names; required for
    #: ``chat-completion-agentic``, optional (``None`` or ``[]``) for ``chat-completion``.
    tools: list[Tool] | None = None
    #: Every task type except classification: how the judge scores a prediction.
    llm_as_a_judge_instructions: str | None = None
    #: All task types: extra guidance for every synthetic-data-generation prompt.
    synthetic_data_generation_instructions: str | None = None
    #: All task types: guidance for the relabelling of traces.
    trace_processing_instructions: str | None = None
    #: Retired keys of the previous platform's QA job description; read so that an old file
    #: loads, reported by `job_description_findings`.
    input_description: str | None = None
    context_description: str | None = None

    @field_validator("classes_description")
    @classmethod
    def _classes_usable(cls, value: dict[str, str] | None) -> dict[str, str] | None:
        if value is None:
            return value
        if len(value) < 2:
            raise ValueError(
                f"needs at least 2 classes, found {len(value)}; add one entry per class "
                '(e.g. "class_name": "when this class applies")'
            )
        blank = [k for k in value if not k.strip()]
        if blank:
            raise ValueError("has an empty class name; give every class a name")
        return value

    @field_validator("tools")
    @classmethod
    def _unique_tool_names(cls, value: list[Tool] | None) -> list[Tool] | None:
        twice = [n for n, c in Counter(t.function.name for t in value or []).items() if c > 1]
        if twice:
            raise ValueError(
                f"tool names must be unique; {twice[0]!r} is declared more than once "
                "(rename or remove the duplicate)"
            )
        return value

    @property
    def labels(self) -> list[str]:
        """The class names, in file order (``[]`` for a job description without classes)."""
        return list(self.classes_description or {})

    @property
    def classes(self) -> dict[str, str]:
        """``classes_description``, or ``{}`` for a job description without classes (for code
        that only handles classification and wants a mapping either way)."""
        return self.classes_description or {}

    @property
    def tool_names(self) -> list[str]:
        """The names of the declared tools, in file order (``[]`` without tools)."""
        return [t.function.name for t in self.tools or []]

    @classmethod
    def from_file(cls, path: str | Path) -> JobDescription:
        """Read ``job_description.json``.

        Raises:
            DataValidationError: the file is missing, not UTF-8 JSON, not a JSON object, lacks
                ``task_description`` or holds a malformed value; the report's finding names the
                file and the key. What a task type requires is `job_description_findings`.
        """
        path = Path(path)
        try:
            data = _read_limited(path)
        except OSError as exc:
            raise _fatal(
                path.name,
                "missing_file",
                f"cannot read {path}: {exc.strerror}; create it with task_description "
                "(and classes_description for classification).",
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
        if "task_description" not in raw:
            raise _fatal(
                file,
                "missing_key",
                "the key 'task_description' is missing; add it.",
                column="task_description",
            )
        return cls._validate_file(raw, file, "invalid_job_description")

    def to_json(self) -> str:
        """The ``job_description.json`` content (UTF-8, indented, key and class order kept;
        optional keys that were not given are left out)."""
        return json.dumps(self.model_dump(mode="json"), ensure_ascii=False, indent=2) + "\n"


def _finding(file: str, column: str, message: str, code: str, severity: str = "error") -> Finding:
    return Finding(
        severity="warning" if severity == "warning" else "error",
        code=code,
        file=file,
        column=column,
        message=message,
    )


def job_description_findings(
    job: JobDescription,
    task: str,
    file: str = JOB_DESCRIPTION_FILE,
    *,
    config: TaskConfig | None = None,
) -> list[Finding]:
    """What ``job`` lacks or holds wrongly for the task type ``task`` (``config.base.task``),
    as findings on ``file`` whose ``column`` is the key; ``[]`` when it fits.

    The rules of the platform reference (job-description.md, data-preparation/chat-completion.md,
    migrating-old-entities.md):

    * ``classification`` needs ``classes_description`` (at least 2 classes), and refuses
      ``llm_as_a_judge_instructions`` ("the create fails if it is sent").
    * ``chat-completion-agentic`` needs ``tools`` (at least one); ``chat-completion`` may omit
      them, or pass ``null`` or ``[]``.
    * A key that is not a field of the task type's job description is an error ("Unknown fields
      are rejected at validation"): ``classes_description`` outside classification, ``tools``
      outside the chat completion tasks, a misspelt key.
    * ``input_description`` / ``context_description`` with text are the previous platform's QA
      keys: an error saying to remove them (empty: a warning).
    * With ``config``, ``synthgen.max_tool_calls_per_turn`` must match whether tools are
      declared (configuration.md § Cross-field validation): not 0 with tools, and 0 or null
      without (a finding on ``config.yaml``).

    A retired or unknown ``task`` gives one error on ``config.yaml``, column ``base.task``.
    """
    error = task_type_error(task)
    if error is not None:
        return [_finding("config.yaml", "base.task", error + ".", "invalid_task_type")]
    task_type: TaskType = next(t for t in TASK_TYPES if t == task)
    allowed = _TASK_KEYS[task_type]
    given = set(job.model_fields_set) | set(job.model_extra or {})
    findings = _required_keys_findings(job, task_type, file)
    findings += _retired_keys_findings(job, given, file)
    for key in sorted(given - set(allowed) - set(_RETIRED_KEYS)):
        findings.append(_not_for_task(file, key, task_type, allowed, job))
    if config is not None and task_type in ("chat-completion", "chat-completion-agentic"):
        findings += _tool_calls_findings(job, config)
    return findings


def _required_keys_findings(job: JobDescription, task_type: TaskType, file: str) -> list[Finding]:
    """The keys ``task_type`` needs beside ``task_description``."""
    if task_type == "classification" and job.classes_description is None:
        return [
            _finding(
                file,
                "classes_description",
                "a classification job description needs classes_description: add one entry "
                'per class, at least 2 ("class_name": "when this class applies").',
                "missing_key",
            )
        ]
    if task_type == "chat-completion-agentic" and not job.tools:
        return [
            _finding(
                file,
                "tools",
                "chat-completion-agentic requires tools: add the OpenAI function schema of "
                'every tool the model calls ({"type": "function", "function": {"name": ..., '
                '"description": ..., "parameters": {...}}}), or use chat-completion for a '
                "model without tools.",
                "missing_key",
            )
        ]
    return []


def _retired_keys_findings(job: JobDescription, given: set[str], file: str) -> list[Finding]:
    """The previous platform's QA keys: an error with text in them, a warning when empty."""
    findings: list[Finding] = []
    for key in _RETIRED_KEYS:
        if key not in given:
            continue
        value = getattr(job, key)
        has_text = isinstance(value, str) and value.strip() != ""
        findings.append(
            _finding(
                file,
                key,
                f"{key} is a key of the previous platform's job description, which the "
                "platform no longer accepts with text in it: remove it (describe the inputs in "
                "task_description or synthetic_data_generation_instructions)."
                if has_text
                else f"{key} is a key of the previous platform's job description; remove it.",
                "retired_key",
                "error" if has_text else "warning",
            )
        )
    return findings


def _not_for_task(
    file: str, key: str, task: TaskType, allowed: tuple[str, ...], job: JobDescription
) -> Finding:
    fields = ", ".join(allowed)
    if key == "llm_as_a_judge_instructions" and task == "classification":
        message = (
            "llm_as_a_judge_instructions is not valid for classification (the platform's create "
            "fails when it is sent; classification is scored by label accuracy): remove it."
        )
        return _finding(file, key, message, "key_not_allowed")
    owners = [t for t, keys in _TASK_KEYS.items() if key in keys]
    if owners:
        if key == "tools" and not job.tools:  # an empty or null tools list declares nothing
            return _finding(
                file,
                key,
                f"a {task} job description has no tools; remove the key.",
                "key_not_allowed",
                "warning",
            )
        message = (
            f"{key} is not a field of a {task} job description (it belongs to "
            f"{' and '.join(owners)}): remove it, or set base.task to the task type it belongs "
            f"to. The fields of {task} are: {fields}."
        )
        return _finding(file, key, message, "key_not_allowed")
    message = (
        f"{key} is not a job description field and the platform rejects unknown fields: remove "
        f"it or fix its spelling. The fields of {task} are: {fields}."
    )
    return _finding(file, key, message, "unknown_key")


def _tool_calls_findings(job: JobDescription, config: TaskConfig) -> list[Finding]:
    cap = config.synthgen.max_tool_calls_per_turn
    column = "synthgen.max_tool_calls_per_turn"
    if job.tools and cap == 0:
        return [
            _finding(
                "config.yaml",
                column,
                "is 0 but the job description declares tools; set it to 1 or more, "
                '"unlimited" for parallel calls, or remove it (default: 1 with tools).',
                "tool_calls_mismatch",
            )
        ]
    if not job.tools and cap not in (None, 0):
        return [
            _finding(
                "config.yaml",
                column,
                f"is {cap!r} but the job description declares no tools; set it to 0 or remove "
                "it, or declare the tools in the job description's tools.",
                "tool_calls_mismatch",
            )
        ]
    return []
