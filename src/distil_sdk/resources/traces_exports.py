"""``client.inference_endpoints.traces_exports``: an endpoint's records in a window, written to
one file (``/inference-endpoints/{name}/traces-exports``).

The reference (``execution/backend-api.md`` § Export the traces to a file): the create answers
201 with ``id``, ``created_at``, the window it used and a presigned ``download_url``; earlier
exports are listed, and read back one at a time, with the same fields. The window follows the
rule of ``/traces``: both bounds, always.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from typing_extensions import Unpack

from .._errors import JobNotFinishedError
from .._http import CallOptions, RequestSpec, parse_model
from .._polling import wait_async, wait_sync
from ..types.entities import CreateTracesExportRequest, TracesExport
from ._base import AsyncResource, SyncResource, WaitOptions, make_poller, seg
from ._entity import Parent, explained, fetch_spec, list_items, write_atomic
from ._traces import TimeLike, window

__all__ = ["AsyncTracesExports", "TracesExports"]

_KIND = "traces export"


def _root(name: str) -> str:
    return f"/inference-endpoints/{seg(name, 'name')}/traces-exports"


def _create(
    name: str, since: TimeLike | None, until: TimeLike | None, options: CallOptions
) -> RequestSpec:
    start, end = window(since, until)
    body = CreateTracesExportRequest.model_validate(
        {"from-start-time": start, "to-start-time": end}
    ).to_body()
    return RequestSpec("POST", _root(name), json=body, **options)


def _get(name: str, export_id: str, options: CallOptions) -> RequestSpec:
    return RequestSpec("GET", f"{_root(name)}/{seg(export_id, 'export_id')}", **options)


def _parse_list(data: Any, spec: RequestSpec, base_url: str) -> list[TracesExport]:
    items = list_items(data, "traces_exports", "traces exports", spec, base_url)
    return [parse_model(TracesExport, item, spec, base_url) for item in items]


def _settled(export: TracesExport) -> TracesExport:
    """The record with ``status`` set to what it means (`TracesExport.state`), which is
    what ``wait()`` polls on."""
    return export.model_copy(update={"status": export.state()})


def _url(name: str, export: TracesExport) -> str:
    if not export.download_url:
        raise JobNotFinishedError(
            f"traces export {export.id} of inference endpoint {name} has no download_url yet; "
            f"wait for it with client.inference_endpoints.traces_exports.wait({name!r}, "
            f"{export.id!r})",
            job_id=export.id,
            platform_message=export.message,
            record=export,
        )
    return export.download_url


def _target(name: str, dest: str | os.PathLike[str] | None) -> Path:
    """The file to write: ``dest``, or ``<name>-traces.jsonl`` inside it when it is a folder
    (the CLI's default file name)."""
    default = f"{name}-traces.jsonl"
    if dest is None:
        return Path(default)
    path = Path(dest)
    return path / default if path.is_dir() else path


def _parent(name: str) -> Parent:
    return Parent("inference endpoint", name, "inference_endpoints")


class TracesExports(SyncResource):
    """Traces exports of an inference endpoint: ``create``, ``list``, ``get``, ``wait``,
    ``download``. The file holds endpoint records (one JSON object per line), not a trace
    file: convert each with `to_trace_row`.

    Example:
        >>> exports = client.inference_endpoints.traces_exports
        >>> export = exports.create("support-yeOdAS", since="2026-09-01T00:00:00Z",
        ...                         until="2026-10-01T00:00:00Z")  # doctest: +SKIP
        >>> exports.download("support-yeOdAS", export.id, "raw-traces.jsonl")  # doctest: +SKIP
        PosixPath('raw-traces.jsonl')
    """

    def create(
        self,
        name: str,
        *,
        since: TimeLike | None = None,
        until: TimeLike | None = None,
        **options: Unpack[CallOptions],
    ) -> TracesExport:
        """Export the records of ``name`` between ``since`` and ``until`` (default: the last
        day) to one file (``POST /inference-endpoints/{name}/traces-exports``)."""
        with explained(parent=_parent(name)):
            return self._t.request(TracesExport, _create(name, since, until, options))

    def list(self, name: str, **options: Unpack[CallOptions]) -> list[TracesExport]:
        """The endpoint's exports (``GET /inference-endpoints/{name}/traces-exports``)."""
        spec = RequestSpec("GET", _root(name), **options)
        with explained(parent=_parent(name)):
            return _parse_list(self._t.json(spec), spec, self._t.base_url)

    def get(self, name: str, export_id: str, **options: Unpack[CallOptions]) -> TracesExport:
        """One export (``GET /inference-endpoints/{name}/traces-exports/{id}``)."""
        return self._t.request(TracesExport, _get(name, export_id, options))

    def wait(self, name: str, export_id: str, **options: Unpack[WaitOptions]) -> TracesExport:
        """Poll the export until its file can be downloaded; return the record, its
        ``status`` settled (``JOB_SUCCESS``). Options: see
        `WaitOptions`."""
        poller = make_poller(_KIND, export_id, self._t.clock, options, self._t.base_url)
        return wait_sync(poller, lambda: _settled(self.get(name, export_id)), self._t.sleep)

    def download(
        self,
        name: str,
        export_id: str,
        dest: str | os.PathLike[str] | None = None,
        **options: Unpack[CallOptions],
    ) -> Path:
        """Fetch the export's file from its presigned URL (no API token sent) into ``dest`` (a
        file, or a folder for ``<name>-traces.jsonl``; default: that name here), written
        atomically. Raises `JobNotFinishedError` while it has no URL."""
        url = _url(name, self.get(name, export_id, **options))
        target = _target(name, dest)
        target.parent.mkdir(parents=True, exist_ok=True)
        data = self._t.send(fetch_spec(url, options)).content
        return write_atomic(target.parent, target.name, data)


class AsyncTracesExports(AsyncResource):
    """The async twin of `TracesExports`."""

    async def create(
        self,
        name: str,
        *,
        since: TimeLike | None = None,
        until: TimeLike | None = None,
        **options: Unpack[CallOptions],
    ) -> TracesExport:
        with explained(parent=_parent(name)):
            return await self._t.request(TracesExport, _create(name, since, until, options))

    async def list(self, name: str, **options: Unpack[CallOptions]) -> list[TracesExport]:
        spec = RequestSpec("GET", _root(name), **options)
        with explained(parent=_parent(name)):
            return _parse_list(await self._t.json(spec), spec, self._t.base_url)

    async def get(self, name: str, export_id: str, **options: Unpack[CallOptions]) -> TracesExport:
        return await self._t.request(TracesExport, _get(name, export_id, options))

    async def wait(self, name: str, export_id: str, **options: Unpack[WaitOptions]) -> TracesExport:
        poller = make_poller(_KIND, export_id, self._t.clock, options, self._t.base_url)

        async def fetch() -> TracesExport:
            return _settled(await self.get(name, export_id))

        result: TracesExport = await wait_async(poller, fetch, self._t.sleep)
        return result

    async def download(
        self,
        name: str,
        export_id: str,
        dest: str | os.PathLike[str] | None = None,
        **options: Unpack[CallOptions],
    ) -> Path:
        url = _url(name, await self.get(name, export_id, **options))
        target = _target(name, dest)
        target.parent.mkdir(parents=True, exist_ok=True)
        data = (await self._t.send(fetch_spec(url, options))).content
        return write_atomic(target.parent, target.name, data)
