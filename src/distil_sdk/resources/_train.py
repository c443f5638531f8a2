"""``client.train()``: the common case in one call - dataset, teacher evaluation, SLM, download.

The steps are the public resources' own calls, in the order the platform's reference gives;
the model is downloaded into a temporary sibling of ``output_dir`` and swapped in only when
complete, so a failed or interrupted run never leaves a half-written model folder behind.
The scores are read with ``results()`` rather than ``metrics()``: a job that succeeded without
them raises :class:`~distil_sdk.JobResultsMissingError` (naming the job) before anything is
downloaded, so :class:`~distil_sdk.TrainedModel`'s student scores are never ``None``.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .._errors import DistilError
from .._polling import DEFAULT_WAIT_TIMEOUT_S
from ..types.entities import CompletedSLMMetrics, TrainedModel
from ..types.jobs import Metrics
from ._base import WaitOptions

if TYPE_CHECKING:
    from .._client import AsyncDistilClient, DistilClient
    from .datasets import TaskLike

__all__ = ["train_async", "train_sync"]

logger = logging.getLogger("distil_sdk")

Say = Callable[[str], None]


def _prepare(output_dir: str | os.PathLike[str], force: bool) -> Path:
    dest = Path(output_dir)
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())) and not force:
        raise DistilError(
            f"{dest} already exists and is not empty; pass force=True to replace it, or choose "
            "another output folder"
        )
    dest.parent.mkdir(parents=True, exist_ok=True)
    return dest


def _swap_in(staging: Path, dest: Path) -> None:
    if dest.is_dir() and not dest.is_symlink():
        shutil.rmtree(dest)
    elif dest.exists() or dest.is_symlink():
        dest.unlink()
    shutil.move(str(staging), str(dest))


def _acc(metrics: Metrics | None) -> str:
    """``<primary metric>: <score>``: accuracy for classification, the reference-free judge for
    the other tasks; ``-`` for a score not computed."""
    if metrics is None:
        return "accuracy: -"
    value = metrics.primary
    return f"{metrics.primary_metric}: " + (f"{value:.3f}" if value is not None else "-")


def _say(on_event: Say | None) -> Say:
    return on_event if on_event is not None else logger.info


def train_sync(
    client: DistilClient,
    task: TaskLike,
    output_dir: str | os.PathLike[str],
    *,
    config: Any = None,
    job_description: Any = None,
    teacher_evaluation: bool = True,
    smoke: bool = False,
    progress: bool = False,
    force: bool = False,
    timeout: float | None = DEFAULT_WAIT_TIMEOUT_S,
    on_event: Say | None = None,
) -> TrainedModel:
    """See :meth:`distil_sdk.DistilClient.train`."""
    dest = _prepare(output_dir, force)
    say = _say(on_event)
    wait: WaitOptions = {"timeout": timeout, "progress": progress}

    dataset = client.datasets.create(task)
    say(f"dataset {dataset.id} created on {client.base_url}")
    client.datasets.wait(dataset.id, **wait)

    teacher: Metrics | None = None
    evaluation_id = None
    if teacher_evaluation:
        evaluation = client.teacher_evaluations.create(dataset.id, config, job_description)
        evaluation_id = evaluation.id
        say(f"teacher evaluation {evaluation.id} ...")
        client.teacher_evaluations.wait(evaluation.id, **wait)
        teacher = client.teacher_evaluations.results(evaluation.id).teacher_performance
        say(f"teacher {_acc(teacher)}")

    slm = client.slms.create(dataset.id, config, job_description, smoke=smoke)
    say(f"SLM {slm.id}: training (distillation) ...")
    client.slms.wait(slm.id, **wait)
    metrics = client.slms.results(slm.id)
    say(
        f"base student {_acc(metrics.base_model_performance)}, "
        f"tuned student {_acc(metrics.tuned_model_performance)}"
    )

    with tempfile.TemporaryDirectory(prefix=".distil-download-", dir=dest.parent) as tmp:
        staging = Path(tmp) / "out"
        client.slms.download_model(slm.id, staging, progress=None if progress else False)
        _swap_in(staging, dest)
    say(f"model saved to {dest}")
    return _result(dataset.id, evaluation_id, slm.id, dest, teacher, metrics)


async def train_async(
    client: AsyncDistilClient,
    task: TaskLike,
    output_dir: str | os.PathLike[str],
    *,
    config: Any = None,
    job_description: Any = None,
    teacher_evaluation: bool = True,
    smoke: bool = False,
    progress: bool = False,
    force: bool = False,
    timeout: float | None = DEFAULT_WAIT_TIMEOUT_S,
    on_event: Say | None = None,
) -> TrainedModel:
    """See :meth:`distil_sdk.AsyncDistilClient.train`."""
    dest = _prepare(output_dir, force)
    say = _say(on_event)
    wait: WaitOptions = {"timeout": timeout, "progress": progress}

    dataset = await client.datasets.create(task)
    say(f"dataset {dataset.id} created on {client.base_url}")
    await client.datasets.wait(dataset.id, **wait)

    teacher: Metrics | None = None
    evaluation_id = None
    if teacher_evaluation:
        evaluation = await client.teacher_evaluations.create(dataset.id, config, job_description)
        evaluation_id = evaluation.id
        say(f"teacher evaluation {evaluation.id} ...")
        await client.teacher_evaluations.wait(evaluation.id, **wait)
        teacher = (await client.teacher_evaluations.results(evaluation.id)).teacher_performance
        say(f"teacher {_acc(teacher)}")

    slm = await client.slms.create(dataset.id, config, job_description, smoke=smoke)
    say(f"SLM {slm.id}: training (distillation) ...")
    await client.slms.wait(slm.id, **wait)
    metrics = await client.slms.results(slm.id)
    say(
        f"base student {_acc(metrics.base_model_performance)}, "
        f"tuned student {_acc(metrics.tuned_model_performance)}"
    )

    with tempfile.TemporaryDirectory(prefix=".distil-download-", dir=dest.parent) as tmp:
        staging = Path(tmp) / "out"
        await client.slms.download_model(slm.id, staging, progress=None if progress else False)
        _swap_in(staging, dest)
    say(f"model saved to {dest}")
    return _result(dataset.id, evaluation_id, slm.id, dest, teacher, metrics)


def _result(
    dataset_id: str,
    evaluation_id: str | None,
    slm_id: str,
    dest: Path,
    teacher: Metrics | None,
    metrics: CompletedSLMMetrics,
) -> TrainedModel:
    model = dest / "model"
    return TrainedModel(
        dataset_id=dataset_id,
        teacher_evaluation_id=evaluation_id,
        slm_id=slm_id,
        model_dir=model if model.is_dir() else dest,
        artifacts_dir=dest,
        teacher=teacher,
        base_model=metrics.base_model_performance,
        tuned_model=metrics.tuned_model_performance,
    )
