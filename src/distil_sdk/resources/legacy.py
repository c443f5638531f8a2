"""``client.seed_datasets`` and ``client.training_datasets``: the entities a Dataset replaced,
readable and nothing else.

``migrating-old-entities.md`` (distil-cli-skill, newest): a seed dataset (``train.jsonl``,
``test.jsonl``, optional ``unstructured.jsonl``) and a training dataset (``train.jsonl``,
``test.jsonl``) are readable with ``list``, ``show``, ``download`` and ``download-metadata``;
their other commands name the command to use instead. The routes and answer fields are those an
earlier ``execution/backend-api.md`` documents for them (``GET /seed-datasets[/<id>]``,
``/<id>/download``, ``/<id>/download-metadata``; a download is one presigned URL per file).
To build on one, download it and create a Dataset from the files
(``client.datasets.create``) once they are in today's format.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Generic, TypeVar

from typing_extensions import Unpack

from .._http import CallOptions
from ..types.entities import (
    LEGACY_FILE_NAMES,
    DownloadMetadata,
    EntityStatus,
    SeedDataset,
    SeedDatasetDownload,
    TrainingDataset,
    TrainingDatasetDownload,
)
from ._entity import AsyncEntityReads, Parent, SyncEntityReads, explained, fetch_spec, write_atomic

__all__ = ["AsyncSeedDatasets", "AsyncTrainingDatasets", "SeedDatasets", "TrainingDatasets"]

logger = logging.getLogger("distil_sdk")

E = TypeVar("E", SeedDataset, TrainingDataset)
D = TypeVar("D", SeedDatasetDownload, TrainingDatasetDownload)


def _files(download: SeedDatasetDownload | TrainingDatasetDownload) -> dict[str, tuple[str, str]]:
    """field -> (file name, URL) of what a download offers; an unknown field is left out."""
    out: dict[str, tuple[str, str]] = {}
    for field, url in download.urls.items():
        name = LEGACY_FILE_NAMES.get(field)
        if name is None:
            logger.warning(
                "the download offers %r, which no file name is known for: left out", field
            )
            continue
        out[field] = (name, url)
    return out


class _SeedDeclaration:
    _kind = "seed dataset"
    _root = "/seed-datasets"
    _list_key = "seed_datasets"
    _entity = SeedDataset
    _status = EntityStatus
    _metadata = DownloadMetadata
    _download = SeedDatasetDownload
    _download_key: str | None = None


class _TrainingDeclaration:
    _kind = "training dataset"
    _root = "/training-datasets"
    _list_key = "training_datasets"
    _entity = TrainingDataset
    _status = EntityStatus
    _metadata = DownloadMetadata
    _download = TrainingDatasetDownload
    # An earlier reference meters this download; the newest says downloads are free. A 402
    # still names the key.
    _download_key: str | None = "training_datasets_download_get"


class _SyncLegacy(SyncEntityReads[E, EntityStatus, DownloadMetadata], Generic[E, D]):
    _download: type[D]
    _download_key: str | None

    def download(self, entity_id: str, **options: Unpack[CallOptions]) -> D:
        """Presigned URLs of its files (``GET /<collection>/{id}/download``)."""
        parent = Parent(self._kind, entity_id, self._list_key)
        with explained(route_key=self._download_key, parent=parent):
            return self._t.request(self._download, self._spec(entity_id, "download", options))

    def download_metadata(self, entity_id: str, **options: Unpack[CallOptions]) -> DownloadMetadata:
        """Presigned URLs of its ``config.yaml`` and ``job_description.json`` (free)."""
        parent = Parent(self._kind, entity_id, self._list_key)
        with explained(parent=parent):
            spec = self._spec(entity_id, "download-metadata", options)
            return self._t.request(DownloadMetadata, spec)

    def download_files(
        self, entity_id: str, dest: str | os.PathLike[str], **options: Unpack[CallOptions]
    ) -> dict[str, Path]:
        """Download every file it has into ``dest`` (``train.jsonl``, ``test.jsonl``,
        ``unstructured.jsonl``, ``config.yaml``, ``job_description.json``), each written
        atomically; presigned URLs are fetched without the API token."""
        folder = Path(dest)
        folder.mkdir(parents=True, exist_ok=True)
        out: dict[str, Path] = {}
        for field, (name, url) in _files(self.download(entity_id, **options)).items():
            data = self._t.send(fetch_spec(url, options)).content
            out[field] = write_atomic(folder, name, data)
        return out


class _AsyncLegacy(AsyncEntityReads[E, EntityStatus, DownloadMetadata], Generic[E, D]):
    _download: type[D]
    _download_key: str | None

    async def download(self, entity_id: str, **options: Unpack[CallOptions]) -> D:
        parent = Parent(self._kind, entity_id, self._list_key)
        with explained(route_key=self._download_key, parent=parent):
            spec = self._spec(entity_id, "download", options)
            return await self._t.request(self._download, spec)

    async def download_metadata(
        self, entity_id: str, **options: Unpack[CallOptions]
    ) -> DownloadMetadata:
        parent = Parent(self._kind, entity_id, self._list_key)
        with explained(parent=parent):
            spec = self._spec(entity_id, "download-metadata", options)
            return await self._t.request(DownloadMetadata, spec)

    async def download_files(
        self, entity_id: str, dest: str | os.PathLike[str], **options: Unpack[CallOptions]
    ) -> dict[str, Path]:
        folder = Path(dest)
        folder.mkdir(parents=True, exist_ok=True)
        out: dict[str, Path] = {}
        for field, (name, url) in _files(await self.download(entity_id, **options)).items():
            data = (await self._t.send(fetch_spec(url, options))).content
            out[field] = write_atomic(folder, name, data)
        return out


class SeedDatasets(_SeedDeclaration, _SyncLegacy[SeedDataset, SeedDatasetDownload]):
    """Seed datasets of the previous generation, read-only: ``list``, ``get``, ``download``,
    ``download_metadata``, ``download_files``.

    Example:
        >>> files = client.seed_datasets.download_files("sd-123", "old/")  # doctest: +SKIP
        >>> sorted(files)  # doctest: +SKIP
        ['config', 'job_description', 'test_data', 'train_data']
    """


class TrainingDatasets(_TrainingDeclaration, _SyncLegacy[TrainingDataset, TrainingDatasetDownload]):
    """Training datasets of the previous generation, read-only: ``list``, ``get``,
    ``download``, ``download_metadata``, ``download_files``."""


class AsyncSeedDatasets(_SeedDeclaration, _AsyncLegacy[SeedDataset, SeedDatasetDownload]):
    """The async twin of `SeedDatasets`."""


class AsyncTrainingDatasets(
    _TrainingDeclaration, _AsyncLegacy[TrainingDataset, TrainingDatasetDownload]
):
    """The async twin of `TrainingDatasets`."""
