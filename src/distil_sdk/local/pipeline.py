"""The local platform's ML pipeline: teacher evaluation and distillation training.

The job subprocess (``local/_jobs/main.py``) runs the module ``$DISTIL_LOCAL_PIPELINE`` names,
this one by default; any module that satisfies `Pipeline` can stand in for it (tests use fast
fakes). Also usable directly::

    from distil_sdk.types.data import TaskBundle
    from distil_sdk.local import pipeline

    bundle = TaskBundle.from_dir("my-task")
    out = pipeline.run_training(bundle, Path("work"), lambda stage, status, msg: None)
    out.evaluation_results["student-tuned"]["accuracy"], out.model_dir

Method (measured in ``benchmarks/bench_offline_training.py``): the teacher is fitted on the gold
rows with a recipe chosen by cross-validation (optionally self-trained on the unlabelled texts);
the student (a sequence-classification model over ``base.student_model_name``) is fine-tuned on
the gold rows alone (student-base, the comparison figure), and the distilled student starts as a
copy of the teacher (``PipelineOptions.student_init``) and is trained on the gold rows (hard
labels) plus the teacher-labelled unlabelled/synthetic texts (soft targets, KL term). The
training's stages are functions of ``local/_jobs/training_stages.py``; `run_training` runs them
in order.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from ..types.jobs import JobStatus
from ._jobs.threads import set_torch_threads
from ._jobs.training_stages import (
    TEACHER_RECIPE_FILE,
    GoldSplit,
    TrainingRun,
    distil_student,
    evaluate_student,
    final_notes,
    label_transfer_set,
    package_model_dir,
    pick_student_length,
    split_gold,
    student_findings,
    train_settings,
    train_student_base,
    write_predictions,
)
from .teachers import SupportsUnlabelled, Teacher, make_teacher

if TYPE_CHECKING:
    from ..types.data import TaskBundle

logger = logging.getLogger("distil_sdk")

__all__ = [
    "TEACHER_EVALUATION_STAGES",
    "TEACHER_RECIPE_FILE",
    "TRAINING_STAGES",
    "Pipeline",
    "PipelineOptions",
    "ProgressFn",
    "SupportsLabelTexts",
    "TeacherEvaluationOutput",
    "TrainingOutput",
    "label_texts",
    "pick_student_length",
    "run_teacher_evaluation",
    "run_training",
    "split_gold",
    "student_findings",
    "train_settings",
    "write_predictions",
]

ProgressFn = Callable[[str, str, str], None]

TEACHER_EVALUATION_STAGES: list[str] = ["teacher_fit", "teacher_evaluation"]
TRAINING_STAGES: list[str] = [
    "teacher_fit",
    "teacher_labelling",
    "student_base",
    "distillation",
    "evaluation",
    "packaging",
]


@dataclass
class PipelineOptions:
    """Knobs of the local method that the task config does not cover (defaults = measured best)."""

    #: Student truncation: CPU time grows with length; 128 word pieces is the floor.
    student_max_length: int = 128
    #: Longer student truncations, used where the CPU budget allows: the largest of these whose
    #: distillation set (gold + teacher-labelled texts) fits ``student_token_budget`` word pieces
    #: per epoch. Measured: on mental-health (seed 0), whose posts often run past 128 pieces, 256
    #: lifted student-base 0.64 -> 0.79 and student-tuned 0.80 -> 0.83; on ecommerce (seeds 0-2)
    #: 256 instead of 128 gave student-tuned 0.917 on every seed against 0.906 +- 0.021, for
    #: ~60 s more distillation (133k pieces per epoch). ``None`` = always the floor.
    student_max_lengths: tuple[int, ...] = (256, 192)
    student_token_budget: int | None = 140_000
    #: Teacher (frozen encoder) truncation: inference only, so it can afford to read more.
    teacher_max_length: int = 256
    #: ``tuning.num_train_epochs`` is honoured as a scale: the gold-only student-base makes
    #: ``2.5x`` that many passes over a few dozen rows (4 -> 10, measured: 4 under-fits), the
    #: distillation ``0.5x`` over ~1000 teacher-labelled rows (4 -> 2; a 3rd epoch gave nothing
    #: on mental-health and costs a minute). Explicit counts below override the scale.
    base_epoch_scale: float = 2.5
    distillation_epoch_scale: float = 0.5
    distillation_epochs: int | None = None
    #: Weight of a gold row relative to a teacher-labelled row in the distillation loss.
    gold_weight: float = 3.0
    #: Weight the teacher-labelled rows so their classes (the teacher's argmax) follow the gold
    #: rows' class distribution (see ``teachers.prior_weights``): an unlabelled pool that is
    #: mostly one class otherwise teaches the student that class's prior.
    balance_transfer: bool = True
    temperature: float = 1.0
    #: Floor for the batch size: the platform's default of 1 costs an optimiser step per row.
    min_batch_size: int = 8
    base_epochs: int | None = None
    #: Caps that keep tasks with many rows inside the time budget and leave small ones alone:
    #: student-base makes at most about ``base_max_steps`` optimiser steps (its epochs are cut,
    #: never under 3), and each distillation epoch at most ``distillation_max_steps_per_epoch``
    #: (a fresh random subset of the rows each epoch). 48 labelled rows make 50 student-base
    #: steps and 1000 teacher-labelled texts about 130 per epoch, far below both.
    base_max_steps: int | None = 300
    distillation_max_steps_per_epoch: int | None = 400
    #: ``"teacher"`` (default): when the teacher is a linear head over sentence embeddings (the
    #: embedded teacher) and the student has a BERT-style pooler, the distilled student starts as
    #: a copy of the teacher: a mean-pooling layer on its encoder, the teacher's head (see
    #: ``training._align`` and ``student_mean_pool_layer``). ``"base"``: it starts from
    #: student-base (or fresh, without ``warm_start``). Measured (scratch runs, seed 0),
    #: student-tuned starting from student-base / a fitted pooler / the mean-pooling layer: 77
    #: cluster-labelled intents 0.642 / 0.712 / 0.776 (teacher 0.775); the fitted pooler against
    #: the layer on mental-health-4shot: 0.812 / 0.865 (teacher 0.875).
    student_init: str = "teacher"
    #: A teacher-initialised student already sits at the teacher's level: it is trained at this
    #: fraction of ``tuning.learning_rate``, with its head at the same rate as the body (the
    #: fresh-head multiplier would throw the teacher's head away in the first steps), for this
    #: fraction of ``tuning.num_train_epochs`` (0.25: 4 -> 1 epoch). With a fitted pooler, 1.0x
    #: the rate lost 3 points on banking-routing and the 77 intents, 0.4x kept the start, and a
    #: 2nd epoch gave the same accuracy on four tasks at twice the time. With the mean-pooling
    #: layer (pooler frozen), 1.0x gained a row on mental-health (0.844 against 0.833), lost one
    #: on banking-routing and 3 on mental-health-4shot, where 0.4x kept the start (0.865).
    teacher_init_lr_scale: float = 0.4
    teacher_init_epoch_scale: float = 0.25
    #: A fitted pooler (``student_mean_pool_layer=False``) has ``hidden x hidden`` weights: with
    #: fewer texts than this many per hidden unit it memorises its texts (the bundled 4-class
    #: example, 258 texts for 384 units, lost 4 of 40 test rows against the teacher), so the
    #: student starts from student-base instead.
    teacher_init_min_texts_per_unit: float = 2.0
    #: Give the teacher-initialised student one more encoder layer that mean-pools the tokens
    #: into its [CLS] state (``training.append_mean_pool_layer``), so it reads exactly what the
    #: teacher reads and starts as the teacher, no fit needed; ``False`` fits the pooler instead.
    student_mean_pool_layer: bool = True
    #: Texts on which the job log reports how closely the started student matches the teacher.
    teacher_init_check_texts: int = 256
    #: A teacher-initialised student ends at ``start + keep x (distilled - start)``: the
    #: average of the teacher copy it started from and its distilled weights (WiSE-FT's
    #: weight-space ensemble, ``training.average_with_start``; 0.5 is that paper's default,
    #: 1.0 keeps the distilled weights). Scratch runs at seed 0, distilled / averaged, teacher
    #: in brackets: banking-routing-4shot 0.896 / 0.906 (0.906), banking-routing 0.906 / 0.917
    #: (0.906), 77 intents 0.776 / 0.777 (0.775), mental-health 0.833 / 0.833 (0.833),
    #: mental-health-4shot 0.865 / 0.865 (0.875); seed 1: banking-routing-4shot 0.865 / 0.896
    #: (0.906), ecommerce-4shot 0.896 / 0.906 (0.875), mental-health 0.854 / 0.844 (0.833).
    teacher_init_keep: float = 0.5
    #: Start a student-base-initialised distilled student from student-base's weights (saves
    #: CPU time against a fresh one).
    warm_start: bool = True

    def __post_init__(self) -> None:
        # Checked where the options are made, not minutes into a training that would then fail.
        if not 0.0 <= self.teacher_init_keep <= 1.0:
            raise ValueError(
                f"PipelineOptions.teacher_init_keep must lie in [0, 1], got {self.teacher_init_keep}"
            )


@dataclass
class TeacherEvaluationOutput:
    """What `run_teacher_evaluation` returns."""

    results: dict[str, Any]
    predictions_path: Path


@dataclass
class TrainingOutput:
    """What `run_training` returns."""

    evaluation_results: dict[str, dict[str, Any]]
    predictions: dict[str, Path]
    model_dir: Path
    timings: dict[str, float] = field(default_factory=dict)
    #: How the embedded teacher chose its recipe (``teacher-recipe.json`` in ``model_dir``);
    #: ``None`` for other teachers.
    teacher_recipe: dict[str, Any] | None = None
    #: Findings worth a user's attention (also in the job log and the model card), e.g. the
    #: student ending below its teacher on the test set.
    notes: list[str] = field(default_factory=list)


@runtime_checkable
class Pipeline(Protocol):
    """The pipeline plug-in: what the job subprocess calls on the module it runs.

    The module ``$DISTIL_LOCAL_PIPELINE`` names (default ``distil_sdk.local.pipeline``) must
    satisfy it, with module-level names: the two stage lists (announced to the worker before
    a job starts; ``progress`` reports each stage by these names) and the two job functions.
    Each job function raises an exception with a human message on failure. A module that
    also has `SupportsLabelTexts`'s ``label_texts`` labels the traces of relabelling jobs;
    otherwise this module's `label_texts` does.

    Example::

        from distil_sdk.local.pipeline import Pipeline
        import my_pipeline

        assert isinstance(my_pipeline, Pipeline)  # names only; mypy checks the signatures
    """

    TEACHER_EVALUATION_STAGES: list[str]
    TRAINING_STAGES: list[str]

    def run_teacher_evaluation(
        self, bundle: TaskBundle, work_dir: Path, progress: ProgressFn
    ) -> TeacherEvaluationOutput:
        """Fit the teacher and score it on ``bundle.test`` (predictions inside ``work_dir``)."""
        ...

    def run_training(
        self, bundle: TaskBundle, work_dir: Path, progress: ProgressFn
    ) -> TrainingOutput:
        """Train the student; the test results, predictions and ``model/`` folder."""
        ...


@runtime_checkable
class SupportsLabelTexts(Protocol):
    """Optional part of a `Pipeline`: the teacher's labels for relabelling jobs' traces."""

    def label_texts(self, bundle: TaskBundle, texts: Sequence[str], work_dir: Path) -> list[str]:
        """One label of ``bundle.job_description.labels`` per text of ``texts``."""
        ...


class _Stages:
    """Reports each stage's start/end and times it (into ``timings``)."""

    def __init__(self, progress: ProgressFn, timings: dict[str, float] | None = None) -> None:
        self.progress = progress
        self.timings: dict[str, float] = {} if timings is None else timings

    def run(self, stage: str, message: str, fn: Callable[[], Any]) -> Any:
        self.progress(stage, JobStatus.RUNNING.value, message)
        started = time.perf_counter()
        try:
            result = fn()
        except Exception as exc:
            self.progress(stage, JobStatus.FAILURE.value, f"{stage} failed: {exc}")
            raise
        self.timings[stage] = round(time.perf_counter() - started, 2)
        self.progress(stage, JobStatus.SUCCESS.value, f"{stage} done in {self.timings[stage]:.1f}s")
        return result


EMBEDDING_CACHE_ENV = "DISTIL_EMBEDDING_CACHE"


def embedding_cache_dir(work_dir: Path) -> Path | None:
    """Where the embedded teacher keeps its content-keyed sentence embeddings.

    ``$DISTIL_EMBEDDING_CACHE`` when set (``off`` for no cache: ``None``); for the worker's
    layout (``<data>/jobs/<id>/work``) ``<data>/embedding-cache``, shared by every job of the
    server (the teacher-evaluation job and the training job embed the same texts); otherwise
    ``embedding-cache`` next to ``work_dir``.
    """
    env = os.environ.get(EMBEDDING_CACHE_ENV, "").strip()
    if env.lower() in ("0", "off", "false", "no", "none"):
        return None
    if env:
        return Path(env).expanduser()
    work_dir = Path(work_dir).resolve()
    if work_dir.name == "work" and work_dir.parent.parent.name == "jobs":
        return work_dir.parent.parent.parent / "embedding-cache"
    return work_dir.parent / "embedding-cache"


def _close(teacher: Teacher) -> None:
    close = getattr(teacher, "close", None)
    if callable(close):
        close()


@contextmanager
def _open_teacher(teacher: Teacher) -> Iterator[Teacher]:
    """``teacher`` for the block, closed once when it ends however it ends (the LLM teacher
    holds an HTTP pool). Nothing may use the teacher after the block."""
    try:
        yield teacher
    finally:
        _close(teacher)


def _fit_teacher(bundle: TaskBundle, work_dir: Path) -> Teacher:
    """The task's teacher, fitted on the gold rows (and adapted to the unlabelled texts);
    closed here when fitting fails, since no caller gets it to close."""
    teacher = make_teacher(
        bundle.config,
        cache_dir=work_dir / "teacher-cache",
        embedding_cache_dir=embedding_cache_dir(work_dir),
    )
    try:
        teacher.fit(bundle.job_description, bundle.train, bundle.config)
        unlabelled = bundle.unlabelled
        if isinstance(teacher, SupportsUnlabelled) and unlabelled is not None:
            teacher.adapt(unlabelled.texts)
    except BaseException:
        _close(teacher)
        raise
    return teacher


def label_texts(bundle: TaskBundle, texts: Sequence[str], work_dir: Path) -> list[str]:
    """The teacher's label for each of ``texts`` (the default pipeline's `SupportsLabelTexts`).

    The teacher is the one `run_teacher_evaluation` uses, fitted on ``bundle.train`` and the
    class descriptions (so an empty train split works too); it is closed before this returns.
    ``bundle.test`` is not read. Relabelling jobs (``relabel_traces_*``) call it.
    """
    set_torch_threads()
    with _open_teacher(_fit_teacher(bundle, Path(work_dir))) as teacher:
        probs = teacher.predict_proba(list(texts))
        return [teacher.labels[int(i)] for i in probs.argmax(axis=1)]


def _evaluate_teacher(
    bundle: TaskBundle, teacher: Teacher, work_dir: Path
) -> tuple[Path, dict[str, Any]]:
    """``teacher_evaluation``: the teacher's test-set predictions file and Metrics."""
    test = bundle.test
    return write_predictions(
        work_dir / "teacher-predictions.jsonl",
        test.texts,
        test.labels,
        teacher.predict_proba(test.texts),
        bundle.job_description.labels,
    )


def run_teacher_evaluation(
    bundle: TaskBundle, work_dir: Path, progress: ProgressFn
) -> TeacherEvaluationOutput:
    """Fit the teacher and evaluate it on the test set (Metrics + predictions JSONL)."""
    set_torch_threads()
    stages = _Stages(progress)
    work_dir = Path(work_dir)
    teacher: Teacher = stages.run(
        "teacher_fit", "fitting the teacher", lambda: _fit_teacher(bundle, work_dir)
    )
    with _open_teacher(teacher):
        path, metrics = stages.run(
            "teacher_evaluation",
            "evaluating the teacher on the test set",
            lambda: _evaluate_teacher(bundle, teacher, work_dir),
        )
    return TeacherEvaluationOutput(results=metrics, predictions_path=path)


def run_training(
    bundle: TaskBundle,
    work_dir: Path,
    progress: ProgressFn,
    *,
    options: PipelineOptions | None = None,
) -> TrainingOutput:
    """Teacher → labels → student-base → distilled student → evaluation → ``model/`` folder.

    Each of ``TRAINING_STAGES`` is one function of ``local/_jobs/training_stages.py`` over a
    shared `TrainingRun`; ``progress`` gets each stage's start, end (or failure) and time.
    The teacher is closed once, after ``distillation``, its last use.
    """
    set_torch_threads()
    options = options or PipelineOptions()
    work_dir = Path(work_dir)
    stages = _Stages(progress)
    teacher: Teacher = stages.run(
        "teacher_fit", "fitting the teacher", lambda: _fit_teacher(bundle, work_dir)
    )
    with _open_teacher(teacher):
        run = TrainingRun(
            bundle, options, work_dir, teacher, GoldSplit.of(bundle), timings=stages.timings
        )
        transfer = stages.run(
            "teacher_labelling",
            "the teacher labels the unlabelled texts",
            lambda: label_transfer_set(run),
        )
        base = stages.run(
            "student_base",
            "training the student on the labelled rows",
            lambda: train_student_base(run, transfer),
        )
        tuned = stages.run(
            "distillation",
            "distilling the teacher into the student",
            lambda: distil_student(run, base, transfer),
        )
        choice = getattr(teacher, "recipe_choice", None)
        tuning = getattr(teacher, "tuning", None)  # the embedded teacher's encoder decision
    stages.run(
        "evaluation",
        "evaluating the students on the test set",
        lambda: evaluate_student(run, "student-tuned", tuned),
    )
    recipe = choice.to_json() if choice is not None else None
    teacher_notes = [x.summary() for x in (choice, tuning) if x is not None]
    notes = final_notes(run, teacher_notes)
    model_dir: Path = stages.run(
        "packaging",
        "writing the model folder",
        lambda: package_model_dir(run, tuned, recipe, notes),
    )
    return TrainingOutput(run.results, run.predictions, model_dir, run.timings, recipe, notes)
