"""``client.v2.trainings``: distil a student, follow it, read its results, download the model."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from typing_extensions import Unpack

from ..._download import download_model_async, download_model_sync
from ..._errors import JobResultsMissingError
from ..._http import CallOptions, RequestSpec
from ...types.jobs import (
    CompletedEvaluationResults,
    EvaluationResults,
    JobCreateRequest,
    ModelDownload,
    Prediction,
    Training,
    TrainingStatus,
)
from .._base import narrowed, parse_predictions, predictions_spec, seg
from ._jobs import AsyncV2JobResource, SyncV2JobResource, not_finished

__all__ = ["AsyncTrainings", "Trainings", "Which"]

Which = Literal["student-tuned", "student-base", "teacher"]


def _create(model_id: str, upload_id: str, options: CallOptions) -> RequestSpec:
    body = JobCreateRequest(upload_id=upload_id).model_dump()
    return RequestSpec(
        "POST", f"/models/{seg(model_id, 'model_id')}/training", json=body, **options
    )


def _results(training_id: str, options: CallOptions) -> RequestSpec:
    return RequestSpec(
        "GET", f"/trainings/{seg(training_id, 'training_id')}/evaluation-results", **options
    )


def _model(training_id: str, options: CallOptions) -> RequestSpec:
    return RequestSpec("GET", f"/trainings/{seg(training_id, 'training_id')}/model", **options)


def _finished(training_id: str, results: EvaluationResults) -> EvaluationResults:
    # The platform answers 200 with `evaluation_results: null` and a message until it is done.
    if results.evaluation_results is None:
        raise not_finished("training", training_id, "evaluation results", results.message, results)
    return results


def _completed(training_id: str, results: EvaluationResults) -> CompletedEvaluationResults:
    scores = _finished(training_id, results).evaluation_results or {}
    if "student-tuned" not in scores:
        # Results without the model the training made: the platform's doing, said plainly here
        # rather than as a None deep in the caller's code.
        said = f"; the platform says {results.message!r}" if results.message else ""
        raise JobResultsMissingError(
            f"training {training_id} has evaluation results but none for 'student-tuned' (it "
            f"has {sorted(scores)}){said}",
            job_id=training_id,
            platform_message=results.message,
            record=results,
        )
    return narrowed(CompletedEvaluationResults, results)


def _model_url(training_id: str, link: ModelDownload) -> str:
    if not link.s3_url:
        raise not_finished("training", training_id, "model", link.message, link)
    return link.s3_url


def _predictions_url(training_id: str, results: EvaluationResults, which: str) -> str:
    url = results.predictions_url(which)
    if not url:
        raise not_finished(
            "training",
            training_id,
            f"{which!r} predictions ('teacher' ones only where the platform publishes them)",
            results.message,
            results,
        )
    return url


class Trainings(SyncV2JobResource[TrainingStatus]):
    """Trainings (distillation of a student): ``create``, ``get``, ``wait``,
    ``evaluation_results``, ``predictions``, ``download_model`` (and ``cancel_local`` on the
    local platform).

    Example:
        >>> training = client.v2.trainings.create(model.id, upload.id)  # doctest: +SKIP
        >>> client.v2.trainings.wait(training.id, progress=True)  # doctest: +SKIP
        >>> client.v2.trainings.evaluation_results(training.id).student_tuned.accuracy  # doctest: +SKIP
        >>> client.v2.trainings.download_model(training.id, "out/")  # doctest: +SKIP
        PosixPath('out/model')
    """

    _kind = "training"
    _root = "/trainings"
    _record = TrainingStatus

    def create(self, model_id: str, upload_id: str, **options: Unpack[CallOptions]) -> Training:
        """Start one (``POST /models/{id}/training``)."""
        return self._t.request(Training, _create(model_id, upload_id, options))

    def evaluation_results(
        self, training_id: str, **options: Unpack[CallOptions]
    ) -> CompletedEvaluationResults:
        """Teacher, base student and tuned student metrics (``GET /trainings/{id}/evaluation-results``).

        ``evaluation_results`` and ``student_tuned`` are never ``None`` on the answer. Raises
        `JobNotFinishedError` (with the platform's message) until the
        training succeeded, and its subclass `JobResultsMissingError` for
        results without the tuned student's.
        """
        return _completed(training_id, self._fetch(training_id, options))

    def _fetch(self, training_id: str, options: CallOptions) -> EvaluationResults:
        # The answer as it is: predictions() needs its URLs, not the tuned student's scores.
        return _finished(
            training_id, self._t.request(EvaluationResults, _results(training_id, options))
        )

    def predictions(
        self, training_id: str, which: Which = "student-tuned", **options: Unpack[CallOptions]
    ) -> list[Prediction]:
        """Per-row predictions on the test set of ``which`` model (downloaded JSONL, parsed)."""
        url = _predictions_url(training_id, self._fetch(training_id, options), which)
        return parse_predictions(
            self._t.send(predictions_spec(url, options)).text,
            f"{which} predictions of {training_id}",
        )

    def download_model(
        self,
        training_id: str,
        dest: str | os.PathLike[str] = ".",
        *,
        progress: bool | None = None,
        **options: Unpack[CallOptions],
    ) -> Path:
        """Download and safely extract the trained model; return the ``model/`` folder.

        ``dest/model.tar`` stays beside it (it also holds the rest of the platform's layout).

        ``progress``: a tqdm bar (None: only on a terminal). An interrupted download resumes.
        Raises `JobNotFinishedError` until the training succeeded.
        """
        link = self._t.request(ModelDownload, _model(training_id, options))
        url = _model_url(training_id, link)
        return download_model_sync(self._t, url, dest, progress=progress, options=options)


class AsyncTrainings(AsyncV2JobResource[TrainingStatus]):
    """The async twin of `Trainings`."""

    _kind = Trainings._kind
    _root = Trainings._root
    _record = TrainingStatus

    async def create(
        self, model_id: str, upload_id: str, **options: Unpack[CallOptions]
    ) -> Training:
        return await self._t.request(Training, _create(model_id, upload_id, options))

    async def evaluation_results(
        self, training_id: str, **options: Unpack[CallOptions]
    ) -> CompletedEvaluationResults:
        return _completed(training_id, await self._fetch(training_id, options))

    async def _fetch(self, training_id: str, options: CallOptions) -> EvaluationResults:
        results = await self._t.request(EvaluationResults, _results(training_id, options))
        return _finished(training_id, results)

    async def predictions(
        self, training_id: str, which: Which = "student-tuned", **options: Unpack[CallOptions]
    ) -> list[Prediction]:
        url = _predictions_url(training_id, await self._fetch(training_id, options), which)
        response = await self._t.send(predictions_spec(url, options))
        return parse_predictions(response.text, f"{which} predictions of {training_id}")

    async def download_model(
        self,
        training_id: str,
        dest: str | os.PathLike[str] = ".",
        *,
        progress: bool | None = None,
        **options: Unpack[CallOptions],
    ) -> Path:
        link = await self._t.request(ModelDownload, _model(training_id, options))
        url = _model_url(training_id, link)
        return await download_model_async(self._t, url, dest, progress=progress, options=options)
