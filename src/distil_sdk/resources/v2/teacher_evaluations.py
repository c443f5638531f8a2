"""``client.v2.teacher_evaluations``: check how well the teacher solves the task before training."""

from __future__ import annotations

from typing_extensions import Unpack

from ..._errors import JobResultsMissingError
from ..._http import CallOptions, RequestSpec
from ...types.jobs import (
    CompletedTeacherEvaluationStatus,
    JobCreateRequest,
    Prediction,
    TeacherEvaluation,
    TeacherEvaluationStatus,
)
from .._base import WaitOptions, narrowed, parse_predictions, predictions_spec, seg
from ._jobs import AsyncV2JobResource, SyncV2JobResource, not_finished

__all__ = ["AsyncTeacherEvaluations", "TeacherEvaluations"]


def _create(model_id: str, upload_id: str, options: CallOptions) -> RequestSpec:
    body = JobCreateRequest(upload_id=upload_id).model_dump()
    return RequestSpec(
        "POST", f"/models/{seg(model_id, 'model_id')}/teacher-evaluations", json=body, **options
    )


def _predictions_url(record: TeacherEvaluationStatus) -> str:
    if not record.evaluation_predictions_download_url:
        raise not_finished(
            "teacher evaluation",
            record.id,
            f"predictions (it is {record.status.value})",
            record.message,
            record,
        )
    return record.evaluation_predictions_download_url


def _completed(record: TeacherEvaluationStatus) -> CompletedTeacherEvaluationStatus:
    # wait() returned, so the job succeeded: results missing now is the platform's doing, and
    # saying so here beats an AttributeError on None in the caller's code.
    if record.results is None:
        said = f"; the platform says {record.message!r}" if record.message else ""
        raise JobResultsMissingError(
            f"teacher evaluation {record.id} ended with {record.status.value} but its status "
            f"record has no results (`results` is null){said}. Its log may say why: "
            f"client.v2.teacher_evaluations.get({record.id!r}).logs",
            job_id=record.id,
            platform_message=record.message,
            record=record,
        )
    return narrowed(CompletedTeacherEvaluationStatus, record)


class TeacherEvaluations(SyncV2JobResource[TeacherEvaluationStatus]):
    """Teacher evaluations of an upload: ``create``, ``get``, ``wait``, ``predictions``
    (and ``cancel_local`` on the local platform).

    Example:
        >>> ev = client.v2.teacher_evaluations.create(model.id, upload.id)  # doctest: +SKIP
        >>> done = client.v2.teacher_evaluations.wait(ev.id, progress=True)  # doctest: +SKIP
        >>> done.results.accuracy  # doctest: +SKIP
    """

    _kind = "teacher evaluation"
    _root = "/teacher-evaluations"
    _record = TeacherEvaluationStatus

    def create(
        self, model_id: str, upload_id: str, **options: Unpack[CallOptions]
    ) -> TeacherEvaluation:
        """Start one (``POST /models/{id}/teacher-evaluations``)."""
        return self._t.request(TeacherEvaluation, _create(model_id, upload_id, options))

    def wait(self, job_id: str, **options: Unpack[WaitOptions]) -> CompletedTeacherEvaluationStatus:
        """Poll until done; return the final record, whose ``results`` is never ``None``.

        Raises `JobFailedError`, `JobTimeoutError`,
        `JobWaitInterruptedError` (see ``SyncJobResource.wait``) and
        `JobResultsMissingError` for a success without results.
        """
        return _completed(super().wait(job_id, **options))

    def predictions(self, evaluation_id: str, **options: Unpack[CallOptions]) -> list[Prediction]:
        """The teacher's predictions on the test set (downloaded JSONL, parsed)."""
        url = _predictions_url(self.get(evaluation_id, **options))
        return parse_predictions(
            self._t.send(predictions_spec(url, options)).text, f"predictions of {evaluation_id}"
        )


class AsyncTeacherEvaluations(AsyncV2JobResource[TeacherEvaluationStatus]):
    """The async twin of `TeacherEvaluations`."""

    _kind = TeacherEvaluations._kind
    _root = TeacherEvaluations._root
    _record = TeacherEvaluationStatus

    async def create(
        self, model_id: str, upload_id: str, **options: Unpack[CallOptions]
    ) -> TeacherEvaluation:
        return await self._t.request(TeacherEvaluation, _create(model_id, upload_id, options))

    async def wait(
        self, job_id: str, **options: Unpack[WaitOptions]
    ) -> CompletedTeacherEvaluationStatus:
        return _completed(await super().wait(job_id, **options))

    async def predictions(
        self, evaluation_id: str, **options: Unpack[CallOptions]
    ) -> list[Prediction]:
        url = _predictions_url(await self.get(evaluation_id, **options))
        response = await self._t.send(predictions_spec(url, options))
        return parse_predictions(response.text, f"predictions of {evaluation_id}")
