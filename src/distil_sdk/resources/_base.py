"""What every resource shares: the transport, path quoting, the wait() plumbing."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, ClassVar, Generic, TypedDict, TypeVar
from urllib.parse import quote

import httpx
from pydantic import BaseModel
from typing_extensions import Unpack

from .._errors import APIError, DistilError
from .._http import AsyncTransport, CallOptions, RequestSpec, SyncTransport
from .._polling import (
    DEFAULT_OUTAGE_BUDGET_S,
    DEFAULT_POLL_INTERVAL_S,
    DEFAULT_WAIT_TIMEOUT_S,
    MAX_POLL_INTERVAL_S,
    Poller,
    wait_async,
    wait_sync,
)
from .._progress import resolve_progress
from ..types.jobs import Prediction

__all__ = [
    "AsyncJobResource",
    "AsyncResource",
    "SyncJobResource",
    "SyncResource",
    "WaitOptions",
    "id_name",
    "is_loopback_url",
    "make_poller",
    "narrowed",
    "parse_predictions",
    "predictions_spec",
    "require_local",
    "seg",
]


def seg(value: str, name: str = "id") -> str:
    """An id as one URL path segment, refused unless it can be one.

    Ids come from users: an empty one turns ``/slms/{id}/status`` into ``/slms//status`` (another
    route, or a confusing 404), and a '/' or a dot segment would reach another resource.

    Args:
        value: the id the caller passed.
        name: the caller's argument, named in the error (``slm_id``).

    Raises:
        ValueError: `value` is not a string, is empty or blank, contains '/', or is '.' or '..'.
    """
    if not isinstance(value, str) or not value.strip() or "/" in value or value in (".", ".."):
        # An entity passed where its id belongs is the usual slip: say what to pass instead.
        hint = "; pass its `.id`" if hasattr(value, "id") else ""
        raise ValueError(
            f"{name} must be a non-empty id (a string without '/'), got {value!r}{hint}"
        )
    return quote(value, safe="")


def id_name(kind: str) -> str:
    """The argument name an id of ``kind`` goes by in messages: "teacher evaluation" ->
    ``teacher_evaluation_id``."""
    return kind.lower().replace(" ", "_") + "_id"


def is_loopback_url(base_url: str) -> bool:
    """True for a base URL on this machine (``localhost``, ``127.*``, ``::1``): the local
    platform."""
    host = httpx.URL(base_url).host
    return host in ("localhost", "::1") or host.startswith("127.")


def require_local(base_url: str, what: str) -> None:
    """Refuse a local-platform extension against anything but a loopback base URL.

    Some routes exist on the embedded local platform only (no public source documents them for
    the hosted one); the client must never send them to the hosted platform.
    """
    if is_loopback_url(base_url):
        return
    raise DistilError(
        f"{what} is an extension of the local platform (DistilClient.local(), a loopback base "
        f"URL); the platform at {base_url} documents no such route, so nothing was sent"
    )


class WaitOptions(TypedDict, total=False):
    """Options of every ``wait()``.

    timeout: overall seconds before `JobTimeoutError` (None: no limit).
    poll_interval: first pause between polls; it grows by 1.5x up to ``max_interval``.
    on_progress: called with every record fetched.
    progress: show a status line on stderr, with the job log's new lines (each training
        epoch's loss and time left, on the local platform) printed above it as they come; the
        current generation then reads ``/{id}/logs`` beside each poll, and a log that cannot
        be read never fails the wait. Default (None): on when stderr is a terminal or the code
        runs in a notebook, off otherwise; ``DISTIL_NO_PROGRESS=1`` turns it off.
    outage_budget: seconds the platform may stay unreachable (connection errors, timeouts,
        408/429/5xx after each request's own retries) before
        `JobWaitInterruptedError`; default 900 (15 minutes), None: no limit.
        Failed polls are retried with a growing pause, logged and shown on the progress line.
    """

    timeout: float | None
    poll_interval: float
    max_interval: float
    on_progress: Callable[[Any], None] | None
    progress: bool | None
    outage_budget: float | None


#: The longest pause between polls of a local platform (a loopback base URL): its jobs take
#: seconds to minutes and a poll costs it a few milliseconds, so the hosted cap (30 s) would only
#: leave a finished local job unread for up to half a minute.
LOCAL_MAX_POLL_INTERVAL_S = 3.0


def make_poller(
    kind: str,
    job_id: str,
    clock: Callable[[], float],
    options: WaitOptions,
    base_url: str | None = None,
) -> Poller:
    """The `Poller` of one wait; ``base_url`` (the client's) picks the default pause cap:
    `LOCAL_MAX_POLL_INTERVAL_S` for a local platform, else `MAX_POLL_INTERVAL_S`."""
    local = base_url is not None and is_loopback_url(base_url)
    cap = LOCAL_MAX_POLL_INTERVAL_S if local else MAX_POLL_INTERVAL_S
    return Poller(
        kind,
        job_id,
        timeout=options.get("timeout", DEFAULT_WAIT_TIMEOUT_S),
        poll_interval=options.get("poll_interval", DEFAULT_POLL_INTERVAL_S),
        max_interval=options.get("max_interval", cap),
        on_progress=options.get("on_progress"),
        progress=resolve_progress(options.get("progress")),
        clock=clock,
        outage_budget=options.get("outage_budget", DEFAULT_OUTAGE_BUDGET_S),
    )


class SyncResource:
    def __init__(self, transport: SyncTransport) -> None:
        self._t = transport


class AsyncResource:
    def __init__(self, transport: AsyncTransport) -> None:
        self._t = transport


R = TypeVar("R", bound=BaseModel)


class _Job(Generic[R]):
    """What a kind of job declares; the job resources below turn it into get/wait (and the
    local platform's stop, `SyncJobResource.cancel_local`)."""

    _kind: ClassVar[str]  # "training", for messages
    _root: ClassVar[str]  # "/trainings"
    _record: type[R]  # the status record

    def _status_spec(self, job_id: str, options: Any) -> RequestSpec:
        path = f"{self._root}/{seg(job_id, id_name(self._kind))}/status"
        return RequestSpec("GET", path, **options)

    def _cancel_local_spec(self, base_url: str, job_id: str, options: Any) -> RequestSpec:
        # POST .../cancel is the local platform's route only; stopping twice is harmless, so
        # the request may be retried like a GET.
        require_local(base_url, f"cancel_local() ({self._kind} {job_id})")
        path = f"{self._root}/{seg(job_id, id_name(self._kind))}/cancel"
        return RequestSpec("POST", path, idempotent=True, **options)


class SyncJobResource(SyncResource, _Job[R]):
    """get / wait of one kind of job (and ``cancel_local`` on the local platform)."""

    def get(self, job_id: str, **options: Unpack[CallOptions]) -> R:
        """The job's status record (``GET /<jobs>/{id}/status``)."""
        return self._t.request(self._record, self._status_spec(job_id, options))

    def wait(self, job_id: str, **options: Unpack[WaitOptions]) -> R:
        """Poll until done; return the final record.

        Raises `JobFailedError` (failure or stopped, with the platform's
        message), `JobTimeoutError`, or
        `JobWaitInterruptedError` when the platform stayed unreachable longer
        than ``outage_budget`` (the job keeps running: call ``wait()`` again). Options: see
        `WaitOptions`.
        """
        poller = make_poller(self._kind, job_id, self._t.clock, options, self._t.base_url)
        return wait_sync(poller, lambda: self.get(job_id), self._t.sleep)

    def cancel_local(self, job_id: str, **options: Unpack[CallOptions]) -> R:
        """Local platform only: stop the job (``POST /<jobs>/{id}/cancel``, a route of the
        embedded local platform that no public source documents for the hosted one); returns
        its status record. Raises `DistilError` without sending anything
        when the client's base URL is not a loopback address."""
        return self._t.request(
            self._record, self._cancel_local_spec(self._t.base_url, job_id, options)
        )


class AsyncJobResource(AsyncResource, _Job[R]):
    """The async twin of `SyncJobResource`."""

    async def get(self, job_id: str, **options: Unpack[CallOptions]) -> R:
        return await self._t.request(self._record, self._status_spec(job_id, options))

    async def wait(self, job_id: str, **options: Unpack[WaitOptions]) -> R:
        poller = make_poller(self._kind, job_id, self._t.clock, options, self._t.base_url)
        result: R = await wait_async(poller, lambda: self.get(job_id), self._t.sleep)
        return result

    async def cancel_local(self, job_id: str, **options: Unpack[CallOptions]) -> R:
        """Local platform only: the async twin of `SyncJobResource.cancel_local`."""
        spec = self._cancel_local_spec(self._t.base_url, job_id, options)
        return await self._t.request(self._record, spec)


N = TypeVar("N", bound=BaseModel)


def narrowed(cls: type[N], record: BaseModel) -> N:
    """``record`` read again as ``cls``, its subclass whose results are not Optional.

    The caller checked the fields ``cls`` requires (and raised a clear error otherwise); the
    fields the platform's answer set stay the ones set, so ``exclude_unset`` dumps are unchanged.
    """
    out = cls.model_validate(dict(record))
    out.__pydantic_fields_set__ = set(record.model_fields_set)
    return out


def predictions_spec(url: str, options: Any) -> RequestSpec:
    # Relative URLs resolve against the API; the token is only attached on the API's origin.
    return RequestSpec(
        "GET", url, headers={"Accept": "application/x-ndjson, application/json, */*"}, **options
    )


def _rows_of_document(text: str) -> list[Any] | None:
    """The rows of a predictions file that is one JSON document (``metrics-eval-full.json``):
    a list of rows, an object holding one, or a single row. ``None`` when it is not one document
    (JSONL with several lines)."""
    try:
        document = json.loads(text)
    except ValueError:
        return None
    if isinstance(document, list):
        return document
    if isinstance(document, dict):
        if "question" in document or "prompt" in document:
            return [document]
        lists = [v for v in document.values() if isinstance(v, list)]
        if len(lists) == 1:
            return lists[0]
    return [document]


def parse_predictions(text: str, source: str) -> list[Prediction]:
    """A predictions file, one `Prediction` per row.

    Reads JSONL (one row per line) and the platform's ``metrics-eval-full.json`` (one JSON
    document holding the rows); rows are ``question``/``answer`` or ``prompt``/``completion``.
    Raises `APIError` naming the row that is not a prediction record.
    """
    rows = _rows_of_document(text)
    numbered = (
        list(enumerate(rows, start=1))
        if rows is not None
        else [(n, line) for n, line in enumerate(text.splitlines(), start=1) if line.strip()]
    )
    where = "row" if rows is not None else "line"
    out: list[Prediction] = []
    for number, row in numbered:
        try:
            out.append(
                Prediction.model_validate_json(row)
                if isinstance(row, str)
                else Prediction.model_validate(row)
            )
        except ValueError as exc:
            raise APIError(f"{source} {where} {number} is not a prediction record: {exc}") from exc
    return out
