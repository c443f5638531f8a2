"""Local inference: :class:`LocalClassifier` and its :class:`Prediction` results.

Importing this package is cheap; torch and transformers load on first use.
"""

from ._classifier import LocalClassifier, Prediction
from ._precision import PrecisionCheck, PrecisionCheckError
from ._prompt import ModelPrompt, build_classification_messages
from ._report import ClassScores, EvaluationReport, MissingDependencyError

__all__ = [
    "ClassScores",
    "EvaluationReport",
    "LocalClassifier",
    "MissingDependencyError",
    "ModelPrompt",
    "PrecisionCheck",
    "PrecisionCheckError",
    "Prediction",
    "build_classification_messages",
]
