"""Wire models of the ``/models`` route generation: statuses, models, uploads, jobs, results.

These models are the one description of what these routes answer: the client parses with them
and the local platform declares them as its routes' response models (see "One wire contract" in
``docs/architecture.md``). They follow the platform's recorded answers
(``tests/fixtures/platform/recorded/``): ids named ``teacher_evaluation_id`` / ``training_id``,
a training status that is a ``JOB_*`` string or an object ``{dag, start_time, end_time, tasks,
logs}``, ``null`` results with a message while a job runs, non-classification metrics.

Response models accept unknown fields (``extra="allow"``) because the API evolves; request
bodies forbid them so a typo never reaches the server. Long ``logs`` are kept but left out of
``repr()``.

Example:
    >>> status = TrainingStatus.model_validate({"training_id": "t1", "status": {
    ...     "dag": "JOB_RUNNING", "tasks": [{"finetune_student": {"status": "JOB_PENDING", "reason": ""}}]}})
    >>> status.id, status.status, status.tasks[0].name, status.tasks[0].status.is_terminal
    ('t1', <JobStatus.RUNNING: 'JOB_RUNNING'>, <JobStage.FINETUNE_STUDENT: 'finetune_student'>, False)
"""

from __future__ import annotations

from enum import Enum
from typing import Any

from pydantic import (
    AliasChoices,
    BaseModel,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    model_serializer,
    model_validator,
)

from ._results import ClassMetrics, Completed, Deployment, DeploymentSecrets, Metrics, Prediction
from .validation import Finding

__all__ = [
    "ClassMetrics",
    "CompletedEvaluationResults",
    "CompletedTeacherEvaluationStatus",
    "CreateModelRequest",
    "Deployment",
    "DeploymentSecrets",
    "EvaluationResults",
    "JobCreateRequest",
    "JobStage",
    "JobStatus",
    "JobStatusDetail",
    "Metrics",
    "Model",
    "ModelDownload",
    "ModelList",
    "Prediction",
    "TeacherEvaluation",
    "TeacherEvaluationStatus",
    "Training",
    "TrainingStatus",
    "TrainingTask",
    "Upload",
    "UploadStatus",
]


class _OpenEnum(str, Enum):
    """A string enum that also parses values it does not know (a newer API's), as pseudo-members."""

    @classmethod
    def _missing_(cls, value: object) -> Any:
        # An unknown value must not break parsing of an otherwise valid record.
        if not isinstance(value, str):
            return None
        member = str.__new__(cls, value)
        member._name_ = value
        member._value_ = value
        return member

    def __str__(self) -> str:
        return str(self.value)


class JobStatus(_OpenEnum):
    """Status of a platform job. Unknown values parse as pseudo-members that are never terminal."""

    NOT_STARTED = "JOB_NOT_STARTED"
    PENDING = "JOB_PENDING"
    RUNNING = "JOB_RUNNING"
    SUCCESS = "JOB_SUCCESS"
    FAILURE = "JOB_FAILURE"
    STOPPED = "JOB_STOPPED"

    @property
    def is_terminal(self) -> bool:
        """True for SUCCESS, FAILURE and STOPPED: the job will not change any more."""
        return self in (JobStatus.SUCCESS, JobStatus.FAILURE, JobStatus.STOPPED)

    @property
    def is_failure(self) -> bool:
        """True for FAILURE and STOPPED."""
        return self in (JobStatus.FAILURE, JobStatus.STOPPED)


class JobStage(_OpenEnum):
    """A stage of a job: the hosted platform's and the local platform's; others parse too."""

    # hosted platform (training DAG)
    EVALUATE_TEACHER = "evaluate_teacher"
    GENERATE_SYNTHETIC_DATA = "generate_synthetic_data"
    FINETUNE_STUDENT = "finetune_student"
    # local platform (distil_sdk.local.pipeline)
    TEACHER_FIT = "teacher_fit"
    TEACHER_EVALUATION = "teacher_evaluation"
    TEACHER_LABELLING = "teacher_labelling"
    STUDENT_BASE = "student_base"
    DISTILLATION = "distillation"
    EVALUATION = "evaluation"
    PACKAGING = "packaging"


class _Response(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True)


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _fill_id(data: Any, *keys: str) -> Any:
    """``data`` with ``id`` set from the first of ``keys`` present (the platform's id names)."""
    if not isinstance(data, dict) or data.get("id"):
        return data
    for key in keys:
        if isinstance(data.get(key), str) and data[key]:
            return {**data, "id": data[key]}
    return data


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
    upload_ids: list[str] | None = None


class ModelList(_Response):
    """``GET /models``: ``{"models": [...]}`` (a bare list is accepted too)."""

    models: list[Model]

    @model_validator(mode="before")
    @classmethod
    def _bare_list(cls, data: Any) -> Any:
        return {"models": data} if isinstance(data, list) else data


class Upload(_Response):
    """The answer to an upload: its ``id`` is what evaluations and trainings take."""

    id: str
    model_id: str | None = None
    status: JobStatus | None = None
    message: str | None = None
    created_at: str | None = None
    warnings: list[Finding] | None = None


class UploadStatus(Upload):
    """``GET /uploads/{id}/status``."""


class TrainingTask(_Response):
    """One stage of a job: ``.name``, ``.status``, ``.message``.

    The platform sends ``{"<stage>": {"status", "reason"}}``; ``{"name", "status", "message"}``
    is read too. It serialises to the platform's form.
    """

    name: JobStage
    status: JobStatus | None = None
    message: str | None = Field(default=None, validation_alias=AliasChoices("message", "reason"))

    @model_validator(mode="before")
    @classmethod
    def _from_wire(cls, data: Any) -> Any:
        if isinstance(data, dict) and "name" not in data and len(data) == 1:
            ((name, state),) = data.items()
            if isinstance(state, dict):
                return {"name": name, **state}
        return data

    @model_serializer(mode="wrap")
    def _to_wire(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        data: dict[str, Any] = handler(self)
        name = str(data.pop("name"))
        message = data.pop("message", None)
        return {name: {"status": data.pop("status", None), "reason": message or "", **data}}


def _task_status(task: Any) -> JobStatus | None:
    if isinstance(task, TrainingTask):
        return task.status
    if isinstance(task, dict):
        if "name" not in task and len(task) == 1:
            task = next(iter(task.values()))
        if isinstance(task, dict) and isinstance(task.get("status"), str):
            return JobStatus(task["status"])
    return None


def _status_from_tasks(tasks: list[Any]) -> JobStatus:
    """One overall status for a list of stage records (when the record gives none)."""
    statuses = [_task_status(t) for t in tasks]
    known = [s for s in statuses if s is not None]
    if JobStatus.FAILURE in known:
        return JobStatus.FAILURE
    if JobStatus.STOPPED in known:
        return JobStatus.STOPPED
    if known and len(known) == len(statuses) and all(s is JobStatus.SUCCESS for s in known):
        return JobStatus.SUCCESS
    if any(s in (JobStatus.RUNNING, JobStatus.SUCCESS) for s in known):
        return JobStatus.RUNNING
    return JobStatus.PENDING


def _overall_status(detail: dict[str, Any]) -> Any:
    """The overall status of a status object: its ``dag``, else its ``status``, else derived."""
    for key in ("dag", "status"):
        if isinstance(detail.get(key), str) and detail[key]:
            return detail[key]
    tasks = detail.get("tasks")
    # Not a list: let the field's own validation report it (a ValidationError, not a TypeError).
    return _status_from_tasks(tasks if isinstance(tasks, list) else [])


class JobStatusDetail(_Response):
    """The object form of a job's ``status``: ``{dag, start_time, end_time, tasks, logs}``."""

    dag: JobStatus | dict[str, Any] | None = None
    start_time: str | None = None
    end_time: str | None = None
    tasks: list[TrainingTask] = Field(default_factory=list)
    logs: str | list[Any] | None = Field(default=None, repr=False)


class _JobRecord(_Response):
    id: str
    status: JobStatus
    message: str | None = None

    @property
    def failure_message(self) -> str | None:
        """The record's message, else the message of the first failed stage."""
        if self.message:
            return self.message
        for task in self.tasks:
            if task.status is not None and task.status.is_failure:
                return f"{task.name}: {task.message or task.status.value}"
        return None

    @property
    def tasks(self) -> list[TrainingTask]:
        """Per-stage progress (empty when the platform does not report stages)."""
        return []


class TeacherEvaluation(_Response):
    """The answer to ``POST /models/{id}/teacher-evaluations``."""

    id: str
    upload_id: str | None = None
    started_at: str | None = None


class TeacherEvaluationStatus(_JobRecord):
    """``GET /teacher-evaluations/{id}/status``: status, message, logs and, once done, results.

    ``results`` is ``None`` and ``evaluation_predictions_download_url`` empty until the
    evaluation succeeded. ``tasks`` (per-stage progress) is sent by the local platform only.
    """

    teacher_evaluation_id: str | None = None
    results: Metrics | None = None
    evaluation_predictions_download_url: str | None = None
    logs: str | list[Any] | None = Field(default=None, repr=False)
    stages: list[TrainingTask] = Field(
        default_factory=list, validation_alias=AliasChoices("tasks", "stages"), alias="tasks"
    )

    @model_validator(mode="before")
    @classmethod
    def _ids(cls, data: Any) -> Any:
        data = _fill_id(data, "teacher_evaluation_id")
        if isinstance(data, dict) and isinstance(data.get("status"), dict):
            # Read a status object like a training's, should the platform send one here.
            detail = data["status"]
            data = {**data, "status": _overall_status(detail)}
            data.setdefault("tasks", detail.get("tasks") or [])
            data.setdefault("logs", detail.get("logs"))
        return data

    @property
    def tasks(self) -> list[TrainingTask]:
        """Per-stage progress (empty when the platform does not report stages)."""
        return self.stages


class CompletedTeacherEvaluationStatus(Completed, TeacherEvaluationStatus):
    """The final record of a teacher evaluation that succeeded: `results` is never ``None``.

    What ``client.v2.teacher_evaluations.wait()`` returns, so ``done.results.accuracy`` type-checks
    without a ``None`` test; a success whose ``results`` is null raises
    `JobResultsMissingError` instead. A `TeacherEvaluationStatus`, so
    code written for that keeps working.

    Example:
        >>> done = client.v2.teacher_evaluations.wait(ev.id)  # doctest: +SKIP
        >>> done.results.accuracy, done.results.per_class  # doctest: +SKIP
    """

    results: Metrics


class Training(_Response):
    """The answer to ``POST /models/{id}/training``."""

    id: str
    upload_id: str | None = None


class TrainingStatus(_JobRecord):
    """``GET /trainings/{id}/status``.

    The platform sends ``status`` either as a ``JOB_*`` string or as an object ``{"dag",
    "start_time", "end_time", "tasks", "logs"}``; `status` is always a `JobStatus`
    (the object's ``dag``, else one derived from its tasks) and the object is
    `status_detail` (with shortcuts `tasks`, `logs`, `dag`,
    `start_time`, `end_time`). It serialises back to the object form.
    """

    training_id: str | None = None
    status_detail: JobStatusDetail | None = None

    @model_validator(mode="before")
    @classmethod
    def _normalise(cls, data: Any) -> Any:
        data = _fill_id(data, "training_id")
        if not isinstance(data, dict):
            return data
        status = data.get("status")
        if isinstance(status, dict):
            data = {**data, "status_detail": status, "status": _overall_status(status)}
        elif "tasks" in data and "status_detail" not in data:
            # Older local servers sent the stages beside a string status.
            rest = {k: v for k, v in data.items() if k not in ("tasks", "logs")}
            data = {
                **rest,
                "status_detail": {"dag": status, "tasks": data["tasks"], "logs": data.get("logs")},
            }
        return data

    @model_serializer(mode="wrap")
    def _to_wire(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        data: dict[str, Any] = handler(self)
        detail = data.pop("status_detail", None)
        if detail is not None:
            data["status"] = detail
        return data

    @property
    def tasks(self) -> list[TrainingTask]:
        """The stages, in order (empty when the status is a plain string)."""
        return self.status_detail.tasks if self.status_detail else []

    @property
    def logs(self) -> str | list[Any] | None:
        """The job's log text, when the platform sends it (never shown in ``repr``)."""
        return self.status_detail.logs if self.status_detail else None

    @property
    def dag(self) -> JobStatus | dict[str, Any] | None:
        """The status object's ``dag`` (the overall status on the platform)."""
        return self.status_detail.dag if self.status_detail else None

    @property
    def start_time(self) -> str | None:
        """When the job started (ISO 8601), when the platform says."""
        return self.status_detail.start_time if self.status_detail else None

    @property
    def end_time(self) -> str | None:
        """When the job ended (ISO 8601); ``None`` while it runs."""
        return self.status_detail.end_time if self.status_detail else None


class EvaluationResults(_Response):
    """``GET /trainings/{id}/evaluation-results``: metrics of the teacher and both students.

    ``evaluation_results`` is ``None`` (with a `message`) until the training succeeded;
    the client raises `JobNotFinishedError` then.

    Example:
        >>> results = client.v2.trainings.evaluation_results("t1")  # doctest: +SKIP
        >>> results["student-tuned"].accuracy, results.teacher.macro_f1  # doctest: +SKIP
    """

    id: str | None = None
    training_id: str | None = None
    message: str | None = None
    evaluation_results: dict[str, Metrics] | None = None
    #: Always ``{}`` in the platform's recorded answers; kept for fidelity.
    results: dict[str, Any] | None = None
    finetuned_student_evaluation_predictions_download_url: str | None = None
    base_student_evaluation_predictions_download_url: str | None = None
    #: Sent by the local platform only.
    teacher_evaluation_predictions_download_url: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _ids(cls, data: Any) -> Any:
        return _fill_id(data, "training_id")

    def __getitem__(self, which: str) -> Metrics:
        return (self.evaluation_results or {})[which]

    @property
    def teacher(self) -> Metrics | None:
        return (self.evaluation_results or {}).get("teacher")

    @property
    def student_base(self) -> Metrics | None:
        return (self.evaluation_results or {}).get("student-base")

    @property
    def student_tuned(self) -> Metrics | None:
        return (self.evaluation_results or {}).get("student-tuned")

    def predictions_url(self, which: str) -> str | None:
        """The predictions download URL for ``"student-tuned"``, ``"student-base"`` or ``"teacher"``."""
        url = {
            "student-tuned": self.finetuned_student_evaluation_predictions_download_url,
            "student-base": self.base_student_evaluation_predictions_download_url,
            "teacher": self.teacher_evaluation_predictions_download_url,
        }.get(which)
        return url or None


class CompletedEvaluationResults(Completed, EvaluationResults):
    """The evaluation results of a training that succeeded: what
    ``client.v2.trainings.evaluation_results()`` returns.

    `evaluation_results` is never ``None`` and `student_tuned` (the model the
    training made) is never ``None``: an answer without them raises
    `JobNotFinishedError` (or its subclass
    `JobResultsMissingError`). ``teacher`` and ``student_base`` stay
    ``Optional`` (the answer may leave them out); ``results["teacher"]`` is typed
    `Metrics` and raises ``KeyError`` when absent.

    Example:
        >>> results = client.v2.trainings.evaluation_results("t1")  # doctest: +SKIP
        >>> results.student_tuned.accuracy  # doctest: +SKIP
    """

    evaluation_results: dict[str, Metrics]

    @model_validator(mode="after")
    def _has_student_tuned(self) -> CompletedEvaluationResults:
        if "student-tuned" not in self.evaluation_results:
            raise ValueError(
                "no 'student-tuned' metrics in evaluation_results (it holds "
                f"{sorted(self.evaluation_results)})"
            )
        return self

    @property
    def student_tuned(self) -> Metrics:
        """The tuned student's metrics (always there once the training succeeded)."""
        return self.evaluation_results["student-tuned"]


class ModelDownload(_Response):
    """``GET /trainings/{id}/model``: a presigned URL to ``model.tar`` (``None`` until done)."""

    id: str | None = None
    message: str | None = None
    s3_url: str | None = None
    training_id: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _ids(cls, data: Any) -> Any:
        return _fill_id(data, "training_id")
