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
import sys
import warnings
from pathlib import Path
from types import FrameType
from typing import Any, ClassVar, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from .._errors import DataValidationError
from ._io import read_text
from .validation import Finding, ValidationReport

__all__ = [
    "BaseSection",
    "EvaluationConfig",
    "JobDescription",
    "SynthgenConfig",
    "TaskConfig",
    "TuningConfig",
]

JOB_DESCRIPTION_FILE = "job_description.json"


def _fatal(file: str, code: str, message: str, column: str | None = None) -> DataValidationError:
    finding = Finding(severity="error", code=code, file=file, column=column, message=message)
    return DataValidationError(ValidationReport(findings=[finding]))


def _findings_from_pydantic(exc: ValidationError, file: str, code: str) -> list[Finding]:
    """One finding per pydantic error, located by its dotted key path."""
    findings = []
    for err in exc.errors():
        column = ".".join(str(p) for p in err["loc"]) or None
        got = (
            f" (got {err['input']!r})"
            if "input" in err and not isinstance(err["input"], dict)
            else ""
        )
        findings.append(
            Finding(
                severity="error",
                code=code,
                file=file,
                column=column,
                message=f"{err['msg']}{got}; fix this value in {file}"
                + (" or remove it to use the default." if column else "."),
            )
        )
    return findings


class JobDescription(BaseModel):
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
            data = path.read_bytes()
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
        text, decode_findings = read_text(data, file)
        if any(f.severity == "error" for f in decode_findings):
            raise DataValidationError(ValidationReport(findings=decode_findings))
        try:
            raw = json.loads(text)
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
        try:
            return cls.model_validate(raw)
        except ValidationError as exc:
            raise DataValidationError(
                ValidationReport(
                    findings=_findings_from_pydantic(exc, file, "invalid_job_description")
                )
            ) from None

    def to_json(self) -> str:
        """The ``job_description.json`` content (UTF-8, indented, class order kept)."""
        return json.dumps(self.model_dump(), ensure_ascii=False, indent=2) + "\n"


def _warn_unknown(message: str) -> None:
    """Warn, pointing at the user's line rather than at pydantic or this package."""
    frame: FrameType | None = sys._getframe(0)
    level = 1
    while frame is not None and frame.f_globals.get("__name__", "").startswith(
        ("distil_sdk.", "pydantic.")
    ):
        frame = frame.f_back
        level += 1
    warnings.warn(message, UserWarning, stacklevel=level)


class _Section(BaseModel):
    """A config section: unknown keys are kept (sent to the platform) and warned about."""

    model_config = ConfigDict(extra="allow", validate_assignment=True)
    _section: ClassVar[str] = "config"

    @model_validator(mode="after")
    def _warn_unknown(self) -> _Section:
        for key in self.model_extra or {}:
            _warn_unknown(
                f"Unknown key {key!r} in config section {self._section!r}: it is kept and sent to "
                "the platform as is; check the spelling against docs/task-format.md."
            )
        return self


class BaseSection(_Section):
    """``base``: the task and the models. ``None`` model names mean "the platform's default"."""

    _section: ClassVar[str] = "base"

    task: str = "classification"
    visual_task: bool = False
    student_model_name: str | None = None
    teacher_model_name: str | None = None
    random_seed: int | None = 123
    llm_num_parallel_requests: int = Field(default=4, ge=1)


class TuningConfig(_Section):
    """``tuning``: fine-tuning of the student."""

    _section: ClassVar[str] = "tuning"

    learning_rate: float = Field(default=5e-5, gt=0)
    learning_rate_scheduler: Literal["cosine", "linear", "constant"] = "linear"
    weight_decay: float = Field(default=0.0, ge=0)
    warmup_ratio: float = Field(default=0.05, ge=0, le=1)
    bf16: bool = True
    use_lora: bool = True
    lora_r: int = Field(default=64, ge=1)
    lora_alpha_multiplier: float = Field(default=1, gt=0)
    per_device_train_batch_size: int = Field(default=1, ge=1)
    per_device_eval_batch_size: int = Field(default=1, ge=1)
    num_train_epochs: int = Field(default=4, ge=1)
    train_eval_split: float = Field(default=0.2, gt=0, lt=1)
    gradient_accumulation_steps: int = Field(default=1, ge=1)
    num_few_shot_examples_student: int = Field(default=0, ge=0)
    enable_trainer_internal_eval: bool = False
    memory_optimized_training: bool = False
    use_qlora: bool = False
    rlvr_dataset_size: float = Field(default=0.0, ge=0)
    rlvr_llm_as_a_judge_model_name: str | None = None
    rlvr_per_device_batch_size: int = Field(default=6, ge=1)
    rlvr_num_generations: int = Field(default=6, ge=1)
    rlvr_num_train_epochs: int = Field(default=1, ge=1)
    # Documented as inert: the platform returns it in every config, so it must not warn.
    awq_quantize_tuned_model: bool | None = None

    @model_validator(mode="after")
    def _rlvr_batch(self) -> TuningConfig:
        if (
            self.rlvr_dataset_size > 0
            and self.rlvr_per_device_batch_size % self.rlvr_num_generations
        ):
            raise ValueError(
                f"rlvr_per_device_batch_size ({self.rlvr_per_device_batch_size}) must be a multiple "
                f"of rlvr_num_generations ({self.rlvr_num_generations})"
            )
        return self


class EvaluationConfig(_Section):
    """``evaluation``: the teacher evaluation."""

    _section: ClassVar[str] = "evaluation"

    num_few_shot_examples: int = Field(default=1, ge=0)
    llm_as_a_judge_model_name: str | None = None
    batch_size: int | None = None  # inert on the platform, see awq_quantize_tuned_model


class SynthgenConfig(_Section):
    """``synthgen``: synthetic data generation by the teacher."""

    _section: ClassVar[str] = "synthgen"

    generation_target: int = Field(default=10000, ge=1)
    generation_in_single_call: int = Field(default=4, ge=1)
    generation_iteration_size: int = Field(default=128, ge=1)
    generation_per_unstructured_context: int | None = Field(default=None, ge=1)
    num_positive_exemplars_per_generation: int = Field(default=2, ge=0)
    num_negative_exemplars_per_generation: int = Field(default=2, ge=0)
    num_unlabelled_exemplars_per_generation: int = Field(default=1, ge=0)
    validation_max_total_length: int = Field(default=30000, ge=1)
    validation_similarity_threshold: float = Field(default=0.95, ge=0, le=1)
    teacher_temperature: float = Field(default=0.7, ge=0, le=1)
    teacher_max_tokens: int = Field(default=32000, ge=1)
    match_generated_distribution_to_seed: bool = False
    num_distractor_context_blocks: int = Field(default=0, ge=0)
    output_is_json: bool = False
    basic_mutators_to_use: list[str] = Field(default_factory=lambda: ["complexity"])
    mutation_topics: list[Any] = Field(default_factory=list)
    clean_training_targets: bool = False
    validation_max_answer_length: int | None = None  # inert on the platform
    parallel_llm_calls: int | None = None  # inert on the platform


class TaskConfig(BaseModel):
    """The training configuration (``config.yaml``): sections ``base``, ``tuning``,
    ``evaluation`` and ``synthgen``, every value defaulted as on the platform.

    Out-of-range values raise (``0 < train_eval_split < 1``, ``0 <= teacher_temperature <= 1``,
    ``learning_rate > 0``, ``num_train_epochs >= 1``...). ``trace_processing`` is kept as given.

    Example:
        >>> config = TaskConfig.from_file("my-task/config.yaml")  # doctest: +SKIP
        >>> config = TaskConfig(synthgen=SynthgenConfig(generation_target=2000))
        >>> print(config.to_yaml())
        base:
          task: classification
        synthgen:
          generation_target: 2000
        <BLANKLINE>
    """

    model_config = ConfigDict(extra="allow", validate_assignment=True)

    base: BaseSection = Field(default_factory=lambda: BaseSection())
    tuning: TuningConfig = Field(default_factory=lambda: TuningConfig())
    evaluation: EvaluationConfig = Field(default_factory=lambda: EvaluationConfig())
    synthgen: SynthgenConfig = Field(default_factory=lambda: SynthgenConfig())
    trace_processing: dict[str, Any] | None = None

    @model_validator(mode="after")
    def _warn_unknown_sections(self) -> TaskConfig:
        for key in self.model_extra or {}:
            _warn_unknown(
                f"Unknown config section {key!r}: it is kept and sent to the platform as is; "
                "the documented sections are base, tuning, evaluation, synthgen, trace_processing."
            )
        return self

    def unknown_keys(self) -> list[str]:
        """Dotted names of the keys this SDK does not know (``"tuning.learnig_rate"``)."""
        keys = list(self.model_extra or {})
        for name in ("base", "tuning", "evaluation", "synthgen"):
            section: _Section = getattr(self, name)
            keys += [f"{name}.{key}" for key in section.model_extra or {}]
        return keys

    def to_dict(self, *, full: bool = False) -> dict[str, Any]:
        """The config as plain data.

        By default only what was set explicitly (plus ``base.task``), so that the platform
        applies its own defaults; ``full=True`` writes every value.
        """
        if full:
            return self.model_dump(mode="json", exclude_none=True)
        data = self.model_dump(mode="json", exclude_unset=True)
        # The platform requires base.task even though it is defaulted here; base goes first.
        base = {"task": self.base.task, **data.pop("base", {})}
        return {"base": base, **data}

    def to_yaml(self, *, full: bool = False) -> str:
        """The ``config.yaml`` content (see :meth:`to_dict` for ``full``)."""
        return yaml.safe_dump(self.to_dict(full=full), sort_keys=False, allow_unicode=True)

    @classmethod
    def from_text(
        cls,
        text: str | bytes,
        *,
        format: Literal["yaml", "json"] = "yaml",
        file: str = "config.yaml",
    ) -> TaskConfig:
        """Parse config content; problems raise :class:`DataValidationError` naming ``file``."""
        decoded, decode_findings = read_text(text, file)
        if any(f.severity == "error" for f in decode_findings):
            raise DataValidationError(ValidationReport(findings=decode_findings))
        try:
            raw = json.loads(decoded) if format == "json" else yaml.safe_load(decoded)
        except (json.JSONDecodeError, yaml.YAMLError) as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
            if isinstance(exc, json.JSONDecodeError):
                where = f" at line {exc.lineno}, column {exc.colno}"
            problem = getattr(exc, "problem", None) or getattr(exc, "msg", None) or str(exc)
            raise _fatal(
                file,
                "invalid_config",
                f"invalid {format.upper()}{where}: {problem}; fix the syntax.",
            ) from None
        if raw is None:
            raw = {}
        if not isinstance(raw, dict):
            raise _fatal(
                file,
                "invalid_config",
                f"expected a mapping of sections, found "
                f"{type(raw).__name__}; write e.g. 'base:\\n  task: classification'.",
            )
        bad = [
            k
            for k, v in raw.items()
            if k != "trace_processing"
            and k in cls.model_fields
            and v is not None
            and not isinstance(v, dict)
        ]
        if bad:
            raise _fatal(
                file,
                "invalid_config",
                f"section {bad[0]!r} must be a mapping of keys "
                "to values; indent its keys under it.",
                column=bad[0],
            )
        raw = {k: v for k, v in raw.items() if v is not None}  # an empty section means defaults
        try:
            return cls.model_validate(raw)
        except ValidationError as exc:
            raise DataValidationError(
                ValidationReport(findings=_findings_from_pydantic(exc, file, "invalid_config"))
            ) from None

    @classmethod
    def from_file(cls, path: str | Path) -> TaskConfig:
        """Read ``config.yaml`` / ``config.yml`` / ``config.json`` (format by suffix)."""
        path = Path(path)
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise _fatal(path.name, "missing_file", f"cannot read {path}: {exc.strerror}.") from exc
        fmt: Literal["yaml", "json"] = "json" if path.suffix.lower() == ".json" else "yaml"
        return cls.from_text(data, format=fmt, file=path.name)
