"""``client.datasets``: stage a task's files into a Dataset, read it, derive new ones from it."""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Union

from typing_extensions import Unpack

from .._errors import DistilError
from .._http import CallOptions, RequestSpec
from ..types._dataset_files import dataset_file
from ..types._traces import observation_format_of
from ..types.entities import (
    DATASET_STAGING_KEYS,
    CreateDatasetRequest,
    Dataset,
    DatasetDownload,
    DatasetFromPreparedTracesRequest,
    DatasetMetrics,
    DatasetOperation,
    DatasetSample,
    DeriveDatasetRequest,
    DownloadMetadata,
    EntityStatus,
    StagingUrls,
)
from ._entity import (
    AsyncEntityResource,
    Parent,
    SyncEntityResource,
    explained,
    fetch_spec,
    put_spec,
    staged_body,
    staging_spec,
    write_atomic,
)
from ._override import resolve_override

if TYPE_CHECKING:
    from ..types.data import TaskBundle

__all__ = ["AsyncDatasets", "Datasets", "TaskLike", "dataset_files"]

logger = logging.getLogger("distil_sdk")

TaskLike = Union["TaskBundle", str, "os.PathLike[str]", Mapping[str, bytes | str]]


def dataset_files(task: TaskLike, *, validate: bool = True) -> dict[str, bytes]:
    """The files of a Dataset (field -> bytes), validated: ``config``, ``job_description`` and
    the ``train_data`` / ``test_data`` / ``traces`` that have rows (a split left out is empty).

    ``task``: a `TaskBundle`, a folder (today's Dataset folder, or the
    seed's CSV folder), or the files themselves (``{"train_data": b"...", "config": b"...",
    ...}``, checked by parsing them back; a field that is no file of a Dataset is left out with
    a warning). The seed's unlabelled texts (``unstructured.csv``, or an ``unstructured_data``
    file) go into the traces, one user turn each, with a warning in the log saying so: today's
    Dataset has no file for them.
    Raises `DataValidationError` with every finding, before anything is sent.
    """
    # Imported here: the data layer pulls in more than a client that only reads statuses needs.
    from ..types.data import TaskBundle

    if not isinstance(task, Mapping):
        bundle = task if isinstance(task, TaskBundle) else TaskBundle.from_dir(Path(task))
        if validate:
            bundle.validate().raise_for_errors()
        if bundle.unstructured is not None and len(bundle.unstructured):
            _say_unstructured_as_traces(len(bundle.unstructured), bundle.config)
        return bundle.to_dataset_files()
    files = {k: v.encode("utf-8") if isinstance(v, str) else bytes(v) for k, v in task.items()}
    for field in [f for f in files if f not in (*DATASET_STAGING_KEYS, "unstructured_data")]:
        logger.warning(
            "%r is not a file of a Dataset (fields: %s) and is left out",
            field,
            ", ".join(DATASET_STAGING_KEYS),
        )
        del files[field]
    if "unstructured_data" in files:
        files = _unstructured_as_traces(files)
    if validate:
        TaskBundle.from_dataset_files(files).validate().raise_for_errors()
    return files


def _unstructured_as_traces(files: dict[str, bytes]) -> dict[str, bytes]:
    """``files`` with the seed's ``unstructured_data`` moved into ``traces``, in the config's
    observation format."""
    from ..types._traces import Traces
    from ..types.data import UnlabelledDataset
    from ..types.task import TaskConfig

    out = dict(files)
    pool = UnlabelledDataset.from_bytes(
        out.pop("unstructured_data"), format="jsonl", file="unstructured.jsonl"
    )
    config = TaskConfig.from_text(out.get("config", b""), format="yaml", file="config.yaml")
    mapped = Traces.from_texts(pool.texts, observation_format_of(config)).to_text()
    if mapped:
        own = out.get("traces", b"")
        if own.strip() and not own.endswith(b"\n"):
            own += b"\n"
        out["traces"] = own + mapped.encode("utf-8")
        _say_unstructured_as_traces(len(pool), config)
    return out


def _say_unstructured_as_traces(count: int, config: Any) -> None:
    logger.warning(
        "today's Dataset has no file for unlabelled texts: the %d unlabelled texts are sent as "
        "traces.jsonl, one user message each (trace_processing.observation_format %r); see "
        "docs/task-format.md",
        count,
        observation_format_of(config),
    )


def _create_body(staged: Mapping[str, tuple[str, bytes]]) -> dict[str, Any]:
    urls = {field: url for field, (url, _) in staged.items()}
    missing = [f for f in ("config", "job_description") if f not in urls]
    if missing:
        raise DistilError(
            f"a Dataset needs a {' and a '.join(missing)}; the task gave none "
            "(a task folder holds job_description.json and config.yaml)"
        )
    return CreateDatasetRequest(**urls).to_body()


def _derive(
    dataset_id: str,
    operation: DatasetOperation,
    config: Any,
    job_description: Any,
    smoke: bool,
    options: CallOptions,
) -> tuple[RequestSpec, str]:
    body = DeriveDatasetRequest.model_validate(
        {
            "from": dataset_id,
            "operation": operation,
            "config": resolve_override(config, "config"),
            "job_description": resolve_override(job_description, "job_description"),
        }
    ).to_body()
    path = "/datasets/from-datasets-smoke" if smoke else "/datasets/from-datasets"
    if smoke:
        key = "datasets_from_datasets_smoke_post"
    elif operation.startswith("relabel"):
        key = "datasets_from_datasets_relabel_traces_post"
    else:
        key = "datasets_from_datasets_generate_synthetic_data_post"
    return RequestSpec("POST", path, json=body, **options), key


def _from_traces(
    prepared_traces_id: str, config: Any, job_description: Any, options: CallOptions
) -> RequestSpec:
    cfg = resolve_override(config, "config")
    jd = resolve_override(job_description, "job_description")
    if cfg is None or jd is None:
        raise DistilError(
            "a Dataset from prepared traces needs both a config and a job description"
        )
    body = DatasetFromPreparedTracesRequest.model_validate(
        {"from": prepared_traces_id, "config": cfg, "job_description": jd}
    ).to_body()
    return RequestSpec("POST", "/datasets/from-prepared-traces", json=body, **options)


class _Declaration:
    _kind = "dataset"
    _root = "/datasets"
    _list_key = "datasets"
    _entity = Dataset
    _status = EntityStatus
    _metadata = DownloadMetadata


class Datasets(_Declaration, SyncEntityResource[Dataset, EntityStatus, DownloadMetadata]):
    """Datasets: the job input every teacher evaluation and SLM is made from.

    Example:
        >>> dataset = client.datasets.create("my-task/")  # doctest: +SKIP
        >>> client.datasets.sample(dataset.id).rows[:2]  # doctest: +SKIP
        >>> config = client.datasets.config_override(dataset.id)  # doctest: +SKIP
        >>> config.set("tuning.num_train_epochs", 6)  # doctest: +SKIP
        >>> slm = client.slms.create(dataset.id, config=config)  # doctest: +SKIP
    """

    def create(
        self, task: TaskLike, *, validate: bool = True, **options: Unpack[CallOptions]
    ) -> Dataset:
        """Validate ``task`` locally, stage its files and create the Dataset (``POST /datasets``).

        Each file is PUT to a presigned URL from ``GET /staging-datasets-s3-urls`` without the
        API token. The platform validates again and answers 400 with the reason.
        """
        files = dataset_files(task, validate=validate)
        urls = self._t.request(StagingUrls, staging_spec("datasets", options))
        staged = staged_body(urls, files, DATASET_STAGING_KEYS, "/staging-datasets-s3-urls")
        body = _create_body(staged)
        for url, data in staged.values():
            self._t.send(put_spec(url, data, options))
        with explained(route_key="datasets_post"):
            return self._t.request(Dataset, RequestSpec("POST", "/datasets", json=body, **options))

    def derive(
        self,
        dataset_id: str,
        operation: DatasetOperation,
        config: Any = None,
        job_description: Any = None,
        *,
        smoke: bool = False,
        **options: Unpack[CallOptions],
    ) -> Dataset:
        """A new Dataset by relabelling traces or generating data from ``dataset_id``
        (``POST /datasets/from-datasets[-smoke]``).

        ``config`` / ``job_description``: whole overrides (see `config_override`).
        ``smoke``: the platform caps the count at 128 and spends the smoke route's credit.
        """
        spec, key = _derive(dataset_id, operation, config, job_description, smoke, options)
        with explained(route_key=key, parent=Parent("dataset", dataset_id, "datasets")):
            return self._t.request(Dataset, spec)

    def from_prepared_traces(
        self,
        prepared_traces_id: str,
        config: Any,
        job_description: Any,
        **options: Unpack[CallOptions],
    ) -> Dataset:
        """A Dataset from a PreparedTraces (``POST /datasets/from-prepared-traces``)."""
        spec = _from_traces(prepared_traces_id, config, job_description, options)
        parent = Parent("prepared traces", prepared_traces_id, "prepared_traces")
        # Route key by analogy with the reference's naming (it does not list this one).
        with explained(route_key="datasets_from_prepared_traces_post", parent=parent):
            return self._t.request(Dataset, spec)

    def metrics(self, dataset_id: str, **options: Unpack[CallOptions]) -> DatasetMetrics:
        """Sizes of the splits in bytes (``GET /datasets/{id}/metrics``)."""
        return self._t.request(DatasetMetrics, self._spec(dataset_id, "metrics", options))

    def sample(self, dataset_id: str, **options: Unpack[CallOptions]) -> DatasetSample:
        """Up to 128 train rows, free (``GET /datasets/{id}/sample``)."""
        return self._t.request(DatasetSample, self._spec(dataset_id, "sample", options))

    def download(self, dataset_id: str, **options: Unpack[CallOptions]) -> DatasetDownload:
        """Presigned URLs of every file (``GET /datasets/{id}/download``)."""
        return self._t.request(DatasetDownload, self._spec(dataset_id, "download", options))

    def download_files(
        self, dataset_id: str, dest: str | os.PathLike[str], **options: Unpack[CallOptions]
    ) -> dict[str, Path]:
        """Download every file into ``dest`` (``train.jsonl``, ``config.yaml``...), atomically."""
        folder = Path(dest)
        folder.mkdir(parents=True, exist_ok=True)
        out: dict[str, Path] = {}
        for field, url in self.download(dataset_id, **options).urls.items():
            data = self._t.send(fetch_spec(url, options)).content
            out[field] = write_atomic(folder, dataset_file(field).name, data)
        return out


class AsyncDatasets(_Declaration, AsyncEntityResource[Dataset, EntityStatus, DownloadMetadata]):
    """The async twin of `Datasets`."""

    async def create(
        self, task: TaskLike, *, validate: bool = True, **options: Unpack[CallOptions]
    ) -> Dataset:
        files = dataset_files(task, validate=validate)
        urls = await self._t.request(StagingUrls, staging_spec("datasets", options))
        staged = staged_body(urls, files, DATASET_STAGING_KEYS, "/staging-datasets-s3-urls")
        body = _create_body(staged)
        for url, data in staged.values():
            await self._t.send(put_spec(url, data, options))
        with explained(route_key="datasets_post"):
            return await self._t.request(
                Dataset, RequestSpec("POST", "/datasets", json=body, **options)
            )

    async def derive(
        self,
        dataset_id: str,
        operation: DatasetOperation,
        config: Any = None,
        job_description: Any = None,
        *,
        smoke: bool = False,
        **options: Unpack[CallOptions],
    ) -> Dataset:
        spec, key = _derive(dataset_id, operation, config, job_description, smoke, options)
        with explained(route_key=key, parent=Parent("dataset", dataset_id, "datasets")):
            return await self._t.request(Dataset, spec)

    async def from_prepared_traces(
        self,
        prepared_traces_id: str,
        config: Any,
        job_description: Any,
        **options: Unpack[CallOptions],
    ) -> Dataset:
        spec = _from_traces(prepared_traces_id, config, job_description, options)
        parent = Parent("prepared traces", prepared_traces_id, "prepared_traces")
        with explained(route_key="datasets_from_prepared_traces_post", parent=parent):
            return await self._t.request(Dataset, spec)

    async def metrics(self, dataset_id: str, **options: Unpack[CallOptions]) -> DatasetMetrics:
        return await self._t.request(DatasetMetrics, self._spec(dataset_id, "metrics", options))

    async def sample(self, dataset_id: str, **options: Unpack[CallOptions]) -> DatasetSample:
        return await self._t.request(DatasetSample, self._spec(dataset_id, "sample", options))

    async def download(self, dataset_id: str, **options: Unpack[CallOptions]) -> DatasetDownload:
        return await self._t.request(DatasetDownload, self._spec(dataset_id, "download", options))

    async def download_files(
        self, dataset_id: str, dest: str | os.PathLike[str], **options: Unpack[CallOptions]
    ) -> dict[str, Path]:
        folder = Path(dest)
        folder.mkdir(parents=True, exist_ok=True)
        out: dict[str, Path] = {}
        for field, url in (await self.download(dataset_id, **options)).urls.items():
            data = (await self._t.send(fetch_spec(url, options))).content
            out[field] = write_atomic(folder, dataset_file(field).name, data)
        return out
