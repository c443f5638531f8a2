"""distil_sdk: train small text classifiers by distillation and run them locally.

The public surface is re-exported here; everything else is private. ``LocalClassifier`` and
``Prediction`` load torch/transformers lazily, so ``import distil_sdk`` stays light for users of
the client alone.

Example::

    from distil_sdk import DistilClient, LocalClassifier

    with DistilClient.local() as client:          # or DistilClient() for the hosted platform
        trained = client.train("examples/helpdesk-triage", "runs/triage")
    print(LocalClassifier.from_pretrained(trained.model_dir).predict(["I forgot my password"]))
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._client import AsyncDistilClient, DistilClient
from ._errors import (
    APIConnectionError,
    APIError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    ConflictError,
    DataValidationError,
    DistilError,
    GoneError,
    InternalServerError,
    JobFailedError,
    JobNotFinishedError,
    JobResultsMissingError,
    JobTimeoutError,
    JobWaitInterruptedError,
    ModelLoadError,
    NotFoundError,
    OverrideError,
    PaymentRequiredError,
    PermissionDeniedError,
    RateLimitError,
    UnprocessableEntityError,
    UnsafeArchiveError,
)
from ._version import __version__
from .resources import Override
from .resources._train import TrainInterrupted, TrainProgress
from .types._task_types import TaskType
from .types.data import Example, LabelledDataset, TaskBundle, Traces, UnlabelledDataset
from .types.entities import (
    SLM,
    ApiKey,
    CompletedSLMMetrics,
    CompletedTeacherEvaluationMetrics,
    CreatedApiKey,
    CreditBalances,
    Dataset,
    DatasetDownload,
    DatasetMetrics,
    DatasetSample,
    DeploymentEndpoint,
    DeploymentStatus,
    DownloadMetadata,
    EndpointTrace,
    EndpointTracesPage,
    EntityStatus,
    InferenceEndpoint,
    JobLogs,
    OpenAIConfig,
    PreparedTraces,
    SeedDataset,
    SeedDatasetDownload,
    SLMDownload,
    SLMDownloadMetadata,
    SLMMetrics,
    TeacherEvaluationMetrics,
    TracesExport,
    TrainedModel,
    TrainingDataset,
    TrainingDatasetDownload,
)
from .types.jobs import (
    ClassMetrics,
    CompletedEvaluationResults,
    CompletedTeacherEvaluationStatus,
    Deployment,
    EvaluationResults,
    JobStage,
    JobStatus,
    Metrics,
    Model,
    ModelDownload,
    TeacherEvaluation,
    TeacherEvaluationStatus,
    Training,
    TrainingStatus,
    TrainingTask,
    Upload,
    UploadStatus,
)
from .types.jobs import Prediction as EvaluationPrediction
from .types.task import (
    BaseSection,
    EvaluationConfig,
    JobDescription,
    SynthgenConfig,
    TaskConfig,
    TuningConfig,
)
from .types.validation import Finding, ValidationReport, validate_bundle

if TYPE_CHECKING:
    from .inference import (
        Calibration,
        EvaluationReport,
        LocalClassifier,
        ModelPrompt,
        Prediction,
        ThresholdChoice,
        threshold_for_precision,
    )
    from .inference._compare import ModelComparison, compare_models
    from .inference._suggest import SuggestedExample, Suggestions, suggest_examples


__all__ = [
    "SLM",
    "APIConnectionError",
    "APIError",
    "APIStatusError",
    "APITimeoutError",
    "ApiKey",
    "AsyncDistilClient",
    "AuthenticationError",
    "BadRequestError",
    "BaseSection",
    "Calibration",
    "ClassMetrics",
    "CompletedEvaluationResults",
    "CompletedSLMMetrics",
    "CompletedTeacherEvaluationMetrics",
    "CompletedTeacherEvaluationStatus",
    "ConflictError",
    "CreatedApiKey",
    "CreditBalances",
    "DataValidationError",
    "Dataset",
    "DatasetDownload",
    "DatasetMetrics",
    "DatasetSample",
    "Deployment",
    "DeploymentEndpoint",
    "DeploymentStatus",
    "DistilClient",
    "DistilError",
    "DownloadMetadata",
    "EndpointTrace",
    "EndpointTracesPage",
    "EntityStatus",
    "EvaluationConfig",
    "EvaluationPrediction",
    "EvaluationReport",
    "EvaluationResults",
    "Example",
    "Finding",
    "GoneError",
    "InferenceEndpoint",
    "InternalServerError",
    "JobDescription",
    "JobFailedError",
    "JobLogs",
    "JobNotFinishedError",
    "JobResultsMissingError",
    "JobStage",
    "JobStatus",
    "JobTimeoutError",
    "JobWaitInterruptedError",
    "LabelledDataset",
    "LocalClassifier",
    "Metrics",
    "Model",
    "ModelComparison",
    "ModelDownload",
    "ModelLoadError",
    "ModelPrompt",
    "NotFoundError",
    "OpenAIConfig",
    "Override",
    "OverrideError",
    "PaymentRequiredError",
    "PermissionDeniedError",
    "Prediction",
    "PreparedTraces",
    "RateLimitError",
    "SLMDownload",
    "SLMDownloadMetadata",
    "SLMMetrics",
    "SeedDataset",
    "SeedDatasetDownload",
    "SuggestedExample",
    "Suggestions",
    "SynthgenConfig",
    "TaskBundle",
    "TaskConfig",
    "TaskType",
    "TeacherEvaluation",
    "TeacherEvaluationMetrics",
    "TeacherEvaluationStatus",
    "ThresholdChoice",
    "Traces",
    "TracesExport",
    "TrainInterrupted",
    "TrainProgress",
    "TrainedModel",
    "Training",
    "TrainingDataset",
    "TrainingDatasetDownload",
    "TrainingStatus",
    "TrainingTask",
    "TuningConfig",
    "UnlabelledDataset",
    "UnprocessableEntityError",
    "UnsafeArchiveError",
    "Upload",
    "UploadStatus",
    "ValidationReport",
    "__version__",
    "compare_models",
    "suggest_examples",
    "threshold_for_precision",
    "validate_bundle",
]

_LAZY = {
    "Calibration",
    "EvaluationReport",
    "LocalClassifier",
    "ModelPrompt",
    "Prediction",
    "ThresholdChoice",
    "threshold_for_precision",
}
#: Lazy names from the inference package's private modules (they need torch, too).
_LAZY_MODULES = {
    "ModelComparison": "_compare",
    "compare_models": "_compare",
    "SuggestedExample": "_suggest",
    "Suggestions": "_suggest",
    "suggest_examples": "_suggest",
}


def __getattr__(name: str) -> Any:
    # torch and transformers are heavy: import the inference package on first use only.
    if name in _LAZY:
        from . import inference

        return getattr(inference, name)
    if name in _LAZY_MODULES:
        import importlib

        module = importlib.import_module(f".inference.{_LAZY_MODULES[name]}", __name__)
        return getattr(module, name)
    raise AttributeError(f"module 'distil_sdk' has no attribute {name!r}")
