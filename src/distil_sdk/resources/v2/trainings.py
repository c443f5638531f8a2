"""``client.trainings``: distil a student, follow it, read its results, download the model."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from typing_extensions import Unpack

from ..._download import download_model_async, download_model_sync
from ..._errors import APIError
from ..._http import CallOptions, RequestSpec
from ...types.jobs import (
    EvaluationResults,
    JobCreateRequest,
    ModelDownload,
    Prediction,
    Training,
    TrainingStatus,
)
from .._base import AsyncJobResource, SyncJobResource, parse_predictions, predictions_spec, seg

__all__ = ["AsyncTrainings", "Trainings", "Which"]

Which = Literal["student-tuned", "student-base", "teacher"]


def _create(model_id: str, upload_id: str, options: CallOptions) -> RequestSpec:
    body = JobCreateRequest(upload_id=upload_id).model_dump()
    return RequestSpec("POST", f"/models/{seg(model_id)}/training", json=body, **options)


def _results(training_id: str, options: CallOptions) -> RequestSpec:
    return RequestSpec("GET", f"/trainings/{seg(training_id)}/evaluation-results", **options)


def _model(training_id: str, options: CallOptions) -> RequestSpec:
    return RequestSpec("GET", f"/trainings/{seg(training_id)}/model", **options)


def _predictions_url(training_id: str, results: EvaluationResults, which: str) -> str:
    url = results.predictions_url(which)
    if not url:
        raise APIError(
            f"training {training_id} has no {which!r} predictions URL; it is only there once the "
            "training succeeded (and 'teacher' only when the platform publishes it)"
        )
    return url


class Trainings(SyncJobResource[TrainingStatus]):
    """Trainings (distillation of a student): ``create``, ``get``, ``wait``, ``cancel``,
    ``evaluation_results``, ``predictions``, ``download_model``.

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
    ) -> EvaluationResults:
        """Teacher, base student and tuned student metrics (``GET /trainings/{id}/evaluation-results``)."""
        return self._t.request(EvaluationResults, _results(training_id, options))

    def predictions(
        self, training_id: str, which: Which = "student-tuned", **options: Unpack[CallOptions]
    ) -> list[Prediction]:
        """Per-row predictions on the test set of ``which`` model (downloaded JSONL, parsed)."""
        url = _predictions_url(training_id, self.evaluation_results(training_id, **options), which)
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

        ``progress``: a tqdm bar (None: only on a terminal). An interrupted download resumes.
        """
        link = self._t.request(ModelDownload, _model(training_id, options))
        return download_model_sync(self._t, link.s3_url, dest, progress=progress, options=options)


class AsyncTrainings(AsyncJobResource[TrainingStatus]):
    """The async twin of :class:`Trainings`."""

    _kind = Trainings._kind
    _root = Trainings._root
    _record = TrainingStatus

    async def create(
        self, model_id: str, upload_id: str, **options: Unpack[CallOptions]
    ) -> Training:
        return await self._t.request(Training, _create(model_id, upload_id, options))

    async def evaluation_results(
        self, training_id: str, **options: Unpack[CallOptions]
    ) -> EvaluationResults:
        return await self._t.request(EvaluationResults, _results(training_id, options))

    async def predictions(
        self, training_id: str, which: Which = "student-tuned", **options: Unpack[CallOptions]
    ) -> list[Prediction]:
        url = _predictions_url(
            training_id, await self.evaluation_results(training_id, **options), which
        )
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
        return await download_model_async(
            self._t, link.s3_url, dest, progress=progress, options=options
        )
