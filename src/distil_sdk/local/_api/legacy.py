"""Routes: the reads of the entities a Dataset replaced (seed datasets, training datasets).

The platform keeps them readable (``GET /<collection>[/{id}]``, ``/{id}/download``,
``/{id}/download-metadata``; distil-cli-skill ``migrating-old-entities.md``). The local platform
never made one, so the lists are empty and every id is a 404 naming what to use instead; their
creates answer 410 Gone (``_routes_credits``).
"""

from __future__ import annotations

from typing import Any, NoReturn

from fastapi import APIRouter, HTTPException

from ...types.entities import (
    DownloadMetadata,
    SeedDataset,
    SeedDatasetDownload,
    TrainingDataset,
    TrainingDatasetDownload,
)
from .common import Authorized

__all__ = ["router"]

router = APIRouter(dependencies=Authorized, tags=["retired entities (read-only)"])


def _missing(kind: str, entity_id: str) -> NoReturn:
    raise HTTPException(
        404,
        f"{kind} {entity_id!r} not found: the local platform never made {kind}s (a Dataset "
        "replaced them; POST /datasets creates one)",
    )


@router.get("/seed-datasets", response_model=list[SeedDataset])
def list_seed_datasets() -> list[dict[str, Any]]:
    """The seed datasets: none on the local platform."""
    return []


@router.get("/seed-datasets/{seed_dataset_id}", response_model=SeedDataset)
def get_seed_dataset(seed_dataset_id: str) -> NoReturn:
    """Always 404: the local platform has no seed datasets."""
    _missing("seed dataset", seed_dataset_id)


@router.get("/seed-datasets/{seed_dataset_id}/download", response_model=SeedDatasetDownload)
def download_seed_dataset(seed_dataset_id: str) -> NoReturn:
    """Always 404: the local platform has no seed datasets."""
    _missing("seed dataset", seed_dataset_id)


@router.get("/seed-datasets/{seed_dataset_id}/download-metadata", response_model=DownloadMetadata)
def seed_dataset_metadata(seed_dataset_id: str) -> NoReturn:
    """Always 404: the local platform has no seed datasets."""
    _missing("seed dataset", seed_dataset_id)


@router.get("/training-datasets", response_model=list[TrainingDataset])
def list_training_datasets() -> list[dict[str, Any]]:
    """The training datasets: none on the local platform."""
    return []


@router.get("/training-datasets/{training_dataset_id}", response_model=TrainingDataset)
def get_training_dataset(training_dataset_id: str) -> NoReturn:
    """Always 404: the local platform has no training datasets."""
    _missing("training dataset", training_dataset_id)


@router.get(
    "/training-datasets/{training_dataset_id}/download", response_model=TrainingDatasetDownload
)
def download_training_dataset(training_dataset_id: str) -> NoReturn:
    """Always 404: the local platform has no training datasets."""
    _missing("training dataset", training_dataset_id)


@router.get(
    "/training-datasets/{training_dataset_id}/download-metadata", response_model=DownloadMetadata
)
def training_dataset_metadata(training_dataset_id: str) -> NoReturn:
    """Always 404: the local platform has no training datasets."""
    _missing("training dataset", training_dataset_id)
