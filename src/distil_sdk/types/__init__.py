"""Typed models: the task (job description, config), its data and validation findings."""

from ._task_types import TaskType
from .data import Example, LabelledDataset, TaskBundle, Traces, UnlabelledDataset
from .task import (
    BaseSection,
    EvaluationConfig,
    JobDescription,
    SynthgenConfig,
    TaskConfig,
    Tool,
    ToolFunction,
    TuningConfig,
    job_description_findings,
)
from .validation import Finding, Severity, ValidationReport, validate_bundle

__all__ = [
    "BaseSection",
    "EvaluationConfig",
    "Example",
    "Finding",
    "JobDescription",
    "LabelledDataset",
    "Severity",
    "SynthgenConfig",
    "TaskBundle",
    "TaskConfig",
    "TaskType",
    "Tool",
    "ToolFunction",
    "Traces",
    "TuningConfig",
    "UnlabelledDataset",
    "ValidationReport",
    "job_description_findings",
    "validate_bundle",
]
