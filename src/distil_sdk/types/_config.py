"""``config.yaml``: the sections, the platform's current key names and the deprecated old ones.

Defaults, ranges and names follow the platform's configuration reference of 2026
(docs/task-format.md lists them; the newest reference is ``configuration.md`` of
``distil-labs/distil-cli-skill``). ``base.task`` must be one of the four task types
(`distil_sdk.types._task_types`): a retired name is refused naming its replacement.
A config written for the previous platform still loads: every deprecated key the reference
lists ("Deprecated keys") raises a `UserWarning` naming its replacement; a key with a
replacement is moved to its new name (and reported as a warning finding), the others are kept
as given. What is uploaded is the text the user wrote, as long as the config was not changed
after reading (`TaskConfig.source_text`).
"""

from __future__ import annotations

import difflib
import json
import sys
import warnings
from collections.abc import Iterable
from pathlib import Path
from types import FrameType
from typing import Annotated, Any, ClassVar, Literal

import yaml
from pydantic import ConfigDict, Field, PrivateAttr, field_validator, model_validator

from .._errors import DataValidationError
from ._io import read_text
from ._limits import LIMITS, LimitError, file_too_large, load_json, load_yaml
from ._model import _SdkModel
from ._task_types import DEFAULT_TASK_TYPE, TaskType, parse_task_type
from .validation import Finding, ValidationReport

#: Old dotted key -> its current dotted name (``None``: dropped by the platform).
RENAMED_KEYS: dict[str, str | None] = {
    "synthgen.generation_target": "synthgen.train_generation_target",
    "trace_processing.num_traces_as_training_base": "trace_processing.num_train_relabelled",
    "traces_to_test_set.num_traces_to_relabel": "trace_processing.num_test_relabelled",
    "traces_to_test_set.num_synthetic_examples": "synthgen.test_generation_target",
}

#: Every deprecated key of configuration.md § Deprecated keys ("These keys are not part of the
#: config. Each one has a replacement or no equivalent") -> what to use instead (``None``: no
#: equivalent). A key of `RENAMED_KEYS` is moved to its replacement; ``traces_to_test_set``
#: is a removed section, so its other keys are dropped; the rest are kept and sent as given.
DEPRECATED_KEYS: dict[str, str | None] = {
    "synthgen.generation_target": "synthgen.train_generation_target",
    "trace_processing.num_traces_as_training_base": "trace_processing.num_train_relabelled",
    "traces_to_test_set.num_traces_to_relabel": "trace_processing.num_test_relabelled",
    "traces_to_test_set.num_synthetic_examples": "synthgen.test_generation_target",
    "traces_to_test_set.evaluate_original_model": (
        "a teacher evaluation with the production model as base.teacher_model_name"
    ),
    "traces_to_test_set.min_relabelled_examples": None,
    "trace_processing.max_unstructured": None,
    "trace_processing.num_traces_as_testing_base": None,
    "trace_processing.min_generated_examples": None,
    "trace_processing.evaluate_original_model": None,
    "trace_processing.convert_to_single_turn": None,
    "synthgen.generation_per_unstructured_context": None,
    "synthgen.num_distractor_context_blocks": None,
}

#: ``tuning.lora_r`` values the platform trains and deploys (configuration.md § tuning: "One of
#: 8, 16, 32, 64, 128, 256, 320 or 512").
LORA_RANKS: tuple[int, ...] = (8, 16, 32, 64, 128, 256, 320, 512)


def _fatal(
    file: str, code: str, message: str, column: str | None = None, row: int | None = None
) -> DataValidationError:
    finding = Finding(
        severity="error", code=code, file=file, row=row, column=column, message=message
    )
    return DataValidationError(ValidationReport(findings=[finding]))


def did_you_mean(key: str, known: Iterable[str]) -> str:
    """`` Did you mean 'x'?`` (it follows a full stop) for the closest known name, else ``""``."""
    close = difflib.get_close_matches(key, list(known), n=1, cutoff=0.75)
    return f" Did you mean {close[0]!r}?" if close else ""


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


def _deprecated_message(key: str, *, moved: bool, dropped: bool = False) -> str:
    """The warning for a deprecated key of `DEPRECATED_KEYS` (or a dropped
    ``traces_to_test_set.*`` key)."""
    use = DEPRECATED_KEYS.get(key)
    head = f"Deprecated config key {key!r}: "
    if moved and use is not None:
        return (
            head + f"use {use!r} instead; it was read as {use} (the value is kept and sent under "
            "that name)."
        )
    instead = f"use {use} instead" if use is not None else "it has no replacement"
    if dropped:
        return head + f"{instead}; the platform dropped it, so it is ignored - remove it."
    return head + f"{instead}; it is kept and sent to the platform as given - remove it."


def _warn_deprecated(moved: list[tuple[str, str | None]]) -> None:
    """Warn for each ``(old, new)`` pair `rename_old_keys` moved or dropped."""
    for old, new in moved:
        _warn_unknown(_deprecated_message(old, moved=new is not None, dropped=new is None))


class _Section(_SdkModel):
    """A config section: unknown keys are kept (sent to the platform) and warned about."""

    model_config = ConfigDict(extra="allow", validate_assignment=True)
    _section: ClassVar[str] = "config"

    @model_validator(mode="after")
    def _warn_unknown(self) -> _Section:
        for key in self.model_extra or {}:
            _warn_unknown(
                f"Unknown key {key!r} in config section {self._section!r}."
                f"{did_you_mean(key, type(self).model_fields)} It is kept and sent to the "
                "platform as is; check the spelling against docs/task-format.md."
            )
        return self


class BaseSection(_Section):
    """``base``: the task and the models. ``None`` model names mean "the platform's default"."""

    _section: ClassVar[str] = "base"
    _error_prefix: ClassVar[str] = "base."

    task: TaskType = DEFAULT_TASK_TYPE
    visual_task: bool = False
    enable_thinking: bool = False
    student_model_name: str | None = None
    teacher_model_name: str | None = None
    random_seed: int | None = 123
    llm_num_parallel_requests: int = Field(default=4, ge=1)
    should_expand_dataset: bool | Literal["auto"] = "auto"

    @field_validator("task", mode="before")
    @classmethod
    def _task_type(cls, value: Any) -> Any:
        # A retired name is refused naming its replacement, an unknown one listing the four
        # task types (task-types.md; migrating-old-entities.md).
        return parse_task_type(value)


class TuningConfig(_Section):
    """``tuning``: fine-tuning of the student."""

    _section: ClassVar[str] = "tuning"
    _error_prefix: ClassVar[str] = "tuning."

    learning_rate: float = Field(default=5e-5, gt=0)
    learning_rate_scheduler: Literal["cosine", "linear", "constant"] = "linear"
    weight_decay: float = Field(default=0.0, ge=0)
    warmup_ratio: float = Field(default=0.05, ge=0, le=1)
    bf16: bool = True
    use_lora: bool = True
    lora_r: int = 64  # one of LORA_RANKS
    lora_alpha_multiplier: float = Field(default=1, gt=0)
    per_device_train_batch_size: int = Field(default=1, ge=1)
    per_device_eval_batch_size: int = Field(default=1, ge=1)
    num_train_epochs: int = Field(default=4, ge=1)
    train_eval_split: float = Field(default=0.2, gt=0, lt=1)  # inert on the platform
    gradient_accumulation_steps: int = Field(default=1, ge=1)
    num_few_shot_examples_student: int = Field(default=0, ge=0)
    enable_trainer_internal_eval: bool = False
    memory_optimized_training: bool = False
    use_qlora: bool = False
    max_completion_length: int = Field(default=2048, ge=1)
    rlvr_dataset_size: float = Field(default=0.0, ge=0)
    rlvr_llm_as_a_judge_model_name: str | None = None
    rlvr_per_device_batch_size: int = Field(default=6, ge=1)
    rlvr_num_generations: int = Field(default=6, ge=1)
    rlvr_num_train_epochs: int = Field(default=1, ge=1)
    # Documented as inert: the platform returns it in every config, so it must not warn.
    awq_quantize_tuned_model: bool | None = None

    @field_validator("lora_r")
    @classmethod
    def _deployable_rank(cls, value: int) -> int:
        if value not in LORA_RANKS:
            allowed = ", ".join(str(r) for r in LORA_RANKS)
            raise ValueError(
                f"lora_r must be one of {allowed} (the LoRA ranks the platform trains and "
                f"deploys), not {value}"
            )
        return value

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
    _error_prefix: ClassVar[str] = "evaluation."

    num_few_shot_examples: int = Field(default=1, ge=0)
    llm_as_a_judge_model_name: str | None = None
    batch_size: int | None = None  # inert on the platform, see awq_quantize_tuned_model


class SynthgenConfig(_Section):
    """``synthgen``: synthetic data generation by the teacher.

    ``generation_target`` is the old name of ``train_generation_target``; it is still accepted
    (as a keyword and as an attribute).
    """

    _section: ClassVar[str] = "synthgen"
    _error_prefix: ClassVar[str] = "synthgen."

    train_generation_target: int = Field(default=10000, ge=0)
    test_generation_target: int = Field(default=0, ge=0)
    use_traces_as_context: bool = True
    generation_in_single_call: int = Field(default=4, ge=1)
    generation_iteration_size: int = Field(default=128, ge=1)
    generation_per_unstructured_context: int | None = Field(default=None, ge=1)
    num_positive_exemplars_per_generation: int = Field(default=1, ge=0)
    num_negative_exemplars_per_generation: int = Field(default=1, ge=0)
    num_unlabelled_exemplars_per_generation: int = Field(default=1, ge=0)
    validation_max_total_length: int = Field(default=30000, ge=1)
    validation_similarity_threshold: float = Field(default=0.95, ge=0, le=1)
    teacher_temperature: float = Field(default=0.7, ge=0, le=1)
    teacher_max_tokens: int = Field(default=32000, ge=1)
    match_generated_distribution_to_seed: bool = False
    num_distractor_context_blocks: int = Field(default=0, ge=0)
    output_is_json: bool = False
    mutators: list[Any] = Field(default_factory=list)
    mutator_update_frequency: int = Field(default=5, ge=1)
    # null: 1 with tools declared, 0 without; "unlimited" allows any number of parallel calls
    # (data-preparation/chat-completion.md § Tool calls per turn).
    max_tool_calls_per_turn: Annotated[int, Field(ge=0)] | Literal["unlimited"] | None = None
    clean_training_targets: bool = False
    basic_mutators_to_use: list[str] = Field(default_factory=lambda: ["complexity"])  # inert
    mutation_topics: list[Any] = Field(default_factory=list)
    validation_max_answer_length: int | None = None  # inert on the platform
    parallel_llm_calls: int | None = None  # inert on the platform

    #: Deprecated keys of this section that are kept as given (configuration.md § Deprecated
    #: keys: no equivalent); setting one warns, and a full dump leaves them out unless set.
    _deprecated: ClassVar[tuple[str, ...]] = (
        "generation_per_unstructured_context",
        "num_distractor_context_blocks",
    )

    @model_validator(mode="before")
    @classmethod
    def _old_names(cls, data: Any) -> Any:
        if isinstance(data, dict) and "generation_target" in data:
            data = dict(data)
            old = data.pop("generation_target")
            data.setdefault("train_generation_target", old)
            _warn_deprecated([("synthgen.generation_target", "synthgen.train_generation_target")])
        return data

    @model_validator(mode="after")
    def _warn_deprecated_fields(self) -> SynthgenConfig:
        for name in self._deprecated:
            if name in self.model_fields_set:
                _warn_unknown(_deprecated_message(f"synthgen.{name}", moved=False))
        return self

    @property
    def generation_target(self) -> int:
        """The old name of `train_generation_target`."""
        return self.train_generation_target

    @generation_target.setter
    def generation_target(self, value: int) -> None:
        self.train_generation_target = value


def rename_old_keys(raw: dict[str, Any]) -> tuple[dict[str, Any], list[tuple[str, str | None]]]:
    """``raw`` with the old key names moved to the current ones (a new name already present
    wins), and the ``(old, new)`` pairs that were moved (``new`` is ``None``: dropped)."""
    out = {k: dict(v) if isinstance(v, dict) else v for k, v in raw.items()}
    moved: list[tuple[str, str | None]] = []
    for old, new in RENAMED_KEYS.items():
        section, key = old.split(".")
        values = out.get(section)
        if not isinstance(values, dict) or key not in values:
            continue
        value = values.pop(key)
        moved.append((old, new))
        if new is not None:
            new_section, new_key = new.split(".")
            target = out.get(new_section)
            if target is None:
                target = out[new_section] = {}
            if isinstance(target, dict):
                target.setdefault(new_key, value)
    if "traces_to_test_set" in out:  # a removed section: what is left of it is dropped
        legacy = out.pop("traces_to_test_set")
        rest = list(legacy) if isinstance(legacy, dict) else []
        moved += [(f"traces_to_test_set.{key}", None) for key in rest]
        if not isinstance(legacy, dict):
            moved.append(("traces_to_test_set", None))
    return out, moved


class TaskConfig(_SdkModel):
    """The training configuration (``config.yaml``): sections ``base``, ``tuning``,
    ``evaluation``, ``synthgen`` and ``trace_processing``, every value defaulted as on the
    platform.

    Out-of-range values raise `DataValidationError` (``0 <=
    teacher_temperature <= 1``, ``learning_rate > 0``, ``num_train_epochs >= 1``...).
    ``trace_processing`` is kept as given.

    Example:
        >>> config = TaskConfig.from_file("my-task/config.yaml")  # doctest: +SKIP
        >>> config = TaskConfig(synthgen=SynthgenConfig(train_generation_target=2000))
        >>> print(config.to_yaml())
        base:
          task: classification
        synthgen:
          train_generation_target: 2000
        <BLANKLINE>
    """

    model_config = ConfigDict(extra="allow", validate_assignment=True)

    base: BaseSection = Field(default_factory=lambda: BaseSection())
    tuning: TuningConfig = Field(default_factory=lambda: TuningConfig())
    evaluation: EvaluationConfig = Field(default_factory=lambda: EvaluationConfig())
    synthgen: SynthgenConfig = Field(default_factory=lambda: SynthgenConfig())
    trace_processing: dict[str, Any] | None = None

    # Where the config was read from: source text, its dump at reading, renamed keys.
    _origin: dict[str, Any] = PrivateAttr(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _old_names(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        data, moved = rename_old_keys(data)
        _warn_deprecated(moved)
        return data

    @model_validator(mode="after")
    def _warn_unknown_sections(self) -> TaskConfig:
        for key in self.model_extra or {}:
            _warn_unknown(
                f"Unknown config section {key!r}: it is kept and sent to the platform as is; "
                "the documented sections are base, tuning, evaluation, synthgen, trace_processing."
            )
        for key in self._kept_deprecated_trace_keys():
            _warn_unknown(_deprecated_message(key, moved=False))
        return self

    def _kept_deprecated_trace_keys(self) -> list[str]:
        return [
            f"trace_processing.{key}"
            for key in self.trace_processing or {}
            if f"trace_processing.{key}" in DEPRECATED_KEYS
        ]

    @property
    def task_type(self) -> TaskType:
        """The task type, ``base.task`` (checked: one of the four task types)."""
        return self.base.task

    def __eq__(self, other: object) -> bool:
        # Where the config was read from (source text, renamed keys) is not part of its value.
        if not isinstance(other, TaskConfig):
            return NotImplemented
        return self.model_dump() == other.model_dump()

    __hash__ = None  # type: ignore[assignment]

    def unknown_keys(self) -> list[str]:
        """Dotted names of the keys this SDK does not know (``"tuning.learnig_rate"``)."""
        keys = list(self.model_extra or {})
        for name in ("base", "tuning", "evaluation", "synthgen"):
            section: _Section = getattr(self, name)
            keys += [f"{name}.{key}" for key in section.model_extra or {}]
        return keys

    def suggestion(self, dotted_key: str) -> str:
        """`` Did you mean 'tuning.learning_rate'?`` for an unknown key, or ``""``."""
        section, _, key = dotted_key.rpartition(".")
        if not section:
            return did_you_mean(key, type(self).model_fields)
        fields = type(getattr(self, section, None) or self).model_fields
        hint = did_you_mean(key, fields)
        return hint.replace(" Did you mean '", f" Did you mean '{section}.") if hint else ""

    def renamed_keys(self) -> list[tuple[str, str | None]]:
        """The old key names the file read used, as ``(old, current)`` pairs (``current`` is
        ``None`` for a key the platform dropped)."""
        return list(self._origin.get("renamed", []))

    def deprecated_keys(self) -> list[tuple[str, str | None]]:
        """Every deprecated key this config holds or was read with, as ``(key, use instead)``
        pairs (``None``: no equivalent); configuration.md § Deprecated keys lists them.

        The moved ones are also in `renamed_keys`; the others are still in the config
        and sent as given.
        """
        found = [(old, DEPRECATED_KEYS.get(old)) for old, _ in self.renamed_keys()]
        found += [
            (f"synthgen.{name}", None)
            for name in SynthgenConfig._deprecated
            if name in self.synthgen.model_fields_set
        ]
        found += [(key, DEPRECATED_KEYS[key]) for key in self._kept_deprecated_trace_keys()]
        return found

    def to_dict(self, *, full: bool = False) -> dict[str, Any]:
        """The config as plain data, with the current key names.

        By default only what was set explicitly (plus ``base.task``), so that the platform
        applies its own defaults; ``full=True`` writes every value.
        """
        if full:
            data = self.model_dump(mode="json", exclude_none=True)
            # Deprecated keys are not part of the config: written only when set.
            for name in SynthgenConfig._deprecated:
                if name not in self.synthgen.model_fields_set:
                    data["synthgen"].pop(name, None)
            return data
        data = self.model_dump(mode="json", exclude_unset=True)
        # A default section changed in place (config.tuning.x = 1) is not "set" on the config
        # itself, so pydantic's exclude_unset would drop it: each section is dumped on its own.
        for name in ("base", "tuning", "evaluation", "synthgen"):
            section = getattr(self, name).model_dump(mode="json", exclude_unset=True)
            if section or name in data:
                data[name] = section
        # The platform requires base.task even though it is defaulted here; base goes first.
        base = {"task": self.base.task, **data.pop("base", {})}
        return {"base": base, **data}

    def to_yaml(self, *, full: bool = False) -> str:
        """The ``config.yaml`` content (see `to_dict` for ``full``)."""
        return yaml.safe_dump(self.to_dict(full=full), sort_keys=False, allow_unicode=True)

    def source_format(self) -> Literal["yaml", "json"]:
        """The format of `source_text`: ``"json"`` for an unchanged config read from
        JSON, else ``"yaml"``."""
        meta = self._origin
        if "text" in meta and meta.get("snapshot") == self.model_dump(mode="json"):
            return "json" if meta.get("format") == "json" else "yaml"
        return "yaml"

    def source_text(self) -> str:
        """What to upload: the text this config was read from when it is unchanged since (so
        the platform gets what the user wrote, aliases and comments included), else
        `to_yaml`."""
        meta = self._origin
        if "text" in meta and meta.get("snapshot") == self.model_dump(mode="json"):
            return str(meta["text"])
        return self.to_yaml()

    @classmethod
    def from_text(
        cls,
        text: str | bytes,
        *,
        format: Literal["yaml", "json"] = "yaml",
        file: str = "config.yaml",
    ) -> TaskConfig:
        """Parse config content; problems raise `DataValidationError` naming ``file``."""
        if len(text) > LIMITS.max_config_file_bytes:
            limit = file_too_large(
                len(text), LIMITS.max_config_file_bytes, "DISTIL_MAX_CONFIG_FILE_BYTES"
            )
            raise _fatal(file, limit.code, limit.message)
        decoded, decode_findings = read_text(text, file)
        if any(f.severity == "error" for f in decode_findings):
            raise DataValidationError(ValidationReport(findings=decode_findings))
        try:
            raw = load_json(decoded) if format == "json" else load_yaml(decoded)
        except LimitError as exc:
            where = f" (line {exc.line})" if exc.line else ""
            raise _fatal(file, exc.code, f"the config{where} {exc.message}", row=exc.line) from exc
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
            if k not in ("trace_processing", "traces_to_test_set")
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
                column=str(bad[0]),
            )
        raw = {k: v for k, v in raw.items() if v is not None}  # an empty section means defaults
        raw, renamed = rename_old_keys(raw)
        _warn_deprecated(renamed)
        config = cls._validate_file(raw, file, "invalid_config")
        config._origin.update(
            format=format, text=decoded, snapshot=config.model_dump(mode="json"), renamed=renamed
        )
        return config

    @classmethod
    def from_file(cls, path: str | Path) -> TaskConfig:
        """Read ``config.yaml`` / ``config.yml`` / ``config.json`` (format by suffix)."""
        path = Path(path)
        try:
            data = _read_limited(path)
        except OSError as exc:
            raise _fatal(path.name, "missing_file", f"cannot read {path}: {exc.strerror}.") from exc
        fmt: Literal["yaml", "json"] = "json" if path.suffix.lower() == ".json" else "yaml"
        return cls.from_text(data, format=fmt, file=path.name)


def _read_limited(path: Path) -> bytes:
    """The file's bytes; a file over the config limit is refused before it is read."""
    size = path.stat().st_size
    if size > LIMITS.max_config_file_bytes:
        limit = file_too_large(size, LIMITS.max_config_file_bytes, "DISTIL_MAX_CONFIG_FILE_BYTES")
        raise _fatal(path.name, limit.code, limit.message)
    return path.read_bytes()
