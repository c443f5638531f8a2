"""Typed models: the task (job description, config), its data and validation findings."""

from .data import Example, LabelledDataset, TaskBundle, UnlabelledDataset
from .task import (
    BaseSection,
    EvaluationConfig,
    JobDescription,
    SynthgenConfig,
    TaskConfig,
    TuningConfig,
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
    "TuningConfig",
    "UnlabelledDataset",
    "ValidationReport",
    "validate_bundle",
]
