"""What the current generation's resources share: entity reads, staging, error explanations.

Every entity collection answers ``GET /<c>`` and ``GET /<c>/{id}``
(`SyncEntityReads` / `AsyncEntityReads`); the collections of jobs
(``/datasets``, ``/teacher-evaluations``, ``/slms``) also answer ``/{id}/status``,
``/{id}/logs`` and ``/{id}/download-metadata``, which `SyncEntityResource` /
`AsyncEntityResource` add with ``wait()``. Request building and response parsing are
plain functions both call.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any, ClassVar, Generic, TypeVar

from pydantic import BaseModel
from typing_extensions import Unpack

from .._errors import (
    APIError,
    APIStatusError,
    BadRequestError,
    ConflictError,
    DistilError,
    GoneError,
    JobFailedError,
    NotFoundError,
    PaymentRequiredError,
)
from .._fs import write_bytes_atomic
from .._http import CallOptions, RequestSpec, SyncTransport, parse_model, redact
from .._log_follow import log_text
from .._polling import wait_async, wait_sync
from ..types.entities import DownloadMetadata, JobLogs, StagingUrls
from ._base import AsyncResource, SyncResource, WaitOptions, id_name, make_poller, seg
from ._override import Override, OverrideKind, override_from_text

__all__ = [
    "AsyncEntityReads",
    "AsyncEntityResource",
    "Parent",
    "SyncEntityReads",
    "SyncEntityResource",
    "explained",
    "fetch_spec",
    "put_spec",
    "staged_body",
    "staging_spec",
    "write_atomic",
]

logger = logging.getLogger("distil_sdk")

E = TypeVar("E", bound=BaseModel)
S = TypeVar("S", bound=BaseModel)
M = TypeVar("M", bound=DownloadMetadata)

LOG_TAIL_CHARS = 4000
# The progress display's log fetch, beside every poll: one quick try, never the request's
# retries (the next poll asks again).
LOG_POLL_OPTIONS: CallOptions = {"max_retries": 0, "timeout": 10.0}


# ---------------------------------------------------------------------- errors the platform documents


class Parent:
    """The entity a create names, for error messages: ``Parent("dataset", "ds1", "datasets")``."""

    def __init__(self, kind: str, entity_id: str, attribute: str) -> None:
        self.kind, self.id, self.attribute = kind, entity_id, attribute


def _reissue(exc: APIStatusError, message: str) -> APIStatusError:
    new = type(exc)(
        message,
        status_code=exc.status_code,
        method=exc.method,
        url=exc.url,
        body=exc.body,
        response=exc.response,
    )
    return new


def explain(exc: APIStatusError, *, route_key: str | None, parent: Parent | None) -> APIStatusError:
    """The platform's 402/404/409/410/400 with a message that says what to do next."""
    said = exc.message
    if isinstance(exc, PaymentRequiredError):
        where = f"route {route_key}" if route_key else "this route"
        new = _reissue(
            exc,
            f"out of credits for {where} ({said}); client.credits.balances() shows what is left "
            "per route - ask distil labs for a grant. Invalid input never costs a credit.",
        )
        assert isinstance(new, PaymentRequiredError)
        new.route_key = route_key
        return new
    if isinstance(exc, ConflictError) and parent is not None:
        return _reissue(
            exc,
            f"{parent.kind} {parent.id} is not ready ({said}); wait for it with "
            f"client.{parent.attribute}.wait({parent.id!r}) and submit again",
        )
    if isinstance(exc, NotFoundError) and parent is not None:
        return _reissue(
            exc,
            f"no {parent.kind} {parent.id} on this platform ({said}); "
            f"client.{parent.attribute}.list() shows the ids there are",
        )
    if isinstance(exc, GoneError):
        return _reissue(
            exc,
            f"the platform retired this route: {said} (the /models generation is under "
            "client.v2; the current one is client.datasets, client.slms...)",
        )
    if isinstance(exc, BadRequestError):
        return _reissue(exc, f"the platform rejected the request: {said}")
    return exc


@contextmanager
def explained(*, route_key: str | None = None, parent: Parent | None = None) -> Iterator[None]:
    """Re-raise the documented error statuses with `explain`'s message (cause chained)."""
    try:
        yield
    except (PaymentRequiredError, ConflictError, NotFoundError, GoneError, BadRequestError) as exc:
        new = explain(exc, route_key=route_key, parent=parent)
        if new is exc:
            raise
        raise new from exc


# ---------------------------------------------------------------------------------- staging


def staging_spec(kind: str, options: CallOptions) -> RequestSpec:
    """``GET /staging-<kind>-s3-urls``."""
    return RequestSpec("GET", f"/staging-{kind}-s3-urls", **options)


def put_spec(url: str, data: bytes, options: CallOptions) -> RequestSpec:
    # auth=False: a presigned URL carries its own signature and must never see the API token -
    # even when it is on the API's own origin (the local platform signs URLs for itself), which
    # the transport's origin check alone would not catch. No Content-Type: a presigned PUT may be
    # signed without one, and S3 then rejects a request that adds it.
    return RequestSpec("PUT", url, content=data, auth=False, headers={"Accept": "*/*"}, **options)


def fetch_spec(url: str, options: CallOptions) -> RequestSpec:
    """A GET of a presigned download URL (no token, whatever its origin)."""
    return RequestSpec("GET", url, auth=False, headers={"Accept": "*/*"}, **options)


def write_atomic(dest: Path, name: str, data: bytes) -> Path:
    """Write ``dest/name`` through a hidden temporary file renamed into place: never a
    half-written file under the real name."""
    return write_bytes_atomic(dest / name, data)


def staged_body(
    urls: StagingUrls, files: Mapping[str, bytes], keys: Mapping[str, str], route: str
) -> dict[str, tuple[str, bytes]]:
    """For each file field, the presigned URL to PUT it to (and its bytes).

    The staging answer names files by extension (``train_data_jsonl``), a create body by field
    (``train_data``); ``keys`` is that map.
    """
    out: dict[str, tuple[str, bytes]] = {}
    offered = urls.urls
    for field, data in files.items():
        key = keys.get(field)
        if key is None:
            raise DistilError(f"{field!r} is not a file this entity takes; it takes {sorted(keys)}")
        url = offered.get(key)
        if not url:
            raise APIError(
                f"GET {route} gave no upload URL for {key!r} (it offered {sorted(offered)}); "
                "the platform's staging answer changed - please report this",
                method="GET",
                url=route,
            )
        out[field] = (url, data)
    return out


# ----------------------------------------------------------------------------------- reads


def list_items(data: Any, key: str, what: str, spec: RequestSpec, base_url: str) -> list[Any]:
    # The reference lists a collection as a bare JSON array; an object holding it under the
    # collection's name or "items" (the /models generation's style) is accepted too.
    if isinstance(data, dict):
        for name in (key, "items", "data"):
            if isinstance(data.get(name), list):
                data = data[name]
                break
    if not isinstance(data, list):
        raise APIError(
            f"GET {redact(spec.url)} did not return a list of {what}",
            method="GET",
            url=redact(spec.url),
        )
    return data


def with_log_tail(exc: JobFailedError, logs: JobLogs | None) -> JobFailedError:
    """The failure with the end of the job's log, which is where the cause is."""
    tail = logs.text[-LOG_TAIL_CHARS:].strip() if logs is not None else ""
    if not tail:
        return exc
    new = JobFailedError(
        f"{exc}\n--- end of the job log ---\n{tail}",
        job_id=exc.job_id,
        status=exc.status,
        record=exc.record,
    )
    return new


class _Collection(Generic[E, S, M]):
    """What a collection declares; the resources below turn it into reads and wait()."""

    _kind: ClassVar[str]  # "dataset", for messages
    _root: ClassVar[str]  # "/datasets"
    _list_key: ClassVar[str]  # "datasets"
    _entity: type[E]
    _status: type[S]
    _metadata: type[M]

    def _spec(self, entity_id: str, sub: str, options: Any) -> RequestSpec:
        path = f"{self._root}/{seg(entity_id, id_name(self._kind))}" + (f"/{sub}" if sub else "")
        return RequestSpec("GET", path, **options)

    def _list_spec(self, options: Any) -> RequestSpec:
        return RequestSpec("GET", self._root, **options)

    def _metadata_url(
        self, entity_id: str, metadata: DownloadMetadata, kind: OverrideKind, status: Any
    ) -> str:
        url = getattr(metadata, f"{kind}_url", None)
        if isinstance(url, str) and url:
            return url
        state = getattr(getattr(status, "status", None), "value", "unknown")
        raise DistilError(
            f"{self._kind} {entity_id}: its {kind} is not available yet (status {state}); "
            f"wait for JOB_SUCCESS (client.{self._list_key}.wait({entity_id!r})) and read it again"
        )

    def _parse_list(self, data: Any, spec: RequestSpec, base_url: str) -> list[E]:
        items = list_items(data, self._list_key, f"{self._kind}s", spec, base_url)
        return [parse_model(self._entity, item, spec, base_url) for item in items]


class SyncEntityReads(SyncResource, _Collection[E, S, M]):
    """get / list of one collection."""

    _t: SyncTransport

    def get(self, entity_id: str, **options: Unpack[CallOptions]) -> E:
        """One entity, with its status (``GET /<collection>/{id}``)."""
        with explained(parent=Parent(self._kind, entity_id, self._list_key)):
            return self._t.request(self._entity, self._spec(entity_id, "", options))

    def list(self, **options: Unpack[CallOptions]) -> list[E]:
        """Every entity of the collection, newest first (``GET /<collection>``)."""
        spec = self._list_spec(options)
        return self._parse_list(self._t.json(spec), spec, self._t.base_url)


class SyncEntityResource(SyncEntityReads[E, S, M]):
    """get / list / status / wait / logs / download_metadata of a collection of jobs."""

    def status(self, entity_id: str, **options: Unpack[CallOptions]) -> S:
        """The job's status (``GET /<collection>/{id}/status``)."""
        with explained(parent=Parent(self._kind, entity_id, self._list_key)):
            return self._t.request(self._status, self._spec(entity_id, "status", options))

    def logs(self, entity_id: str, **options: Unpack[CallOptions]) -> JobLogs:
        """The job's log (``GET /<collection>/{id}/logs``); ``.text`` / ``.tail()``."""
        return self._t.request(JobLogs, self._spec(entity_id, "logs", options))

    def download_metadata(self, entity_id: str, **options: Unpack[CallOptions]) -> M:
        """Presigned URLs of the entity's config and job description (free of credits)."""
        return self._t.request(self._metadata, self._spec(entity_id, "download-metadata", options))

    def wait(self, entity_id: str, **options: Unpack[WaitOptions]) -> S:
        """Poll the status until the job is done; return the final status record.

        Raises `JobFailedError` (with the end of the job's log) or
        `JobTimeoutError`. Options: see `WaitOptions`.
        """
        poller = make_poller(self._kind, entity_id, self._t.clock, options, self._t.base_url)
        try:
            return wait_sync(
                poller,
                lambda: self.status(entity_id),
                self._t.sleep,
                logs=lambda: log_text(self.logs(entity_id, **LOG_POLL_OPTIONS).logs),
            )
        except JobFailedError as exc:
            new = with_log_tail(exc, self._logs_or_none(entity_id))
            if new is exc:
                raise
            raise new from exc

    def config_override(self, entity_id: str, **options: Unpack[CallOptions]) -> Override:
        """The entity's whole config as an `Override` to edit and send (free)."""
        return self._override(entity_id, "config", options)

    def job_description_override(self, entity_id: str, **options: Unpack[CallOptions]) -> Override:
        """The entity's whole job description as an `Override` to edit and send (free)."""
        return self._override(entity_id, "job_description", options)

    def _override(self, entity_id: str, kind: OverrideKind, options: CallOptions) -> Override:
        metadata = self.download_metadata(entity_id, **options)
        if getattr(metadata, f"{kind}_url", None):
            url = self._metadata_url(entity_id, metadata, kind, None)
        else:
            url = self._metadata_url(entity_id, metadata, kind, self.status(entity_id, **options))
        text = self._t.send(fetch_spec(url, options)).text
        return override_from_text(kind, f"{self._kind} {entity_id}", text, redact(url))

    def _logs_or_none(self, entity_id: str) -> JobLogs | None:
        try:
            return self.logs(entity_id)
        except APIError as exc:  # the failure is what matters; the log is a bonus
            logger.info("could not read the log of %s %s: %s", self._kind, entity_id, exc)
            return None


class AsyncEntityReads(AsyncResource, _Collection[E, S, M]):
    """The async twin of `SyncEntityReads`."""

    async def get(self, entity_id: str, **options: Unpack[CallOptions]) -> E:
        with explained(parent=Parent(self._kind, entity_id, self._list_key)):
            return await self._t.request(self._entity, self._spec(entity_id, "", options))

    async def list(self, **options: Unpack[CallOptions]) -> list[E]:
        spec = self._list_spec(options)
        return self._parse_list(await self._t.json(spec), spec, self._t.base_url)


class AsyncEntityResource(AsyncEntityReads[E, S, M]):
    """The async twin of `SyncEntityResource`."""

    async def status(self, entity_id: str, **options: Unpack[CallOptions]) -> S:
        with explained(parent=Parent(self._kind, entity_id, self._list_key)):
            return await self._t.request(self._status, self._spec(entity_id, "status", options))

    async def logs(self, entity_id: str, **options: Unpack[CallOptions]) -> JobLogs:
        return await self._t.request(JobLogs, self._spec(entity_id, "logs", options))

    async def download_metadata(self, entity_id: str, **options: Unpack[CallOptions]) -> M:
        return await self._t.request(
            self._metadata, self._spec(entity_id, "download-metadata", options)
        )

    async def wait(self, entity_id: str, **options: Unpack[WaitOptions]) -> S:
        poller = make_poller(self._kind, entity_id, self._t.clock, options, self._t.base_url)

        async def logs() -> str | None:
            return log_text((await self.logs(entity_id, **LOG_POLL_OPTIONS)).logs)

        try:
            result: S = await wait_async(
                poller, lambda: self.status(entity_id), self._t.sleep, logs=logs
            )
            return result
        except JobFailedError as exc:
            new = with_log_tail(exc, await self._logs_or_none(entity_id))
            if new is exc:
                raise
            raise new from exc

    async def config_override(self, entity_id: str, **options: Unpack[CallOptions]) -> Override:
        return await self._override(entity_id, "config", options)

    async def job_description_override(
        self, entity_id: str, **options: Unpack[CallOptions]
    ) -> Override:
        return await self._override(entity_id, "job_description", options)

    async def _override(self, entity_id: str, kind: OverrideKind, options: CallOptions) -> Override:
        metadata = await self.download_metadata(entity_id, **options)
        if getattr(metadata, f"{kind}_url", None):
            url = self._metadata_url(entity_id, metadata, kind, None)
        else:
            status = await self.status(entity_id, **options)
            url = self._metadata_url(entity_id, metadata, kind, status)
        response = await self._t.send(fetch_spec(url, options))
        return override_from_text(kind, f"{self._kind} {entity_id}", response.text, redact(url))

    async def _logs_or_none(self, entity_id: str) -> JobLogs | None:
        try:
            return await self.logs(entity_id)
        except APIError as exc:
            logger.info("could not read the log of %s %s: %s", self._kind, entity_id, exc)
            return None
