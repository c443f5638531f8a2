"""``client.train()``: the common case in one call - dataset, teacher evaluation, SLM, download.

The steps are the public resources' own calls, in the order the platform's reference gives;
the model is downloaded into a temporary sibling of ``output_dir`` and swapped in only when
complete, so a failed or interrupted run never leaves a half-written model folder behind.
The scores are read with ``results()`` rather than ``metrics()``: a job that succeeded without
them raises `JobResultsMissingError` (naming the job) before anything is
downloaded, so `TrainedModel`'s student scores are never ``None``.

A ``KeyboardInterrupt`` (Ctrl-C) inside the run comes out as `TrainInterrupted`, a
``KeyboardInterrupt`` that says which step it stopped in and which remote job was running: the
platform has no cancel route, so a submitted job keeps running (and has spent its credit).
"""

from __future__ import annotations

import logging
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .._errors import DistilError
from .._fs import publish_folder
from .._polling import DEFAULT_WAIT_TIMEOUT_S
from ..types.entities import CompletedSLMMetrics, TrainedModel
from ..types.jobs import Metrics
from ._base import WaitOptions

if TYPE_CHECKING:
    from .._client import AsyncDistilClient, DistilClient
    from .datasets import TaskLike

__all__ = ["TrainInterrupted", "TrainProgress", "train_async", "train_sync"]

logger = logging.getLogger("distil_sdk")

Say = Callable[[str], None]


class TrainProgress:
    """How far a ``train()`` run got: the step it is in and the ids of what it created.

    ``step``: ``"dataset"`` (creating the dataset, then waiting for it), ``"teacher-evaluation"``,
    ``"slm"`` (training) or ``"download"`` (the SLM succeeded; its model is being downloaded).
    An id is ``None`` until the platform answered its create.
    """

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.step = "dataset"
        self.dataset_id: str | None = None
        self.teacher_evaluation_id: str | None = None
        self.slm_id: str | None = None

    @property
    def job(self) -> tuple[str, str | None]:
        """The job of the current step: (``"dataset"`` | ``"teacher-evaluation"`` | ``"slm"``,
        its id or ``None`` when its create had not answered). A download's job is the SLM."""
        if self.step == "dataset":
            return "dataset", self.dataset_id
        if self.step == "teacher-evaluation":
            return "teacher-evaluation", self.teacher_evaluation_id
        return "slm", self.slm_id

    def describe(self) -> str:
        """One sentence on what became of the remote job."""
        kind, job_id = self.job
        what = {"dataset": "dataset", "teacher-evaluation": "teacher evaluation", "slm": "SLM"}[
            kind
        ]
        where = self.base_url
        if self.step == "download":
            return (
                f"the download of SLM {self.slm_id} was interrupted; the SLM is trained and "
                f"stays on {where}, and nothing was written to the output folder"
            )
        if job_id is None:
            parent = f" of dataset {self.dataset_id}" if self.dataset_id else ""
            return (
                f"interrupted while creating the {what}{parent} on {where}; it may or may not "
                "have been created"
            )
        return (
            f"{what} {job_id} keeps running on {where}: the platform has no cancel route, "
            "so the job goes on (and its credit is spent)"
        )


class TrainInterrupted(KeyboardInterrupt):
    """A ``KeyboardInterrupt`` (Ctrl-C) inside ``client.train()``, with how far it got.

    ``progress``: a `TrainProgress` (the step, the ids of the dataset, teacher evaluation
    and SLM created so far, the platform's URL). The remote jobs are not stopped: there is no
    cancel route. Catching ``KeyboardInterrupt`` catches this too.
    """

    def __init__(self, progress: TrainProgress) -> None:
        super().__init__(progress.describe())
        self.progress = progress


def _prepare(output_dir: str | os.PathLike[str], force: bool) -> Path:
    dest = Path(output_dir)
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())) and not force:
        raise DistilError(
            f"{dest} already exists and is not empty; pass force=True to replace it, or choose "
            "another output folder"
        )
    dest.parent.mkdir(parents=True, exist_ok=True)
    return dest


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
    """See `distil_sdk.DistilClient.train`."""
    dest = _prepare(output_dir, force)
    say = _say(on_event)
    wait: WaitOptions = {"timeout": timeout, "progress": progress}
    run = TrainProgress(client.base_url)
    try:
        return _train_sync(client, task, dest, run, say, wait, config, job_description,
                           teacher_evaluation, smoke, progress)  # fmt: skip
    except TrainInterrupted:
        raise
    except KeyboardInterrupt as exc:
        raise TrainInterrupted(run) from exc


def _train_sync(
    client: DistilClient,
    task: TaskLike,
    dest: Path,
    run: TrainProgress,
    say: Say,
    wait: WaitOptions,
    config: Any,
    job_description: Any,
    teacher_evaluation: bool,
    smoke: bool,
    progress: bool,
) -> TrainedModel:
    dataset = client.datasets.create(task)
    run.dataset_id = dataset.id
    say(f"dataset {dataset.id} created on {client.base_url}")
    client.datasets.wait(dataset.id, **wait)

    teacher: Metrics | None = None
    evaluation_id = None
    if teacher_evaluation:
        run.step = "teacher-evaluation"
        evaluation = client.teacher_evaluations.create(dataset.id, config, job_description)
        evaluation_id = run.teacher_evaluation_id = evaluation.id
        say(f"teacher evaluation {evaluation.id} ...")
        client.teacher_evaluations.wait(evaluation.id, **wait)
        teacher = client.teacher_evaluations.results(evaluation.id).teacher_performance
        say(f"teacher {_acc(teacher)}")

    run.step = "slm"
    slm = client.slms.create(dataset.id, config, job_description, smoke=smoke)
    run.slm_id = slm.id
    say(f"SLM {slm.id}: training (distillation) ...")
    client.slms.wait(slm.id, **wait)
    metrics = client.slms.results(slm.id)
    say(
        f"base student {_acc(metrics.base_model_performance)}, "
        f"tuned student {_acc(metrics.tuned_model_performance)}"
    )

    run.step = "download"
    with tempfile.TemporaryDirectory(prefix=".distil-download-", dir=dest.parent) as tmp:
        staging = Path(tmp) / "out"
        client.slms.download_model(slm.id, staging, progress=None if progress else False)
        publish_folder(staging, dest)
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
    """See `distil_sdk.AsyncDistilClient.train`."""
    dest = _prepare(output_dir, force)
    say = _say(on_event)
    wait: WaitOptions = {"timeout": timeout, "progress": progress}
    run = TrainProgress(client.base_url)
    try:
        return await _train_async(client, task, dest, run, say, wait, config, job_description,
                                  teacher_evaluation, smoke, progress)  # fmt: skip
    except TrainInterrupted:
        raise
    except KeyboardInterrupt as exc:
        raise TrainInterrupted(run) from exc


async def _train_async(
    client: AsyncDistilClient,
    task: TaskLike,
    dest: Path,
    run: TrainProgress,
    say: Say,
    wait: WaitOptions,
    config: Any,
    job_description: Any,
    teacher_evaluation: bool,
    smoke: bool,
    progress: bool,
) -> TrainedModel:
    dataset = await client.datasets.create(task)
    run.dataset_id = dataset.id
    say(f"dataset {dataset.id} created on {client.base_url}")
    await client.datasets.wait(dataset.id, **wait)

    teacher: Metrics | None = None
    evaluation_id = None
    if teacher_evaluation:
        run.step = "teacher-evaluation"
        evaluation = await client.teacher_evaluations.create(dataset.id, config, job_description)
        evaluation_id = run.teacher_evaluation_id = evaluation.id
        say(f"teacher evaluation {evaluation.id} ...")
        await client.teacher_evaluations.wait(evaluation.id, **wait)
        teacher = (await client.teacher_evaluations.results(evaluation.id)).teacher_performance
        say(f"teacher {_acc(teacher)}")

    run.step = "slm"
    slm = await client.slms.create(dataset.id, config, job_description, smoke=smoke)
    run.slm_id = slm.id
    say(f"SLM {slm.id}: training (distillation) ...")
    await client.slms.wait(slm.id, **wait)
    metrics = await client.slms.results(slm.id)
    say(
        f"base student {_acc(metrics.base_model_performance)}, "
        f"tuned student {_acc(metrics.tuned_model_performance)}"
    )

    run.step = "download"
    with tempfile.TemporaryDirectory(prefix=".distil-download-", dir=dest.parent) as tmp:
        staging = Path(tmp) / "out"
        await client.slms.download_model(slm.id, staging, progress=None if progress else False)
        publish_folder(staging, dest)
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
