"""What every resource shares: the transport, path quoting, the wait() plumbing."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar, Generic, TypedDict, TypeVar
from urllib.parse import quote

from pydantic import BaseModel
from typing_extensions import Unpack

from .._errors import APIError
from .._http import AsyncTransport, CallOptions, RequestSpec, SyncTransport
from .._polling import (
    DEFAULT_POLL_INTERVAL_S,
    DEFAULT_WAIT_TIMEOUT_S,
    MAX_POLL_INTERVAL_S,
    Poller,
    wait_async,
    wait_sync,
)
from ..types.jobs import Prediction

__all__ = [
    "AsyncJobResource",
    "AsyncResource",
    "SyncJobResource",
    "SyncResource",
    "WaitOptions",
    "make_poller",
    "parse_predictions",
    "predictions_spec",
    "seg",
]


def seg(value: str) -> str:
    """An id as one URL path segment (ids come from users and must not inject path parts)."""
    if not isinstance(value, str) or not value:
        raise ValueError(f"expected a non-empty id string, got {value!r}")
    return quote(value, safe="")


class WaitOptions(TypedDict, total=False):
    """Options of every ``wait()``.

    timeout: overall seconds before :class:`~distil_sdk.JobTimeoutError` (None: no limit).
    poll_interval: first pause between polls; it grows by 1.5x up to ``max_interval``.
    on_progress: called with every record fetched.
    progress: show a status line on stderr.
    """

    timeout: float | None
    poll_interval: float
    max_interval: float
    on_progress: Callable[[Any], None] | None
    progress: bool


def make_poller(kind: str, job_id: str, clock: Callable[[], float], options: WaitOptions) -> Poller:
    return Poller(
        kind,
        job_id,
        timeout=options.get("timeout", DEFAULT_WAIT_TIMEOUT_S),
        poll_interval=options.get("poll_interval", DEFAULT_POLL_INTERVAL_S),
        max_interval=options.get("max_interval", MAX_POLL_INTERVAL_S),
        on_progress=options.get("on_progress"),
        progress=options.get("progress", False),
        clock=clock,
    )


class SyncResource:
    def __init__(self, transport: SyncTransport) -> None:
        self._t = transport


class AsyncResource:
    def __init__(self, transport: AsyncTransport) -> None:
        self._t = transport


R = TypeVar("R", bound=BaseModel)


class _Job(Generic[R]):
    """What a kind of job declares; the job resources below turn it into get/wait/cancel."""

    _kind: ClassVar[str]  # "training", for messages
    _root: ClassVar[str]  # "/trainings"
    _record: type[R]  # the status record

    def _status_spec(self, job_id: str, options: Any) -> RequestSpec:
        return RequestSpec("GET", f"{self._root}/{seg(job_id)}/status", **options)

    def _cancel_spec(self, job_id: str, options: Any) -> RequestSpec:
        # Cancelling twice is harmless, so the request may be retried like a GET.
        return RequestSpec("POST", f"{self._root}/{seg(job_id)}/cancel", idempotent=True, **options)


class SyncJobResource(SyncResource, _Job[R]):
    """get / wait / cancel of one kind of job."""

    def get(self, job_id: str, **options: Unpack[CallOptions]) -> R:
        """The job's status record (``GET /<jobs>/{id}/status``)."""
        return self._t.request(self._record, self._status_spec(job_id, options))

    def wait(self, job_id: str, **options: Unpack[WaitOptions]) -> R:
        """Poll until done; return the final record.

        Raises :class:`~distil_sdk.JobFailedError` (failure or stopped, with the platform's
        message) or :class:`~distil_sdk.JobTimeoutError`. Options: see :class:`WaitOptions`.
        """
        poller = make_poller(self._kind, job_id, self._t.clock, options)
        return wait_sync(poller, lambda: self.get(job_id), self._t.sleep)

    def cancel(self, job_id: str, **options: Unpack[CallOptions]) -> R:
        """Stop the job (``POST /<jobs>/{id}/cancel``); returns its status record."""
        return self._t.request(self._record, self._cancel_spec(job_id, options))


class AsyncJobResource(AsyncResource, _Job[R]):
    """The async twin of :class:`SyncJobResource`."""

    async def get(self, job_id: str, **options: Unpack[CallOptions]) -> R:
        return await self._t.request(self._record, self._status_spec(job_id, options))

    async def wait(self, job_id: str, **options: Unpack[WaitOptions]) -> R:
        poller = make_poller(self._kind, job_id, self._t.clock, options)
        result: R = await wait_async(poller, lambda: self.get(job_id), self._t.sleep)
        return result

    async def cancel(self, job_id: str, **options: Unpack[CallOptions]) -> R:
        return await self._t.request(self._record, self._cancel_spec(job_id, options))


def predictions_spec(url: str, options: Any) -> RequestSpec:
    # Relative URLs resolve against the API; the token is only attached on the API's origin.
    return RequestSpec(
        "GET", url, headers={"Accept": "application/x-ndjson, application/json, */*"}, **options
    )


def parse_predictions(text: str, source: str) -> list[Prediction]:
    """A predictions JSONL file, one :class:`Prediction` per non-empty line."""
    out: list[Prediction] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            out.append(Prediction.model_validate_json(line))
        except ValueError as exc:
            raise APIError(f"{source} line {number} is not a prediction record: {exc}") from exc
    return out
