"""``client.prepared_traces``: a trace file (or an endpoint's records) to build Datasets from."""

from __future__ import annotations

import os
from pathlib import Path

from typing_extensions import Unpack

from .._errors import DistilError
from .._http import CallOptions, RequestSpec
from ..types._traces import TRACES_FILE
from ..types.entities import (
    PREPARED_TRACES_STAGING_KEYS,
    CreatePreparedTracesRequest,
    DownloadMetadata,
    EntityStatus,
    PreparedTraces,
    PreparedTracesDownload,
    StagingUrls,
)
from ._entity import (
    AsyncEntityReads,
    SyncEntityReads,
    explained,
    fetch_spec,
    put_spec,
    staged_body,
    staging_spec,
    write_atomic,
)

__all__ = ["AsyncPreparedTraces", "PreparedTracesResource"]

_ROUTE = "/staging-prepared-traces-s3-urls"


def _traces_bytes(traces: str | os.PathLike[str] | bytes | None) -> bytes | None:
    if traces is None or isinstance(traces, bytes):
        return traces
    path = Path(traces)
    if not path.is_file():
        raise DistilError(f"{path}: no such trace file (one JSON conversation per line)")
    return path.read_bytes()


def _check(traces: bytes | None, endpoint: str | None) -> None:
    if (traces is None) == (endpoint is None):
        raise DistilError("give exactly one of traces= (a JSONL file) and inference_endpoint_name=")


def _traces_url(download: PreparedTracesDownload, prepared_traces_id: str) -> str:
    if not download.traces_url:
        raise DistilError(
            f"prepared traces {prepared_traces_id!r}: the platform gave no traces_url"
        )
    return download.traces_url


def _folder(dest: str | os.PathLike[str]) -> Path:
    folder = Path(dest)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _create(body: CreatePreparedTracesRequest, options: CallOptions) -> RequestSpec:
    return RequestSpec("POST", "/prepared-traces", json=body.to_body(), **options)


class _Declaration:
    _kind = "prepared traces"
    _root = "/prepared-traces"
    _list_key = "prepared_traces"
    _entity = PreparedTraces
    _status = EntityStatus
    _metadata = DownloadMetadata


class PreparedTracesResource(
    _Declaration, SyncEntityReads[PreparedTraces, EntityStatus, DownloadMetadata]
):
    """Prepared traces: ``create`` (a staged ``traces.jsonl`` or an endpoint's name), ``get``,
    ``list``, ``download`` (``download_file`` writes the file): the routes the reference
    documents for them (a PreparedTraces has
    no job, no log and no config of its own). A Dataset is made from one with
    ``client.datasets.from_prepared_traces``.

    Example:
        >>> pt = client.prepared_traces.create(traces="traces.jsonl")  # doctest: +SKIP
        >>> ds = client.datasets.from_prepared_traces(pt.id, config, job_description)  # doctest: +SKIP
    """

    def create(
        self,
        traces: str | os.PathLike[str] | bytes | None = None,
        *,
        inference_endpoint_name: str | None = None,
        **options: Unpack[CallOptions],
    ) -> PreparedTraces:
        """Create one (``POST /prepared-traces``); a file is staged first, without the token."""
        data = _traces_bytes(traces)
        _check(data, inference_endpoint_name)
        if data is not None:
            urls = self._t.request(StagingUrls, staging_spec("prepared-traces", options))
            staged = staged_body(urls, {"traces_jsonl": data}, PREPARED_TRACES_STAGING_KEYS, _ROUTE)
            url, payload = staged["traces_jsonl"]
            self._t.send(put_spec(url, payload, options))
            body = CreatePreparedTracesRequest(traces_jsonl=url)
        else:
            body = CreatePreparedTracesRequest(inference_endpoint_name=inference_endpoint_name)
        with explained(route_key="prepared_traces_post"):
            return self._t.request(PreparedTraces, _create(body, options))

    def download(
        self, prepared_traces_id: str, **options: Unpack[CallOptions]
    ) -> PreparedTracesDownload:
        """The presigned ``traces_url`` (``GET /prepared-traces/{id}/download``)."""
        return self._t.request(
            PreparedTracesDownload, self._spec(prepared_traces_id, "download", options)
        )

    def download_file(
        self, prepared_traces_id: str, dest: str | os.PathLike[str], **options: Unpack[CallOptions]
    ) -> Path:
        """Download the trace file into the folder ``dest`` as ``traces.jsonl``, atomically."""
        url = _traces_url(self.download(prepared_traces_id, **options), prepared_traces_id)
        data = self._t.send(fetch_spec(url, options)).content
        return write_atomic(_folder(dest), TRACES_FILE, data)


class AsyncPreparedTraces(
    _Declaration, AsyncEntityReads[PreparedTraces, EntityStatus, DownloadMetadata]
):
    """The async twin of `PreparedTracesResource`."""

    async def create(
        self,
        traces: str | os.PathLike[str] | bytes | None = None,
        *,
        inference_endpoint_name: str | None = None,
        **options: Unpack[CallOptions],
    ) -> PreparedTraces:
        data = _traces_bytes(traces)
        _check(data, inference_endpoint_name)
        if data is not None:
            urls = await self._t.request(StagingUrls, staging_spec("prepared-traces", options))
            staged = staged_body(urls, {"traces_jsonl": data}, PREPARED_TRACES_STAGING_KEYS, _ROUTE)
            url, payload = staged["traces_jsonl"]
            await self._t.send(put_spec(url, payload, options))
            body = CreatePreparedTracesRequest(traces_jsonl=url)
        else:
            body = CreatePreparedTracesRequest(inference_endpoint_name=inference_endpoint_name)
        with explained(route_key="prepared_traces_post"):
            return await self._t.request(PreparedTraces, _create(body, options))

    async def download(
        self, prepared_traces_id: str, **options: Unpack[CallOptions]
    ) -> PreparedTracesDownload:
        return await self._t.request(
            PreparedTracesDownload, self._spec(prepared_traces_id, "download", options)
        )

    async def download_file(
        self, prepared_traces_id: str, dest: str | os.PathLike[str], **options: Unpack[CallOptions]
    ) -> Path:
        url = _traces_url(await self.download(prepared_traces_id, **options), prepared_traces_id)
        data = (await self._t.send(fetch_spec(url, options))).content
        return write_atomic(_folder(dest), TRACES_FILE, data)
