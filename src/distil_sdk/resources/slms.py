"""``client.slms``: train a small model from a dataset by id, read its scores, download it."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from typing_extensions import Unpack

from .._download import download_model_async, download_model_sync, finish_download
from .._errors import APIError, DistilError
from .._fs import write_bytes_atomic
from .._http import CallOptions, RequestSpec
from ..types.entities import (
    SLM,
    SLM_STAGING_KEYS,
    CompletedSLMMetrics,
    CreateSLMRequest,
    EntityStatus,
    SLMDownload,
    SLMDownloadMetadata,
    SLMMetrics,
    StagingUrls,
    UploadSLMRequest,
)
from ._base import narrowed
from ._entity import (
    AsyncEntityResource,
    Parent,
    SyncEntityResource,
    explained,
    fetch_spec,
    put_spec,
    staged_body,
    staging_spec,
)
from ._override import resolve_override
from .teacher_evaluations import parse_prediction_rows, predictions_url, results_error

__all__ = ["AsyncSLMs", "SLMs", "extract_layout"]

_PARENT = "datasets"
# The tarball's top-level entries the reference's deployment.md names; all are kept.
LAYOUT = ("model", "model-adapter", "model_client.py", "Modelfile", "README.md")


def _create(
    dataset_id: str, config: Any, job_description: Any, smoke: bool, options: CallOptions
) -> tuple[RequestSpec, str]:
    body = CreateSLMRequest.model_validate(
        {
            "from": dataset_id,
            "config": resolve_override(config, "config"),
            "job_description": resolve_override(job_description, "job_description"),
        }
    ).to_body()
    if smoke:
        return RequestSpec("POST", "/slms/from-datasets-smoke", json=body, **options), (
            "slms_from_datasets_smoke_post"
        )
    return RequestSpec(
        "POST", "/slms/from-datasets", json=body, **options
    ), "slms_from_datasets_post"


def _upload_files(model_tar: str | os.PathLike[str] | bytes, config: Any) -> dict[str, bytes]:
    model = model_tar if isinstance(model_tar, bytes) else Path(model_tar).read_bytes()
    if isinstance(config, bytes):
        cfg = config
    elif isinstance(config, (str, os.PathLike)) and Path(config).is_file():
        cfg = Path(config).read_bytes()
    else:
        import yaml

        data = resolve_override(config, "config")
        if data is None:
            raise DistilError("an SLM upload needs its config.yaml (a path, bytes or a mapping)")
        cfg = yaml.safe_dump(data, sort_keys=False, allow_unicode=True).encode("utf-8")
    return {"model": model, "config": cfg}


def extract_layout(dest: Path) -> Path:
    """Extract a complete ``dest/.model.tar.part`` keeping its whole layout; return the model
    folder (`distil_sdk._download.finish_download` with ``keep="layout"``)."""
    return finish_download(dest, "layout")


def _model_url(download: SLMDownload, slm_id: str) -> str:
    if not download.model_url:
        raise APIError(
            f"SLM {slm_id} has no model to download yet; it is there once its job succeeded "
            f"(client.slms.wait({slm_id!r}))"
        )
    return download.model_url


# An uploaded SLM succeeds without scores: nothing evaluated it (the reference's POST /slms).
_UPLOADED = (
    "; an SLM made by client.slms.upload() never has scores, as nothing evaluated it, nor "
    "does one trained on a Dataset whose test split is empty"
)


def _missing(metrics: SLMMetrics) -> str:
    """The scores ``metrics`` lacks, for a message ("" when it has both)."""
    names = ("base_model_performance", "tuned_model_performance")
    return " and ".join(name for name in names if getattr(metrics, name) is None)


class _Declaration:
    _kind = "SLM"
    _root = "/slms"
    _list_key = "slms"
    _entity = SLM
    _status = EntityStatus
    _metadata = SLMDownloadMetadata


class SLMs(_Declaration, SyncEntityResource[SLM, EntityStatus, SLMDownloadMetadata]):
    """Small language models: ``create`` (train from a dataset), ``upload``, ``get``, ``list``,
    ``status``, ``wait``, ``logs``, ``metrics``, ``results``, ``predictions``, ``download``,
    ``download_model``.

    Example:
        >>> slm = client.slms.create(dataset.id)  # doctest: +SKIP
        >>> client.slms.wait(slm.id, progress=True)  # doctest: +SKIP
        >>> client.slms.results(slm.id).tuned_model_performance.accuracy  # doctest: +SKIP
        >>> model_dir = client.slms.download_model(slm.id, "runs/triage")  # doctest: +SKIP
    """

    def create(
        self,
        dataset_id: str,
        config: Any = None,
        job_description: Any = None,
        *,
        smoke: bool = False,
        **options: Unpack[CallOptions],
    ) -> SLM:
        """Train an SLM on ``dataset_id`` (``POST /slms/from-datasets[-smoke]``).

        ``config`` / ``job_description``: whole overrides (``client.datasets.config_override``).
        ``smoke``: a one-epoch memory check on the longest rows, on its own credit.
        """
        spec, key = _create(dataset_id, config, job_description, smoke, options)
        with explained(route_key=key, parent=Parent("dataset", dataset_id, _PARENT)):
            return self._t.request(SLM, spec)

    def upload(
        self,
        model_tar: str | os.PathLike[str] | bytes,
        config: Any,
        **options: Unpack[CallOptions],
    ) -> SLM:
        """Register an existing model (``model.tar`` with ``model-adapter/``) and its config
        (``POST /slms`` from staged files). Trains nothing; wait for the unpacking job."""
        files = _upload_files(model_tar, config)
        urls = self._t.request(StagingUrls, staging_spec("slms", options))
        staged = staged_body(urls, files, SLM_STAGING_KEYS, "/staging-slms-s3-urls")
        for url, data in staged.values():
            self._t.send(put_spec(url, data, options))
        body = UploadSLMRequest(**{f: u for f, (u, _) in staged.items()}).to_body()
        with explained(route_key="slms_post"):
            return self._t.request(SLM, RequestSpec("POST", "/slms", json=body, **options))

    def metrics(self, slm_id: str, **options: Unpack[CallOptions]) -> SLMMetrics:
        """``base_model_performance``, ``tuned_model_performance`` and the predictions link."""
        return self._t.request(SLMMetrics, self._spec(slm_id, "metrics", options))

    def results(self, slm_id: str, **options: Unpack[CallOptions]) -> CompletedSLMMetrics:
        """`metrics` of an SLM whose training succeeded: ``base_model_performance`` and
        ``tuned_model_performance`` are never ``None``, so
        ``results(id).tuned_model_performance.accuracy`` type-checks.

        Raises `JobNotFinishedError` while it trains or after it failed (its
        status is read to say which), `JobResultsMissingError` when it
        succeeded without scores (an uploaded SLM).
        """
        metrics = self.metrics(slm_id, **options)
        missing = _missing(metrics)
        if not missing:
            return narrowed(CompletedSLMMetrics, metrics)
        status = self.status(slm_id, **options)
        raise results_error(self._kind, self._list_key, slm_id, missing, status, _UPLOADED)

    def predictions(self, slm_id: str, **options: Unpack[CallOptions]) -> list[dict[str, Any]]:
        """The tuned model's per-row predictions on the test split (downloaded, parsed)."""
        url = predictions_url(
            self.metrics(slm_id, **options).predictions_download_url, self._kind, slm_id
        )
        text = self._t.send(fetch_spec(url, options)).text
        return parse_prediction_rows(text, f"predictions of SLM {slm_id}")

    def download(self, slm_id: str, **options: Unpack[CallOptions]) -> SLMDownload:
        """Presigned ``model_url`` and ``config_url`` (``GET /slms/{id}/download``)."""
        return self._t.request(SLMDownload, self._spec(slm_id, "download", options))

    def download_model(
        self,
        slm_id: str,
        dest: str | os.PathLike[str] = ".",
        *,
        progress: bool | None = None,
        **options: Unpack[CallOptions],
    ) -> Path:
        """Download the model tarball into ``dest`` keeping its whole layout, plus
        ``config.yaml``; return ``dest/model``, the folder ``LocalClassifier`` loads.

        Streamed, resumable (an interrupted download continues), extracted safely and
        atomically. ``progress``: a tqdm bar (None: only on a terminal).
        """
        download = self.download(slm_id, **options)
        url = _model_url(download, slm_id)
        model = download_model_sync(
            self._t, url, dest, progress=progress, options=options, auth=False,
            keep="layout",
        )  # fmt: skip
        if download.config_url:
            data = self._t.send(fetch_spec(download.config_url, options)).content
            _write_config(Path(dest), data)
        return model


def _write_config(dest: Path, data: bytes) -> None:
    write_bytes_atomic(dest / "config.yaml", data)


class AsyncSLMs(_Declaration, AsyncEntityResource[SLM, EntityStatus, SLMDownloadMetadata]):
    """The async twin of `SLMs`."""

    async def create(
        self,
        dataset_id: str,
        config: Any = None,
        job_description: Any = None,
        *,
        smoke: bool = False,
        **options: Unpack[CallOptions],
    ) -> SLM:
        spec, key = _create(dataset_id, config, job_description, smoke, options)
        with explained(route_key=key, parent=Parent("dataset", dataset_id, _PARENT)):
            return await self._t.request(SLM, spec)

    async def upload(
        self,
        model_tar: str | os.PathLike[str] | bytes,
        config: Any,
        **options: Unpack[CallOptions],
    ) -> SLM:
        files = _upload_files(model_tar, config)
        urls = await self._t.request(StagingUrls, staging_spec("slms", options))
        staged = staged_body(urls, files, SLM_STAGING_KEYS, "/staging-slms-s3-urls")
        for url, data in staged.values():
            await self._t.send(put_spec(url, data, options))
        body = UploadSLMRequest(**{f: u for f, (u, _) in staged.items()}).to_body()
        with explained(route_key="slms_post"):
            return await self._t.request(SLM, RequestSpec("POST", "/slms", json=body, **options))

    async def metrics(self, slm_id: str, **options: Unpack[CallOptions]) -> SLMMetrics:
        return await self._t.request(SLMMetrics, self._spec(slm_id, "metrics", options))

    async def results(self, slm_id: str, **options: Unpack[CallOptions]) -> CompletedSLMMetrics:
        metrics = await self.metrics(slm_id, **options)
        missing = _missing(metrics)
        if not missing:
            return narrowed(CompletedSLMMetrics, metrics)
        status = await self.status(slm_id, **options)
        raise results_error(self._kind, self._list_key, slm_id, missing, status, _UPLOADED)

    async def predictions(
        self, slm_id: str, **options: Unpack[CallOptions]
    ) -> list[dict[str, Any]]:
        metrics = await self.metrics(slm_id, **options)
        url = predictions_url(metrics.predictions_download_url, self._kind, slm_id)
        response = await self._t.send(fetch_spec(url, options))
        return parse_prediction_rows(response.text, f"predictions of SLM {slm_id}")

    async def download(self, slm_id: str, **options: Unpack[CallOptions]) -> SLMDownload:
        return await self._t.request(SLMDownload, self._spec(slm_id, "download", options))

    async def download_model(
        self,
        slm_id: str,
        dest: str | os.PathLike[str] = ".",
        *,
        progress: bool | None = None,
        **options: Unpack[CallOptions],
    ) -> Path:
        download = await self.download(slm_id, **options)
        url = _model_url(download, slm_id)
        model = await download_model_async(
            self._t, url, dest, progress=progress, options=options, auth=False,
            keep="layout",
        )  # fmt: skip
        if download.config_url:
            data = (await self._t.send(fetch_spec(download.config_url, options))).content
            _write_config(Path(dest), data)
        return model
