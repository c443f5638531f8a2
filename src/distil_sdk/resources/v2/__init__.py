"""The ``/models`` route generation (September 2025): ``client.v2``.

The seed tutorial's workflow — ``POST /models``, inline uploads, teacher evaluations and
trainings started from an upload id, ``/trainings/{id}/model`` — kept as it was so that code
written against it keeps working. New code should use the current generation at the client's
top level (``client.datasets``, ``client.teacher_evaluations``, ``client.slms``...).
"""

from __future__ import annotations

from ..._http import AsyncTransport, SyncTransport
from .deployments import AsyncDeployments, Deployments
from .models import AsyncModels, Models
from .teacher_evaluations import AsyncTeacherEvaluations, TeacherEvaluations
from .trainings import AsyncTrainings, Trainings
from .uploads import AsyncUploads, Uploads

__all__ = [
    "V2",
    "AsyncDeployments",
    "AsyncModels",
    "AsyncTeacherEvaluations",
    "AsyncTrainings",
    "AsyncUploads",
    "AsyncV2",
    "Deployments",
    "Models",
    "TeacherEvaluations",
    "Trainings",
    "Uploads",
]


class V2:
    """The ``/models`` generation's resources, as ``client.v2.<resource>``.

    Example:
        >>> model = client.v2.models.create("triage")  # doctest: +SKIP
        >>> upload = client.v2.uploads.create(model.id, "my-task/")  # doctest: +SKIP
        >>> training = client.v2.trainings.create(model.id, upload.id)  # doctest: +SKIP
    """

    def __init__(self, transport: SyncTransport) -> None:
        self.models = Models(transport)
        self.uploads = Uploads(transport)
        self.teacher_evaluations = TeacherEvaluations(transport)
        self.trainings = Trainings(transport)
        self.deployments = Deployments(transport)


class AsyncV2:
    """The async twin of `V2`."""

    def __init__(self, transport: AsyncTransport) -> None:
        self.models = AsyncModels(transport)
        self.uploads = AsyncUploads(transport)
        self.teacher_evaluations = AsyncTeacherEvaluations(transport)
        self.trainings = AsyncTrainings(transport)
        self.deployments = AsyncDeployments(transport)
