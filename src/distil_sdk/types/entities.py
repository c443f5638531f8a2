"""Wire models of the platform's current route generation: entities made from entities, by id.

The shapes follow the platform's public reference, repository ``distil-labs/distil-cli-skill``,
file ``skills/distil-cli/references/execution/backend-api.md`` in its newest stored version (the
one describing the Dataset, ``POST /datasets/from-datasets[-smoke]``, ``POST /teacher-evaluations``
with ``from_dataset_id``, ``POST /slms/from-datasets[-smoke]`` and inference endpoints), with
``platform.md`` and ``deployment.md`` of the same repository. Where the reference is silent (the
id and message of a status record) the ``/models`` generation's conventions are kept:
``{"id", "status", "message"}``; error bodies are ``{"message": ...}`` as in the recorded answers.

Response models accept unknown fields (``extra="allow"``); request bodies forbid them. Every
entity has one `id` whatever its wire name (an inference endpoint's is
``unique_endpoint_name``).

Example:
    >>> m = SLMMetrics.model_validate({"tuned_model_performance": {"accuracy": 0.9,
    ...     "billing": {"precision": 1.0, "recall": 0.8, "f1-score": 0.89, "support": 5}}})
    >>> m.tuned_model_performance.accuracy, m.tuned_model_performance.per_class["billing"].recall
    (0.9, 0.8)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from ._dataset_files import staging_keys
from ._results import Completed
from ._serving import (
    ApiKey,
    CreateApiKeyRequest,
    CreatedApiKey,
    CreateDeploymentRequest,
    CreateInferenceEndpointRequest,
    CreatePreparedTracesRequest,
    CreateTracesExportRequest,
    CreditBalances,
    Deployment,
    DeploymentEndpoint,
    DeploymentStatus,
    EndpointTrace,
    EndpointTraceMetadata,
    EndpointTracesPage,
    InferenceEndpoint,
    InferenceEndpointFallback,
    OpenAIConfig,
    PreparedTraces,
    PreparedTracesDownload,
    TracesExport,
)
from ._wire import DownloadMetadata, EntityStatus, JobLogs, _Entity, _Request, _Response
from .jobs import Metrics

__all__ = [
    "DATASET_OPERATIONS",
    "DATASET_STAGING_KEYS",
    "LEGACY_FILE_NAMES",
    "PREPARED_TRACES_STAGING_KEYS",
    "SLM",
    "SLM_STAGING_KEYS",
    "ApiKey",
    "CompletedSLMMetrics",
    "CompletedTeacherEvaluationMetrics",
    "CreateApiKeyRequest",
    "CreateDatasetRequest",
    "CreateDeploymentRequest",
    "CreateInferenceEndpointRequest",
    "CreatePreparedTracesRequest",
    "CreateSLMRequest",
    "CreateTeacherEvaluationRequest",
    "CreateTracesExportRequest",
    "CreatedApiKey",
    "CreditBalances",
    "Dataset",
    "DatasetDownload",
    "DatasetFromPreparedTracesRequest",
    "DatasetMetrics",
    "DatasetOperation",
    "DatasetSample",
    "Deployment",
    "DeploymentEndpoint",
    "DeploymentStatus",
    "DeriveDatasetRequest",
    "DownloadMetadata",
    "EndpointTrace",
    "EndpointTraceMetadata",
    "EndpointTracesPage",
    "EntityStatus",
    "InferenceEndpoint",
    "InferenceEndpointFallback",
    "JobLogs",
    "OpenAIConfig",
    "PreparedTraces",
    "PreparedTracesDownload",
    "SLMDownload",
    "SLMDownloadMetadata",
    "SLMMetrics",
    "SeedDataset",
    "SeedDatasetDownload",
    "StagingUrls",
    "TeacherEvaluation",
    "TeacherEvaluationMetrics",
    "TracesExport",
    "TrainedModel",
    "TrainingDataset",
    "TrainingDatasetDownload",
    "UploadSLMRequest",
]


# ------------------------------------------------------------------------------------ staging

# A staging response names a file by extension, a create body names it by field; the reference
# says these maps are the only place that difference is spelled out.
DATASET_STAGING_KEYS: dict[str, str] = staging_keys()  # from the one table of task files
SLM_STAGING_KEYS: dict[str, str] = {"model": "model_tar", "config": "config_yaml"}
PREPARED_TRACES_STAGING_KEYS: dict[str, str] = {"traces_jsonl": "traces_jsonl"}


class StagingUrls(_Response):
    """``GET /staging-<kind>-s3-urls``: one presigned PUT URL per file, keyed by extension.

    Example:
        >>> urls = StagingUrls.model_validate({"train_data_jsonl": "https://s3/x?sig=1"})
        >>> urls.urls["train_data_jsonl"]
        'https://s3/x?sig=1'
    """

    # The keys the reference's staging maps name; any other key a newer platform adds is kept
    # (extra fields are allowed) and reported by `urls` as well.
    config_yaml: str | None = None
    job_description_json: str | None = None
    train_data_jsonl: str | None = None
    test_data_jsonl: str | None = None
    traces_jsonl: str | None = None
    model_tar: str | None = None

    @property
    def urls(self) -> dict[str, str]:
        """Every presigned URL of the answer, by staging key (``train_data_jsonl``...)."""
        declared = {name: getattr(self, name) for name in type(self).model_fields}
        every = {**declared, **(self.model_extra or {})}
        return {k: v for k, v in every.items() if isinstance(v, str) and v}


# ------------------------------------------------------------------------------------ dataset

DatasetOperation = Literal[
    "relabel_traces_train",
    "relabel_traces_test",
    "generate_synthetic_data_train",
    "generate_synthetic_data_test",
]
DATASET_OPERATIONS: tuple[str, ...] = (
    "relabel_traces_train",
    "relabel_traces_test",
    "generate_synthetic_data_train",
    "generate_synthetic_data_test",
)


class Dataset(_Entity):
    """A Dataset: the job input (train, test, traces, config, job description).

    ``operation`` and ``parent_dataset_id`` (or ``parent_prepared_traces_id``) say how it was
    made; walking ``parent_dataset_id`` recovers the chain. A dataset no job produced is
    ``JOB_SUCCESS`` at once.
    """

    operation: str | None = None
    parent_dataset_id: str | None = None
    parent_prepared_traces_id: str | None = None


class CreateDatasetRequest(_Request):
    """Body of ``POST /datasets``: each staged file's URL under its field name.

    ``config`` and ``job_description`` are required; a split left out is an empty split.
    """

    config: str
    job_description: str
    train_data: str | None = None
    test_data: str | None = None
    traces: str | None = None


class DeriveDatasetRequest(_Request):
    """Body of ``POST /datasets/from-datasets[-smoke]``: an expand of a parent dataset.

    ``config`` / ``job_description`` are whole overrides (they replace the parent's file).
    """

    from_: str = Field(alias="from", min_length=1)
    operation: DatasetOperation
    config: dict[str, Any] | None = None
    job_description: dict[str, Any] | None = None


class DatasetFromPreparedTracesRequest(_Request):
    """Body of ``POST /datasets/from-prepared-traces`` (config and job description inline)."""

    from_: str = Field(alias="from", min_length=1)
    config: dict[str, Any]
    job_description: dict[str, Any]


class DatasetMetrics(_Response):
    """``GET /datasets/{id}/metrics``: sizes in bytes (null until ready)."""

    train_data_size_bytes: int | None = None
    test_data_size_bytes: int | None = None
    traces_size_bytes: int | None = None


class DatasetSample(_Response):
    """``GET /datasets/{id}/sample``: up to 128 train rows, free."""

    rows: list[dict[str, Any]] = Field(default_factory=list)


class DatasetDownload(_Response):
    """``GET /datasets/{id}/download``: one presigned URL per file; an empty split is an empty
    file."""

    train_data_url: str | None = None
    test_data_url: str | None = None
    traces_url: str | None = None
    config_url: str | None = None
    job_description_url: str | None = None

    @property
    def urls(self) -> dict[str, str]:
        """The URLs present, by field name (``train_data``, ``config``...)."""
        out: dict[str, str] = {}
        for name in ("train_data", "test_data", "traces", "config", "job_description"):
            value = getattr(self, f"{name}_url")
            if value:
                out[name] = value
        return out


# -------------------------------------------------------------------------- teacher evaluation


class TeacherEvaluation(_Entity):
    """A TeacherEvaluation: how well the teacher does the task on the dataset's test split."""

    dataset_id: str | None = None


class CreateTeacherEvaluationRequest(_Request):
    """Body of ``POST /teacher-evaluations``."""

    from_dataset_id: str = Field(min_length=1)
    config: dict[str, Any] | None = None
    job_description: dict[str, Any] | None = None


class TeacherEvaluationMetrics(_Response):
    """``GET /teacher-evaluations/{id}/metrics``.

    For classification ``teacher_performance`` is scikit-learn's report (``accuracy`` plus one
    row per class), parsed into `Metrics`; other tasks' flat scores are kept
    as its extra fields.
    """

    teacher_performance: Metrics | None = None
    predictions_download_url: str | None = None


class CompletedTeacherEvaluationMetrics(Completed, TeacherEvaluationMetrics):
    """The metrics of a teacher evaluation that succeeded: `teacher_performance` is never
    ``None``. What ``client.teacher_evaluations.results()`` returns.

    Example:
        >>> client.teacher_evaluations.results(ev.id).teacher_performance.accuracy  # doctest: +SKIP
    """

    teacher_performance: Metrics


# ----------------------------------------------------------------------------------------- SLM


class SLM(_Entity):
    """An SLM: a trained (or uploaded) small model."""

    dataset_id: str | None = None


class CreateSLMRequest(_Request):
    """Body of ``POST /slms/from-datasets[-smoke]``."""

    from_: str = Field(alias="from", min_length=1)
    config: dict[str, Any] | None = None
    job_description: dict[str, Any] | None = None


class UploadSLMRequest(_Request):
    """Body of ``POST /slms``: the staged ``model.tar`` and ``config.yaml``."""

    model: str
    config: str


class SLMMetrics(_Response):
    """``GET /slms/{id}/metrics``: base and tuned student scores, the tuned model's predictions."""

    base_model_performance: Metrics | None = None
    tuned_model_performance: Metrics | None = None
    predictions_download_url: str | None = None


class CompletedSLMMetrics(Completed, SLMMetrics):
    """The metrics of an SLM whose training succeeded: `base_model_performance` and
    `tuned_model_performance` are never ``None``. What ``client.slms.results()`` returns.

    Example:
        >>> m = client.slms.results(slm.id)  # doctest: +SKIP
        >>> m.base_model_performance.accuracy, m.tuned_model_performance.macro_f1  # doctest: +SKIP
    """

    base_model_performance: Metrics
    tuned_model_performance: Metrics


class SLMDownload(_Response):
    """``GET /slms/{id}/download``: the model tarball and its config."""

    model_url: str | None = None
    config_url: str | None = None


class SLMDownloadMetadata(DownloadMetadata):
    """``GET /slms/{id}/download-metadata``: also ``model_client_url`` (``model_client.py``)."""

    model_client_url: str | None = None


# ------------------------------------------------------------------------------- old entities

#: The file each download field of an old entity is written as (``migrating-old-entities.md``:
#: a seed dataset is ``train.jsonl``, ``test.jsonl`` and an optional ``unstructured.jsonl``).
LEGACY_FILE_NAMES: dict[str, str] = {
    "train_data": "train.jsonl",
    "test_data": "test.jsonl",
    "unstructured_data": "unstructured.jsonl",
    "config": "config.yaml",
    "job_description": "job_description.json",
}


class SeedDataset(_Entity):
    """A SeedDataset of the previous generation, readable only (``client.seed_datasets``); a
    Dataset replaced it. Its parent (``prepared_traces_id``) and ``source`` as listed."""

    prepared_traces_id: str | None = None
    source: str | None = None


class TrainingDataset(_Entity):
    """A TrainingDataset of the previous generation, readable only
    (``client.training_datasets``): the synthetic data made from ``seed_dataset_id``."""

    seed_dataset_id: str | None = None
    source: str | None = None


class _FileUrls(_Response):
    @property
    def urls(self) -> dict[str, str]:
        """The URLs present, by field name without ``_url`` (``train_data``, ``config``...)."""
        declared = {name: getattr(self, name) for name in type(self).model_fields}
        every = {**declared, **(self.model_extra or {})}
        return {
            name.removesuffix("_url"): value
            for name, value in every.items()
            if name.endswith("_url") and isinstance(value, str) and value
        }


class SeedDatasetDownload(_FileUrls):
    """``GET /seed-datasets/{id}/download``: one presigned URL per file, null for a file the
    seed dataset does not have."""

    train_data_url: str | None = None
    test_data_url: str | None = None
    unstructured_data_url: str | None = None
    config_url: str | None = None
    job_description_url: str | None = None


class TrainingDatasetDownload(_FileUrls):
    """``GET /training-datasets/{id}/download``: one presigned URL per file."""

    train_data_url: str | None = None
    test_data_url: str | None = None
    config_url: str | None = None
    job_description_url: str | None = None


# ----------------------------------------------------------------------------- client results


class TrainedModel(BaseModel):
    """What `DistilClient.train` returns: the ids of the chain, the scores and the model.

    ``model_dir`` is the folder `LocalClassifier` loads (``<dest>/model``);
    ``artifacts_dir`` holds the whole tarball layout (``model/``, ``model-adapter/``,
    ``model_client.py``...).

    ``base_model`` and ``tuned_model`` are never ``None``: ``train()`` reads them with
    ``client.slms.results()``, which raises `JobResultsMissingError` when
    the platform sent none. ``teacher`` and ``teacher_evaluation_id`` are ``None`` exactly when
    ``teacher_evaluation=False`` skipped the teacher evaluation.

    Example:
        >>> trained = client.train("my-task/", "runs/triage")  # doctest: +SKIP
        >>> trained.tuned_model.accuracy, trained.base_model.macro_f1  # doctest: +SKIP
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    dataset_id: str
    teacher_evaluation_id: str | None = None
    slm_id: str
    model_dir: Path
    artifacts_dir: Path
    teacher: Metrics | None = None
    base_model: Metrics
    tuned_model: Metrics

    @property
    def accuracy(self) -> float | None:
        """The tuned student's accuracy on the test split: ``tuned_model.accuracy``.

        ``None`` only for a task whose report has no accuracy (not a classification task; its
        scores are ``tuned_model``'s ``llm_as_a_judge``, ``rouge``...), as in
        `Metrics`.
        """
        return self.tuned_model.accuracy
