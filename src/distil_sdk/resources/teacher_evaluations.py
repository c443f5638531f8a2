"""``client.teacher_evaluations``: how well the teacher does the task, from a dataset by id."""

from __future__ import annotations

import json
from typing import Any

from typing_extensions import Unpack

from .._errors import APIError, JobNotFinishedError, JobResultsMissingError
from .._http import CallOptions, RequestSpec
from ..types.entities import (
    CompletedTeacherEvaluationMetrics,
    CreateTeacherEvaluationRequest,
    DownloadMetadata,
    EntityStatus,
    TeacherEvaluation,
    TeacherEvaluationMetrics,
)
from ..types.jobs import JobStatus
from ._base import narrowed
from ._entity import AsyncEntityResource, Parent, SyncEntityResource, explained, fetch_spec
from ._override import resolve_override

__all__ = [
    "AsyncTeacherEvaluations",
    "TeacherEvaluations",
    "parse_prediction_rows",
    "results_error",
]


def _create(
    dataset_id: str, config: Any, job_description: Any, options: CallOptions
) -> RequestSpec:
    body = CreateTeacherEvaluationRequest(
        from_dataset_id=dataset_id,
        config=resolve_override(config, "config"),
        job_description=resolve_override(job_description, "job_description"),
    ).to_body()
    return RequestSpec("POST", "/teacher-evaluations", json=body, **options)


def parse_prediction_rows(text: str, source: str) -> list[dict[str, Any]]:
    """A predictions JSONL file as its rows (``prompt``, ``completion``, ``prediction``...).

    The reference says to read a row and work from what is there, so rows stay dicts.
    """
    rows: list[dict[str, Any]] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except ValueError as exc:
            raise APIError(f"{source} line {number} is not JSON: {exc}") from exc
        if not isinstance(row, dict):
            raise APIError(f"{source} line {number} is not a JSON object")
        rows.append(row)
    return rows


def predictions_url(url: str | None, kind: str, entity_id: str) -> str:
    if not url:
        raise APIError(
            f"{kind} {entity_id} has no predictions yet; they are there once its job succeeded"
        )
    return url


def results_error(
    kind: str, list_key: str, entity_id: str, missing: str, status: EntityStatus, why: str = ""
) -> JobNotFinishedError:
    """Why a job's metrics lack ``missing``, from its status: still running or failed
    (`JobNotFinishedError`), or succeeded without them (`JobResultsMissingError`,
    with ``why`` when the cause is known)."""
    said = f"; the platform says {status.message!r}" if status.message else ""
    state = status.status
    if state is JobStatus.SUCCESS:
        why = why or f"; client.{list_key}.metrics({entity_id!r}) shows what the platform sent"
        return JobResultsMissingError(
            f"{kind} {entity_id} succeeded but its metrics have no {missing}{said}{why}",
            job_id=entity_id,
            platform_message=status.message,
            record=status,
        )
    if state.is_failure:
        todo = f"client.{list_key}.logs({entity_id!r}) says why"
    else:
        todo = f"wait for it (client.{list_key}.wait({entity_id!r})) and ask again"
    return JobNotFinishedError(
        f"{kind} {entity_id} has no {missing}: it is {state.value}{said}; {todo}",
        job_id=entity_id,
        platform_message=status.message,
        record=status,
    )


_PARENT = "datasets"


class _Declaration:
    _kind = "teacher evaluation"
    _root = "/teacher-evaluations"
    _list_key = "teacher_evaluations"
    _entity = TeacherEvaluation
    _status = EntityStatus
    _metadata = DownloadMetadata


class TeacherEvaluations(
    _Declaration, SyncEntityResource[TeacherEvaluation, EntityStatus, DownloadMetadata]
):
    """Teacher evaluations: ``create``, ``get``, ``list``, ``status``, ``wait``, ``logs``,
    ``metrics``, ``results``, ``predictions``.

    Example:
        >>> te = client.teacher_evaluations.create(dataset.id)  # doctest: +SKIP
        >>> client.teacher_evaluations.wait(te.id)  # doctest: +SKIP
        >>> client.teacher_evaluations.results(te.id).teacher_performance.accuracy  # doctest: +SKIP
    """

    def create(
        self,
        dataset_id: str,
        config: Any = None,
        job_description: Any = None,
        **options: Unpack[CallOptions],
    ) -> TeacherEvaluation:
        """Start one on ``dataset_id`` (``POST /teacher-evaluations`` with ``from_dataset_id``).

        ``config`` / ``job_description``: whole overrides of the dataset's files (see
        ``client.datasets.config_override``).
        """
        spec = _create(dataset_id, config, job_description, options)
        with explained(
            route_key="teacher_evaluations_post", parent=Parent("dataset", dataset_id, _PARENT)
        ):
            return self._t.request(TeacherEvaluation, spec)

    def metrics(
        self, evaluation_id: str, **options: Unpack[CallOptions]
    ) -> TeacherEvaluationMetrics:
        """``teacher_performance`` (accuracy and per-class rows) and the predictions link."""
        return self._t.request(
            TeacherEvaluationMetrics, self._spec(evaluation_id, "metrics", options)
        )

    def results(
        self, evaluation_id: str, **options: Unpack[CallOptions]
    ) -> CompletedTeacherEvaluationMetrics:
        """`metrics` of a teacher evaluation that succeeded: ``teacher_performance`` is
        never ``None``, so ``results(id).teacher_performance.accuracy`` type-checks.

        Raises `JobNotFinishedError` while it runs or after it failed (its
        status is read to say which), `JobResultsMissingError` when it
        succeeded without them.
        """
        metrics = self.metrics(evaluation_id, **options)
        if metrics.teacher_performance is not None:
            return narrowed(CompletedTeacherEvaluationMetrics, metrics)
        status = self.status(evaluation_id, **options)
        raise results_error(
            self._kind, self._list_key, evaluation_id, "teacher_performance", status
        )

    def predictions(
        self, evaluation_id: str, **options: Unpack[CallOptions]
    ) -> list[dict[str, Any]]:
        """The teacher's per-row predictions on the test split (downloaded JSONL, parsed)."""
        metrics = self.metrics(evaluation_id, **options)
        url = predictions_url(metrics.predictions_download_url, self._kind, evaluation_id)
        text = self._t.send(fetch_spec(url, options)).text
        return parse_prediction_rows(text, f"predictions of {self._kind} {evaluation_id}")


class AsyncTeacherEvaluations(
    _Declaration, AsyncEntityResource[TeacherEvaluation, EntityStatus, DownloadMetadata]
):
    """The async twin of `TeacherEvaluations`."""

    async def create(
        self,
        dataset_id: str,
        config: Any = None,
        job_description: Any = None,
        **options: Unpack[CallOptions],
    ) -> TeacherEvaluation:
        spec = _create(dataset_id, config, job_description, options)
        with explained(
            route_key="teacher_evaluations_post", parent=Parent("dataset", dataset_id, _PARENT)
        ):
            return await self._t.request(TeacherEvaluation, spec)

    async def metrics(
        self, evaluation_id: str, **options: Unpack[CallOptions]
    ) -> TeacherEvaluationMetrics:
        return await self._t.request(
            TeacherEvaluationMetrics, self._spec(evaluation_id, "metrics", options)
        )

    async def results(
        self, evaluation_id: str, **options: Unpack[CallOptions]
    ) -> CompletedTeacherEvaluationMetrics:
        metrics = await self.metrics(evaluation_id, **options)
        if metrics.teacher_performance is not None:
            return narrowed(CompletedTeacherEvaluationMetrics, metrics)
        status = await self.status(evaluation_id, **options)
        raise results_error(
            self._kind, self._list_key, evaluation_id, "teacher_performance", status
        )

    async def predictions(
        self, evaluation_id: str, **options: Unpack[CallOptions]
    ) -> list[dict[str, Any]]:
        metrics = await self.metrics(evaluation_id, **options)
        url = predictions_url(metrics.predictions_download_url, self._kind, evaluation_id)
        response = await self._t.send(fetch_spec(url, options))
        return parse_prediction_rows(response.text, f"predictions of {self._kind} {evaluation_id}")
