"""Local inference: `LocalClassifier` and its `Prediction` results.

Importing this package is cheap; torch and transformers load on first use.
"""

from ._calibration import (
    Calibration,
    CoveragePoint,
    ReliabilityBin,
    ThresholdChoice,
    expected_calibration_error,
    reliability_bins,
)
from ._report import ClassScores, EvaluationReport, MissingDependencyError, local_extra_missing

# The plain install (`pip install distil-sdk`: the client, validation and the CLI) has none of
# the local extra's packages: say which extra to install, not which module was missing.
try:
    from ._classifier import LocalClassifier, Prediction, threshold_for_precision
    from ._precision import PrecisionCheck, PrecisionCheckError
    from ._prompt import ModelPrompt, build_classification_messages
except ModuleNotFoundError as exc:
    missing = local_extra_missing(exc)
    if missing is None:
        raise
    raise missing from exc

__all__ = [
    "Calibration",
    "ClassScores",
    "CoveragePoint",
    "EvaluationReport",
    "LocalClassifier",
    "MissingDependencyError",
    "ModelPrompt",
    "PrecisionCheck",
    "PrecisionCheckError",
    "Prediction",
    "ReliabilityBin",
    "ThresholdChoice",
    "build_classification_messages",
    "expected_calibration_error",
    "reliability_bins",
    "threshold_for_precision",
]
