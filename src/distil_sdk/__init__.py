"""distil_sdk: train small text classifiers by distillation and run them locally.

The public surface is re-exported here; everything else is private. ``LocalClassifier`` and
``Prediction`` load torch/transformers lazily, so ``import distil_sdk`` stays light for users of
the client alone.

Example::

    from distil_sdk import DistilClient, LocalClassifier

    with DistilClient.local() as client:          # or DistilClient() for the hosted platform
        model = client.v2.models.create(name="triage")
        upload = client.v2.uploads.create(model.id, "examples/helpdesk-triage")
        training = client.v2.trainings.wait(client.v2.trainings.create(model.id, upload.id).id)
        model_dir = client.v2.trainings.download_model(training.id, "runs/triage")
    print(LocalClassifier.from_pretrained(model_dir).predict(["I forgot my password"]))
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
    JobTimeoutError,
    ModelLoadError,
    NotFoundError,
    PaymentRequiredError,
    PermissionDeniedError,
    RateLimitError,
    UnprocessableEntityError,
    UnsafeArchiveError,
)
from .types.data import Example, LabelledDataset, TaskBundle, UnlabelledDataset
from .types.jobs import (
    ClassMetrics,
    Deployment,
    EvaluationResults,
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
    from .inference import LocalClassifier, Prediction

__version__ = "0.1.0"

__all__ = [
    "APIConnectionError",
    "APIError",
    "APIStatusError",
    "APITimeoutError",
    "AsyncDistilClient",
    "AuthenticationError",
    "BadRequestError",
    "BaseSection",
    "ClassMetrics",
    "ConflictError",
    "DataValidationError",
    "Deployment",
    "DistilClient",
    "DistilError",
    "EvaluationConfig",
    "EvaluationPrediction",
    "EvaluationResults",
    "Example",
    "Finding",
    "GoneError",
    "InternalServerError",
    "JobDescription",
    "JobFailedError",
    "JobStatus",
    "JobTimeoutError",
    "LabelledDataset",
    "LocalClassifier",
    "Metrics",
    "Model",
    "ModelDownload",
    "ModelLoadError",
    "NotFoundError",
    "PaymentRequiredError",
    "PermissionDeniedError",
    "Prediction",
    "RateLimitError",
    "SynthgenConfig",
    "TaskBundle",
    "TaskConfig",
    "TeacherEvaluation",
    "TeacherEvaluationStatus",
    "Training",
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
    "validate_bundle",
]

_LAZY = {"LocalClassifier", "Prediction"}


def __getattr__(name: str) -> Any:
    # torch and transformers are heavy: import the inference package on first use only.
    if name in _LAZY:
        from . import inference

        return getattr(inference, name)
    raise AttributeError(f"module 'distil_sdk' has no attribute {name!r}")
