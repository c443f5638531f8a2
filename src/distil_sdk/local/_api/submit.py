"""Submitting a job of the current generation: a teacher evaluation or an SLM made from a
dataset by id, optionally with whole ``config`` / ``job_description`` overrides or as a smoke.

The job is a row of the store's ``jobs`` table, run by the existing worker and pipeline; its id
is the entity's id. Its input is a Dataset folder of its own (``uploads/<input id>/``): the
dataset's files with the overrides applied, settled at submission and read by
``TaskBundle.from_dir`` in the job process.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from ...types.data import TaskBundle
from .._jobs.expand import materialize
from .._storage.dataset_files import (
    BundleRejected,
    apply_overrides,
    bundle_from_files,
    read_dataset_files,
    smoke_files,
    write_job_input,
)
from .._storage.entity_store import DATASETS, EntityStore
from .common import LocalContext
from .entities import require, require_ready

__all__ = ["submit_job"]

# The reference's own refusals (data-preparation/overview.md, "Empty splits").
NO_TEST_SPLIT = (
    "Teacher evaluation scores the teacher against a test set, and this job has none: "
    "test.jsonl is empty. Provide test examples, or skip this stage."
)
NO_TRAIN_SPLIT = (
    "Finetuning needs a training set, and this job has none: train.jsonl is empty. "
    "Generate synthetic data first, or provide training examples."
)
LOCAL_NEEDS_TEST = (
    "the local platform picks and scores the student on the test split, and this dataset's "
    "test.jsonl is empty: add test examples (the hosted platform trains without one and "
    "reports no scores)."
)
HOSTED_ONLY = (
    "dataset {dataset!r} is a {task!r} task: the local platform evaluates teachers and trains "
    "students for classification only (its teachers, the embedded encoder and the LLM of "
    "$DISTIL_TEACHER_BASE_URL, label classes). Run this job on the hosted platform: "
    "DistilClient() with DISTIL_API_KEY set."
)


def _refusal(bundle: TaskBundle, kind: str, dataset_id: str) -> str | None:
    """Why the local platform cannot run ``kind`` on ``bundle``, or ``None``."""
    if bundle.task != "classification":
        return HOSTED_ONLY.format(dataset=dataset_id, task=bundle.task)
    if kind == "teacher_evaluation":
        return NO_TEST_SPLIT if not len(bundle.test) else None
    if not len(bundle.train):
        return NO_TRAIN_SPLIT
    return LOCAL_NEEDS_TEST if not len(bundle.test) else None


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
    files = apply_overrides(
        read_dataset_files(entities.files_dir(dataset_id)), config, job_description
    )
    if smoke:
        files = smoke_files(files)
    # The same validation as POST /datasets: an override that breaks the task is a 400.
    refusal = _refusal(bundle_from_files(files), kind, dataset_id)
    if refusal:
        raise BundleRejected(refusal, [])
    input_id = str(uuid.uuid4())
    write_job_input(ctx.store.uploads_dir, input_id, files)
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
