"""Submitting a job of the current generation: a teacher evaluation or an SLM made from a
dataset by id, optionally with whole ``config`` / ``job_description`` overrides or as a smoke.

The job is a row of the store's ``jobs`` table, run by the existing worker and pipeline; its id
is the entity's id. Without overrides it reads the dataset's own converted folder
(``uploads/<dataset_id>``); with them, a folder of its own built from the overridden files.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from ._entity_common import require, require_ready
from ._entity_files import (
    BundleRejected,
    apply_overrides,
    bundle_from_files,
    read_dataset_files,
    smoke_files,
    store_job_input,
)
from ._expand import materialize
from ._routes_common import LocalContext
from .entity_store import DATASETS, EntityStore

__all__ = ["submit_job"]


def submit_job(
    ctx: LocalContext,
    entities: EntityStore,
    *,
    collection: str,
    kind: str,
    dataset_id: str,
    config: Mapping[str, Any] | None,
    job_description: Mapping[str, Any] | None,
    smoke: bool = False,
) -> dict[str, Any]:
    """Queue ``kind`` on ``dataset_id`` and record it as an entity of ``collection``.

    Raises:
        HTTPException: 404 unknown dataset, 409 dataset not ready.
        BundleRejected: the dataset cannot feed a job, or the overrides fail validation (400).
    """
    dataset = require(entities, DATASETS, dataset_id)
    materialize(ctx.store, entities, dataset)
    require_ready(dataset, "rows")
    files = read_dataset_files(entities.files_dir(dataset_id))
    empty = [name for name in ("train.jsonl", "test.jsonl") if not files[name].strip()]
    if empty:
        raise BundleRejected(
            f"dataset {dataset_id!r} has an empty {' and '.join(empty)}: the local platform "
            "trains and evaluates on both splits; create a dataset with rows in both",
            [],
        )
    files = apply_overrides(files, config, job_description)
    if smoke:
        files = smoke_files(files)
    input_id = dataset_id
    if config is not None or job_description is not None or smoke:
        # The same validation as POST /datasets: an override that breaks the task is a 400.
        bundle = bundle_from_files(files)
        input_id = str(uuid.uuid4())
        store_job_input(ctx.store.uploads_dir, input_id, bundle)
    job = ctx.store.create_job(kind, "", input_id)
    # Config and job description are settled at submission, readable while the job runs.
    entities.write_files(
        job["id"],
        {name: files[name] for name in ("config.yaml", "job_description.json")},
    )
    record = entities.add(
        collection, entity_id=job["id"], job_id=job["id"], dataset_id=dataset_id, smoke=smoke
    )
    ctx.worker.wake()
    return record
