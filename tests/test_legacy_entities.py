"""``client.seed_datasets`` and ``client.training_datasets``: readable and nothing else - sync
and async against the respx platform, then the local platform over loopback.

distil-cli-skill ``migrating-old-entities.md`` (newest, stored id 71069758673): "A seed dataset
(`train.jsonl`, `test.jsonl`, optional `unstructured.jsonl`) and a training dataset
(`train.jsonl`, `test.jsonl`) are readable with `distil seed-dataset` and `distil
training-dataset` `list`, `show`, `download` and `download-metadata`". The routes and download
fields are those an earlier ``execution/backend-api.md`` (id 70871574605) lists: "SeedDataset |
none | `train_data_url`, `test_data_url`, `unstructured_data_url`, `config_url`,
`job_description_url` | free".
"""

from __future__ import annotations

from pathlib import Path

import pytest

from _current_platform import API, TOKEN, FakePlatform
from distil_sdk import (
    AsyncDistilClient,
    DistilClient,
    JobStatus,
    NotFoundError,
    SeedDataset,
    SeedDatasetDownload,
    TrainingDataset,
)


def test_seed_datasets_list_get_and_metadata(client: DistilClient) -> None:
    (listed,) = client.seed_datasets.list()
    assert isinstance(listed, SeedDataset) and listed.id == "sd-old" and listed.status is None
    shown = client.seed_datasets.get("sd-old")
    assert shown.status is JobStatus.SUCCESS and shown.source == "direct_upload"
    metadata = client.seed_datasets.download_metadata("sd-old")
    assert metadata.config_url and metadata.job_description_url


def test_seed_dataset_download_offers_its_files_and_writes_them(
    client: DistilClient, platform: FakePlatform, tmp_path: Path
) -> None:
    download = client.seed_datasets.download("sd-old")
    assert isinstance(download, SeedDatasetDownload) and download.unstructured_data_url is None
    assert set(download.urls) == {"train_data", "test_data", "config", "job_description"}
    files = client.seed_datasets.download_files("sd-old", tmp_path / "old")
    assert sorted(p.name for p in files.values()) == [
        "config.yaml", "job_description.json", "test.jsonl", "train.jsonl"]  # fmt: skip
    assert (tmp_path / "old" / "train.jsonl").read_bytes() == platform.objects[
        f"{platform.storage}/old/train.jsonl"
    ]
    assert "student-a" in (tmp_path / "old" / "config.yaml").read_text()
    assert not list((tmp_path / "old").glob(".*.part"))
    fetched = platform.storage_calls("GET")
    assert fetched and all("authorization" not in r.headers for r in fetched)


def test_training_datasets_reads(client: DistilClient, tmp_path: Path) -> None:
    (listed,) = client.training_datasets.list()
    assert isinstance(listed, TrainingDataset) and listed.seed_dataset_id == "sd-old"
    assert client.training_datasets.get("td-old").status is JobStatus.SUCCESS
    assert client.training_datasets.download_metadata("td-old").config_url
    files = client.training_datasets.download_files("td-old", tmp_path)
    assert set(files) == {"train_data", "test_data", "config", "job_description"}


def test_an_unknown_old_entity_names_the_list(client: DistilClient) -> None:
    with pytest.raises(NotFoundError, match=r"client.seed_datasets.list\(\)"):
        client.seed_datasets.get("sd-missing")
    with pytest.raises(NotFoundError, match=r"client.training_datasets.list\(\)"):
        client.training_datasets.download("td-missing")


def test_old_entities_offer_reads_only(client: DistilClient) -> None:
    # "their other commands ... exit 1 naming the command to use": the client has none of them.
    for resource in (client.seed_datasets, client.training_datasets):
        assert not any(hasattr(resource, name) for name in ("create", "status", "logs", "wait"))


async def test_old_entities_async(platform: FakePlatform, tmp_path: Path) -> None:
    async with AsyncDistilClient(base_url=API, api_key=TOKEN) as client:
        assert [d.id for d in await client.seed_datasets.list()] == ["sd-old"]
        assert (await client.training_datasets.get("td-old")).seed_dataset_id == "sd-old"
        download = await client.seed_datasets.download("sd-old")
        assert download.train_data_url
        assert (await client.training_datasets.download_metadata("td-old")).job_description_url
        files = await client.seed_datasets.download_files("sd-old", tmp_path)
    assert (tmp_path / "test.jsonl").exists() and set(files) >= {"train_data", "test_data"}


# -------------------------------------------------------------------------- the local platform


def test_the_local_platform_has_no_old_entities(tmp_path: Path) -> None:
    from distil_sdk.local.server import LocalServer

    server = LocalServer(tmp_path / "data", run_worker=False).start()
    try:
        with DistilClient(base_url=server.base_url, api_key=server.token) as client:
            assert client.seed_datasets.list() == [] and client.training_datasets.list() == []
            for call in (
                lambda: client.seed_datasets.get("sd"),
                lambda: client.seed_datasets.download("sd"),
                lambda: client.seed_datasets.download_metadata("sd"),
                lambda: client.training_datasets.get("td"),
                lambda: client.training_datasets.download("td"),
                lambda: client.training_datasets.download_metadata("td"),
            ):
                with pytest.raises(NotFoundError, match="never made"):
                    call()
    finally:
        server.close()
