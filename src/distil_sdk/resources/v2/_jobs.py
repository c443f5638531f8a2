"""The ``/models`` generation's job resources: status records parsed with the job id filled in.

The current platform's status answer may be ``{"status": ...}`` alone; the id asked for is the
record's id, so it is filled in before parsing rather than failing on a missing field.
"""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel
from typing_extensions import Unpack

from ..._errors import JobNotFinishedError
from ..._http import CallOptions, RequestSpec, parse_model
from .._base import AsyncJobResource, SyncJobResource

__all__ = ["AsyncV2JobResource", "SyncV2JobResource", "not_finished"]

R = TypeVar("R", bound=BaseModel)

_ID_KEYS = ("id", "teacher_evaluation_id", "training_id")


def _with_id(data: Any, job_id: str) -> Any:
    if isinstance(data, dict) and not any(data.get(key) for key in _ID_KEYS):
        return {**data, "id": job_id}
    return data


def not_finished(
    kind: str, job_id: str, what: str, message: str | None, record: Any
) -> JobNotFinishedError:
    """The error for a job whose ``what`` (results, model) is not there yet (HTTP 200 + null)."""
    said = f": the platform says {message!r}" if message else ""
    return JobNotFinishedError(
        f"{kind} {job_id} has no {what} yet{said}; wait for it to succeed "
        f"(e.g. client.v2.{kind.replace(' ', '_')}s.wait({job_id!r})) and check its status",
        job_id=job_id,
        platform_message=message,
        record=record,
    )


class SyncV2JobResource(SyncJobResource[R]):
    """get / wait (and the local platform's ``cancel_local``), with the job id filled into
    records that lack one."""

    def _record_of(self, spec: RequestSpec, job_id: str) -> R:
        return parse_model(
            self._record, _with_id(self._t.json(spec), job_id), spec, self._t.base_url
        )

    def get(self, job_id: str, **options: Unpack[CallOptions]) -> R:
        """The job's status record (``GET /<jobs>/{id}/status``)."""
        return self._record_of(self._status_spec(job_id, options), job_id)

    def cancel_local(self, job_id: str, **options: Unpack[CallOptions]) -> R:
        """Local platform only: stop the job (``POST /<jobs>/{id}/cancel``, a route of the
        embedded local platform that no public source documents for the hosted one); returns
        its status record. Refuses (`DistilError`, nothing sent) any base
        URL that is not a loopback address."""
        spec = self._cancel_local_spec(self._t.base_url, job_id, options)
        return self._record_of(spec, job_id)


class AsyncV2JobResource(AsyncJobResource[R]):
    """The async twin of `SyncV2JobResource`."""

    async def _record_of(self, spec: RequestSpec, job_id: str) -> R:
        data = await self._t.json(spec)
        return parse_model(self._record, _with_id(data, job_id), spec, self._t.base_url)

    async def get(self, job_id: str, **options: Unpack[CallOptions]) -> R:
        return await self._record_of(self._status_spec(job_id, options), job_id)

    async def cancel_local(self, job_id: str, **options: Unpack[CallOptions]) -> R:
        """Local platform only: the async twin of `SyncV2JobResource.cancel_local`."""
        spec = self._cancel_local_spec(self._t.base_url, job_id, options)
        return await self._record_of(spec, job_id)
