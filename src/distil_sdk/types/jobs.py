"""Wire models of the platform's jobs: statuses, models, uploads, evaluations, trainings.

Response models accept unknown fields (``extra="allow"``) because the API evolves; request
bodies forbid them so a typo never reaches the server. The shapes follow the wire contract in
``docs/architecture.md``.

Example:
    >>> status = TrainingStatus.model_validate(
    ...     {"id": "t1", "status": {"dag": {}, "tasks": [{"name": "train", "status": "JOB_RUNNING"}], "logs": []}}
    ... )
    >>> status.status, status.status.is_terminal, status.tasks[0].name
    (<JobStatus.RUNNING: 'JOB_RUNNING'>, False, 'train')
"""

from __future__ import annotations

from enum import Enum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

__all__ = [
    "ClassMetrics",
    "CreateModelRequest",
    "Deployment",
    "EvaluationResults",
    "JobCreateRequest",
    "JobStatus",
    "Metrics",
    "Model",
    "ModelDownload",
    "Prediction",
    "TeacherEvaluation",
    "TeacherEvaluationStatus",
    "Training",
    "TrainingStatus",
    "TrainingTask",
    "Upload",
    "UploadStatus",
]


class JobStatus(str, Enum):
    """Status of a platform job. Unknown values from a newer API parse as non-terminal members."""

    NOT_STARTED = "JOB_NOT_STARTED"
    PENDING = "JOB_PENDING"
    RUNNING = "JOB_RUNNING"
    SUCCESS = "JOB_SUCCESS"
    FAILURE = "JOB_FAILURE"
    STOPPED = "JOB_STOPPED"

    @classmethod
    def _missing_(cls, value: object) -> JobStatus | None:
        # A status this SDK does not know must not break parsing of an otherwise valid record:
        # it becomes a pseudo-member that is never terminal, so wait() keeps polling.
        if not isinstance(value, str):
            return None
        member = str.__new__(cls, value)
        member._name_ = value
        member._value_ = value
        return member

    @property
    def is_terminal(self) -> bool:
        """True for SUCCESS, FAILURE and STOPPED: the job will not change any more."""
        return self in (JobStatus.SUCCESS, JobStatus.FAILURE, JobStatus.STOPPED)

    @property
    def is_failure(self) -> bool:
        """True for FAILURE and STOPPED."""
        return self in (JobStatus.FAILURE, JobStatus.STOPPED)

    def __str__(self) -> str:
        return str(self.value)


class _Response(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True)


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CreateModelRequest(_Request):
    """Body of ``POST /models``."""

    name: str = Field(min_length=1)


class JobCreateRequest(_Request):
    """Body of ``POST /models/{id}/teacher-evaluations`` and ``POST /models/{id}/training``."""

    upload_id: str = Field(min_length=1)


class Model(_Response):
    """A model (a named task on the platform that owns uploads, evaluations and trainings)."""

    id: str
    name: str | None = None
    created_at: str | None = None


class Upload(_Response):
    """The answer to an upload: its ``id`` is what evaluations and trainings take."""

    id: str


class UploadStatus(_Response):
    """``GET /uploads/{id}/status``."""

    id: str
    status: JobStatus | None = None
    message: str | None = None


class ClassMetrics(_Response):
    """Precision, recall, F1 and support of one class (or of an average)."""

    precision: float | None = None
    recall: float | None = None
    f1_score: float | None = Field(default=None, alias="f1-score")
    support: float | None = None


_AVERAGES = ("macro avg", "weighted avg", "micro avg")


class Metrics(_Response):
    """scikit-learn's ``classification_report(output_dict=True)``, the platform's metrics shape.

    Example:
        >>> m = Metrics.model_validate({"accuracy": 0.5, "a": {"f1-score": 0.4}, "b": {"f1-score": 0.6},
        ...                             "macro avg": {"f1-score": 0.5}})
        >>> m.accuracy, sorted(m.per_class), m.macro_f1
        (0.5, ['a', 'b'], 0.5)
    """

    accuracy: float | None = None
    macro_avg: ClassMetrics | None = Field(default=None, alias="macro avg")
    weighted_avg: ClassMetrics | None = Field(default=None, alias="weighted avg")
    per_class: dict[str, ClassMetrics] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _split_classes(cls, data: Any) -> Any:
        # The wire shape mixes class names and fixed keys at the same level; a label may be any
        # string, so everything that is a per-class dict and not an average is a class.
        if not isinstance(data, dict) or "per_class" in data:
            return data
        out: dict[str, Any] = {}
        per_class: dict[str, Any] = {}
        for key, value in data.items():
            if (
                isinstance(value, dict)
                and key not in _AVERAGES
                and key not in ("macro_avg", "weighted_avg")
            ):
                per_class[key] = value
            else:
                out[key] = value
        out["per_class"] = per_class
        return out

    @property
    def macro_f1(self) -> float | None:
        """Macro-averaged F1: the report's ``macro avg`` or, if absent, the mean over classes."""
        if self.macro_avg is not None and self.macro_avg.f1_score is not None:
            return self.macro_avg.f1_score
        scores = [c.f1_score for c in self.per_class.values() if c.f1_score is not None]
        return sum(scores) / len(scores) if scores else None

    def to_report(self) -> dict[str, Any]:
        """The wire (scikit-learn) shape again."""
        report: dict[str, Any] = {"accuracy": self.accuracy}
        for label, metrics in self.per_class.items():
            report[label] = metrics.model_dump(by_alias=True, exclude_none=True)
        for key, avg in (("macro avg", self.macro_avg), ("weighted avg", self.weighted_avg)):
            if avg is not None:
                report[key] = avg.model_dump(by_alias=True, exclude_none=True)
        report.update(self.model_extra or {})
        return report


class TeacherEvaluation(_Response):
    """The answer to ``POST /models/{id}/teacher-evaluations``."""

    id: str


class TeacherEvaluationStatus(_Response):
    """``GET /teacher-evaluations/{id}/status``: status, message and, once done, the results."""

    id: str
    status: JobStatus
    message: str | None = None
    results: Metrics | None = None
    evaluation_predictions_download_url: str | None = None


class Training(_Response):
    """The answer to ``POST /models/{id}/training``."""

    id: str


class TrainingTask(_Response):
    """One stage of a training's pipeline."""

    name: str
    status: JobStatus | None = None
    message: str | None = None


def _status_from_tasks(tasks: list[Any]) -> str:
    """One overall JOB_* status for a list of task records (the object-shaped training status)."""
    statuses = [
        JobStatus(t["status"]) if isinstance(t, dict) and t.get("status") else None for t in tasks
    ]
    known = [s for s in statuses if s is not None]
    if JobStatus.FAILURE in known:
        return JobStatus.FAILURE.value
    if JobStatus.STOPPED in known:
        return JobStatus.STOPPED.value
    if known and len(known) == len(statuses) and all(s is JobStatus.SUCCESS for s in known):
        return JobStatus.SUCCESS.value
    if any(s in (JobStatus.RUNNING, JobStatus.SUCCESS) for s in known):
        return JobStatus.RUNNING.value
    return JobStatus.PENDING.value


class TrainingStatus(_Response):
    """``GET /trainings/{id}/status``.

    The platform sends ``status`` either as a ``JOB_*`` string or as an object
    ``{"dag", "tasks", "logs"}``; both normalise to :attr:`status` (a :class:`JobStatus`),
    :attr:`tasks`, :attr:`logs` and :attr:`dag`.
    """

    id: str
    status: JobStatus
    message: str | None = None
    tasks: list[TrainingTask] = Field(default_factory=list)
    logs: Any = None
    dag: Any = None

    @model_validator(mode="before")
    @classmethod
    def _normalise_status(cls, data: Any) -> Any:
        if not isinstance(data, dict) or not isinstance(data.get("status"), dict):
            return data
        data = dict(data)
        detail: dict[str, Any] = data.pop("status")
        tasks = detail.get("tasks") or data.get("tasks") or []
        data.setdefault("tasks", tasks)
        data.setdefault("logs", detail.get("logs"))
        data.setdefault("dag", detail.get("dag"))
        # Some versions put an overall status inside the object; prefer it over our derivation.
        data["status"] = detail.get("status") or _status_from_tasks(list(tasks))
        return data

    @property
    def failure_message(self) -> str | None:
        """The record's message, else the message of the first failed task."""
        if self.message:
            return self.message
        for task in self.tasks:
            if task.status is not None and task.status.is_failure:
                return f"{task.name}: {task.message or task.status.value}"
        return None


class EvaluationResults(_Response):
    """``GET /trainings/{id}/evaluation-results``: metrics of the teacher and both students.

    Example:
        >>> results = client.trainings.evaluation_results("t1")  # doctest: +SKIP
        >>> results["student-tuned"].accuracy, results.teacher.macro_f1  # doctest: +SKIP
    """

    id: str | None = None
    status: JobStatus | None = None
    evaluation_results: dict[str, Metrics] = Field(default_factory=dict)
    finetuned_student_evaluation_predictions_download_url: str | None = None
    base_student_evaluation_predictions_download_url: str | None = None

    def __getitem__(self, which: str) -> Metrics:
        return self.evaluation_results[which]

    @property
    def teacher(self) -> Metrics | None:
        return self.evaluation_results.get("teacher")

    @property
    def student_base(self) -> Metrics | None:
        return self.evaluation_results.get("student-base")

    @property
    def student_tuned(self) -> Metrics | None:
        return self.evaluation_results.get("student-tuned")

    def predictions_url(self, which: str) -> str | None:
        """The predictions download URL for ``"student-tuned"``, ``"student-base"`` or ``"teacher"``."""
        if which == "student-tuned":
            return self.finetuned_student_evaluation_predictions_download_url
        if which == "student-base":
            return self.base_student_evaluation_predictions_download_url
        extra = self.model_extra or {}
        value = extra.get(f"{which.replace('-', '_')}_evaluation_predictions_download_url")
        return value if isinstance(value, str) else None


class Prediction(_Response):
    """One line of a predictions file: the test text, its gold label, the prediction and scores."""

    question: str
    answer: str | None = None
    prediction: str | None = None
    scores: dict[str, float] = Field(default_factory=dict)


class ModelDownload(_Response):
    """``GET /trainings/{id}/model``: a presigned URL to ``model.tar``."""

    message: str | None = None
    s3_url: str
    training_id: str | None = None


class Deployment(_Response):
    """A deployment record; the fields depend on the platform's deployment backend."""

    id: str | None = None
    training_id: str | None = None
    status: str | None = None
    url: str | None = None
