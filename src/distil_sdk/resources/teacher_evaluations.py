"""``client.teacher_evaluations``: check how well the teacher solves the task before training."""

from __future__ import annotations

from typing_extensions import Unpack

from .._errors import APIError
from .._http import CallOptions, RequestSpec
from .._polling import wait_async, wait_sync
from ..types.jobs import JobCreateRequest, Prediction, TeacherEvaluation, TeacherEvaluationStatus
from ._base import (
    AsyncResource,
    SyncResource,
    WaitOptions,
    make_poller,
    parse_predictions,
    predictions_spec,
    seg,
)

__all__ = ["AsyncTeacherEvaluations", "TeacherEvaluations"]

KIND = "teacher evaluation"


def _create(model_id: str, upload_id: str, options: CallOptions) -> RequestSpec:
    body = JobCreateRequest(upload_id=upload_id).model_dump()
    return RequestSpec("POST", f"/models/{seg(model_id)}/teacher-evaluations", json=body, **options)


def _get(evaluation_id: str, options: CallOptions) -> RequestSpec:
    return RequestSpec("GET", f"/teacher-evaluations/{seg(evaluation_id)}/status", **options)


def _cancel(evaluation_id: str, options: CallOptions) -> RequestSpec:
    # Cancelling twice is harmless, so the request may be retried like a GET.
    return RequestSpec("POST", f"/teacher-evaluations/{seg(evaluation_id)}/cancel", idempotent=True, **options)


def _predictions_url(record: TeacherEvaluationStatus) -> str:
    if not record.evaluation_predictions_download_url:
        raise APIError(
            f"teacher evaluation {record.id} has no predictions yet (status {record.status.value}); "
            "wait() for it to finish first"
        )
    return record.evaluation_predictions_download_url


class TeacherEvaluations(SyncResource):
    """Teacher evaluations of an upload.

    Example:
        >>> ev = client.teacher_evaluations.create(model.id, upload.id)  # doctest: +SKIP
        >>> done = client.teacher_evaluations.wait(ev.id, progress=True)  # doctest: +SKIP
        >>> done.results.accuracy  # doctest: +SKIP
    """

    def create(self, model_id: str, upload_id: str, **options: Unpack[CallOptions]) -> TeacherEvaluation:
        """Start one (``POST /models/{id}/teacher-evaluations``)."""
        return self._t.request(TeacherEvaluation, _create(model_id, upload_id, options))

    def get(self, evaluation_id: str, **options: Unpack[CallOptions]) -> TeacherEvaluationStatus:
        """Its status, and the results once done (``GET /teacher-evaluations/{id}/status``)."""
        return self._t.request(TeacherEvaluationStatus, _get(evaluation_id, options))

    def wait(self, evaluation_id: str, **options: Unpack[WaitOptions]) -> TeacherEvaluationStatus:
        """Poll until done; return the final record or raise ``JobFailedError`` / ``JobTimeoutError``."""
        poller = make_poller(KIND, evaluation_id, self._t.clock, options)
        return wait_sync(poller, lambda: self.get(evaluation_id), self._t.sleep)

    def cancel(self, evaluation_id: str, **options: Unpack[CallOptions]) -> TeacherEvaluationStatus:
        """Stop it (``POST /teacher-evaluations/{id}/cancel``)."""
        return self._t.request(TeacherEvaluationStatus, _cancel(evaluation_id, options))

    def predictions(self, evaluation_id: str, **options: Unpack[CallOptions]) -> list[Prediction]:
        """The teacher's predictions on the test set (downloaded JSONL, parsed)."""
        url = _predictions_url(self.get(evaluation_id, **options))
        return parse_predictions(self._t.send(predictions_spec(url, options)).text, f"predictions of {evaluation_id}")


class AsyncTeacherEvaluations(AsyncResource):
    """The async twin of :class:`TeacherEvaluations`."""

    async def create(self, model_id: str, upload_id: str, **options: Unpack[CallOptions]) -> TeacherEvaluation:
        return await self._t.request(TeacherEvaluation, _create(model_id, upload_id, options))

    async def get(self, evaluation_id: str, **options: Unpack[CallOptions]) -> TeacherEvaluationStatus:
        return await self._t.request(TeacherEvaluationStatus, _get(evaluation_id, options))

    async def wait(self, evaluation_id: str, **options: Unpack[WaitOptions]) -> TeacherEvaluationStatus:
        poller = make_poller(KIND, evaluation_id, self._t.clock, options)
        result: TeacherEvaluationStatus = await wait_async(poller, lambda: self.get(evaluation_id), self._t.sleep)
        return result

    async def cancel(self, evaluation_id: str, **options: Unpack[CallOptions]) -> TeacherEvaluationStatus:
        return await self._t.request(TeacherEvaluationStatus, _cancel(evaluation_id, options))

    async def predictions(self, evaluation_id: str, **options: Unpack[CallOptions]) -> list[Prediction]:
        url = _predictions_url(await self.get(evaluation_id, **options))
        response = await self._t.send(predictions_spec(url, options))
        return parse_predictions(response.text, f"predictions of {evaluation_id}")
