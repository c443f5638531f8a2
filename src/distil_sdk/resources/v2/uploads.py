"""``client.uploads``: send a task bundle (validated locally first) and read its status."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Union

from typing_extensions import Unpack

from ..._errors import DataValidationError, UnprocessableEntityError
from ..._http import CallOptions, RequestSpec
from ...types.jobs import Upload, UploadStatus
from .._base import AsyncResource, SyncResource, seg

if TYPE_CHECKING:
    from ...types.data import TaskBundle

__all__ = ["AsyncUploads", "BundleLike", "Uploads", "upload_payload"]

BundleLike = Union["TaskBundle", str, "os.PathLike[str]", Mapping[str, Any]]


def upload_payload(data: BundleLike) -> dict[str, Any]:
    """The ``POST /models/{id}/uploads`` body for ``data``, validated locally first.

    ``data`` is a `TaskBundle`, a task directory, or an already built upload
    body (a mapping, re-parsed and validated the way the platform would). Raises
    `DataValidationError` carrying the report when it has errors, so nothing
    is sent that the platform would reject.
    """
    # Imported here: the data layer pulls in more than a client that only reads statuses needs.
    from ...types.data import TaskBundle

    if isinstance(data, Mapping):
        TaskBundle.from_upload_payload(dict(data)).validate().raise_for_errors()
        return dict(data)
    bundle = data if isinstance(data, TaskBundle) else TaskBundle.from_dir(Path(data))
    bundle.validate().raise_for_errors()
    return bundle.to_upload_payload()


def _create(model_id: str, data: BundleLike, options: CallOptions) -> RequestSpec:
    return RequestSpec(
        "POST", f"/models/{seg(model_id, 'model_id')}/uploads", json=upload_payload(data), **options
    )


def _server_findings(exc: UnprocessableEntityError) -> DataValidationError | None:
    """The platform's 422 with findings, as the same error local validation raises."""
    findings = exc.body.get("findings") if isinstance(exc.body, dict) else None
    if not isinstance(findings, list):
        return None
    from ...types.validation import ValidationReport

    try:
        report = ValidationReport.model_validate({"findings": findings})
    except ValueError:
        return None
    return DataValidationError(report, f"the platform rejected the upload: {report.summary()}")


def _status(upload_id: str, options: CallOptions) -> RequestSpec:
    return RequestSpec("GET", f"/uploads/{seg(upload_id, 'upload_id')}/status", **options)


class Uploads(SyncResource):
    """Uploads of task data to a model.

    Example:
        >>> upload = client.v2.uploads.create(model.id, "my-task/")  # doctest: +SKIP
        >>> client.v2.uploads.get(upload.id).status  # doctest: +SKIP
    """

    def create(self, model_id: str, data: BundleLike, **options: Unpack[CallOptions]) -> Upload:
        """Validate ``data`` locally, then upload it (``POST /models/{id}/uploads``)."""
        spec = _create(model_id, data, options)
        try:
            return self._t.request(Upload, spec)
        except UnprocessableEntityError as exc:
            err = _server_findings(exc)
            if err is None:
                raise
            raise err from exc

    def get(self, upload_id: str, **options: Unpack[CallOptions]) -> UploadStatus:
        """The upload's processing status (``GET /uploads/{id}/status``)."""
        return self._t.request(UploadStatus, _status(upload_id, options))


class AsyncUploads(AsyncResource):
    """The async twin of `Uploads`."""

    async def create(
        self, model_id: str, data: BundleLike, **options: Unpack[CallOptions]
    ) -> Upload:
        spec = _create(model_id, data, options)
        try:
            return await self._t.request(Upload, spec)
        except UnprocessableEntityError as exc:
            err = _server_findings(exc)
            if err is None:
                raise
            raise err from exc

    async def get(self, upload_id: str, **options: Unpack[CallOptions]) -> UploadStatus:
        return await self._t.request(UploadStatus, _status(upload_id, options))
