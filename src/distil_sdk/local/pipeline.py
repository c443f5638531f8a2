"""The local platform's ML pipeline: teacher evaluation and distillation training.

Called by the worker inside a subprocess (see ``local/_job_main.py``); also usable directly::

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
labels) plus the teacher-labelled unlabelled/synthetic texts (soft targets, KL term).
"""

from __future__ import annotations

import json
import logging
import math
import os
import random
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .._metrics import classification_report
from ..types.jobs import JobStatus
from ._threads import set_torch_threads
from .teachers import (
    SupportsLinearHead,
    SupportsSynthesis,
    SupportsUnlabelled,
    Teacher,
    make_teacher,
    prior_weights,
)

if TYPE_CHECKING:
    from ..types.data import LabelledDataset, TaskBundle
    from ..types.task import TaskConfig
    from .training import Student, TrainSettings

logger = logging.getLogger("distil_sdk")

#: The embedded teacher's recipe choice and CV scores, saved beside the weights.
TEACHER_RECIPE_FILE = "teacher-recipe.json"

__all__ = [
    "TEACHER_EVALUATION_STAGES",
    "TRAINING_STAGES",
    "PipelineOptions",
    "ProgressFn",
    "TeacherEvaluationOutput",
    "TrainingOutput",
    "run_teacher_evaluation",
    "run_training",
    "student_findings",
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


class _Stages:
    """Reports each stage's start/end and times it."""

    def __init__(self, progress: ProgressFn) -> None:
        self.progress = progress
        self.timings: dict[str, float] = {}

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


def _seed(config: TaskConfig) -> int:
    seed = getattr(config.base, "random_seed", None)
    return 0 if seed is None else int(seed)


EMBEDDING_CACHE_ENV = "DISTIL_EMBEDDING_CACHE"


def embedding_cache_dir(work_dir: Path) -> Path:
    """Where the embedded teacher keeps its content-keyed sentence embeddings.

    ``$DISTIL_EMBEDDING_CACHE`` when set; for the worker's layout (``<data>/jobs/<id>/work``)
    ``<data>/embedding-cache``, shared by every job of the server (the teacher-evaluation job
    and the training job embed the same texts); otherwise ``embedding-cache`` next to
    ``work_dir``.
    """
    env = os.environ.get(EMBEDDING_CACHE_ENV, "").strip()
    if env:
        return Path(env).expanduser()
    work_dir = Path(work_dir).resolve()
    if work_dir.name == "work" and work_dir.parent.parent.name == "jobs":
        return work_dir.parent.parent.parent / "embedding-cache"
    return work_dir.parent / "embedding-cache"


def _fit_teacher(bundle: TaskBundle, work_dir: Path) -> Teacher:
    teacher = make_teacher(
        bundle.config,
        cache_dir=work_dir / "teacher-cache",
        embedding_cache_dir=embedding_cache_dir(work_dir),
    )
    teacher.fit(bundle.job_description, bundle.train, bundle.config)
    unlabelled = bundle.unlabelled
    if isinstance(teacher, SupportsUnlabelled) and unlabelled is not None:
        teacher.adapt(unlabelled.texts)
    return teacher


def _close(teacher: Teacher) -> None:
    close = getattr(teacher, "close", None)
    if callable(close):
        close()


def write_predictions(
    path: Path, texts: Sequence[str], gold: Sequence[str], probs: np.ndarray, labels: Sequence[str]
) -> tuple[Path, dict[str, Any]]:
    """Write the predictions JSONL (one test row per line) and return it with the Metrics."""
    preds = [labels[i] for i in np.asarray(probs).argmax(axis=1)] if len(texts) else []
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as fh:
        for text, answer, pred, row in zip(texts, gold, preds, probs, strict=True):
            scores = {label: round(float(p), 6) for label, p in zip(labels, row, strict=True)}
            fh.write(
                json.dumps(
                    {"question": text, "answer": answer, "prediction": pred, "scores": scores},
                    ensure_ascii=False,
                )
                + "\n"
            )
    return path, classification_report(list(gold), preds, list(labels))


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
    labels = bundle.job_description.labels

    def evaluate() -> tuple[Path, dict[str, Any]]:
        probs = teacher.predict_proba(bundle.test.texts)
        return write_predictions(
            work_dir / "teacher-predictions.jsonl",
            bundle.test.texts,
            bundle.test.labels,
            probs,
            labels,
        )

    try:
        path, metrics = stages.run(
            "teacher_evaluation", "evaluating the teacher on the test set", evaluate
        )
    finally:
        _close(teacher)
    return TeacherEvaluationOutput(results=metrics, predictions_path=path)


def train_settings(
    config: TaskConfig, options: PipelineOptions, *, epochs: int | None, scale: float
) -> TrainSettings:
    """The student's optimisation settings from the task's ``tuning`` section.

    ``epochs`` (when set) wins; otherwise ``scale * tuning.num_train_epochs``, at least 1.
    """
    from .training import TrainSettings

    tuning = config.tuning
    if epochs is None:
        epochs = max(1, math.ceil(scale * int(tuning.num_train_epochs)))
    return TrainSettings(
        learning_rate=float(tuning.learning_rate),
        scheduler=str(tuning.learning_rate_scheduler),
        weight_decay=float(tuning.weight_decay),
        warmup_ratio=float(tuning.warmup_ratio),
        epochs=epochs,
        batch_size=max(int(tuning.per_device_train_batch_size), options.min_batch_size),
        seed=_seed(config),
        temperature=options.temperature,
    )


def split_gold(
    texts: Sequence[str], labels: Sequence[str], fraction: float, seed: int
) -> tuple[list[int], list[int]]:
    """Stratified (train, eval) row indices; every class keeps at least one training row."""
    rng = random.Random(seed)
    by_class: dict[str, list[int]] = {}
    for i, label in enumerate(labels):
        by_class.setdefault(label, []).append(i)
    train_idx: list[int] = []
    eval_idx: list[int] = []
    for rows in by_class.values():
        rows = rows[:]
        rng.shuffle(rows)
        n_eval = min(round(len(rows) * fraction), len(rows) - 1)
        eval_idx += rows[:n_eval]
        train_idx += rows[n_eval:]
    return sorted(train_idx), sorted(eval_idx)


def pick_student_length(tokenizer: Any, texts: Sequence[str], options: PipelineOptions) -> int:
    """The student's truncation: the longest of ``options.student_max_lengths`` whose ``texts``
    fit ``options.student_token_budget`` word pieces, else ``options.student_max_length``."""
    floor = options.student_max_length
    if not options.student_token_budget or not texts or not options.student_max_lengths:
        return floor
    longest = max(options.student_max_lengths)
    ids = tokenizer(list(texts), truncation=True, max_length=longest)["input_ids"]
    lengths = np.array([len(x) for x in ids])
    for candidate in sorted(options.student_max_lengths, reverse=True):
        if (
            candidate > floor
            and int(np.minimum(lengths, candidate).sum()) <= options.student_token_budget
        ):
            return candidate
    return floor


def _one_hot(labels: Sequence[str], order: Sequence[str]) -> np.ndarray:
    index = {label: i for i, label in enumerate(order)}
    out = np.zeros((len(labels), len(order)))
    out[np.arange(len(labels)), [index[x] for x in labels]] = 1.0
    return out


def run_training(
    bundle: TaskBundle,
    work_dir: Path,
    progress: ProgressFn,
    *,
    options: PipelineOptions | None = None,
) -> TrainingOutput:
    """Teacher → labels → student-base → distilled student → evaluation → ``model/`` folder."""
    from ._encoders import model_max_length
    from .training import build_student, save_model_dir, train_student

    set_torch_threads()
    options = options or PipelineOptions()
    stages = _Stages(progress)
    work_dir = Path(work_dir)
    config, job = bundle.config, bundle.job_description
    labels, seed = job.labels, _seed(config)
    test_texts, test_gold = bundle.test.texts, bundle.test.labels
    results: dict[str, dict[str, Any]] = {}
    predictions: dict[str, Path] = {}

    teacher: Teacher = stages.run(
        "teacher_fit", "fitting the teacher", lambda: _fit_teacher(bundle, work_dir)
    )

    def label_transfer_set() -> tuple[list[str], np.ndarray]:
        unlabelled = bundle.unlabelled
        texts = list(unlabelled.texts) if unlabelled is not None else []
        if isinstance(teacher, SupportsSynthesis) and config.synthgen.generation_target > 0:
            synthetic: LabelledDataset = teacher.synthesize(job, bundle.train, unlabelled, config)
            texts += list(synthetic.texts)
        gold = set(bundle.train.texts) | set(test_texts)  # never distil on the test set
        texts = [t for t in dict.fromkeys(texts) if t not in gold]
        path, results["teacher"] = write_predictions(
            work_dir / "teacher-predictions.jsonl",
            test_texts,
            test_gold,
            teacher.predict_proba(test_texts),
            labels,
        )
        predictions["teacher"] = path
        return texts, teacher.predict_proba(texts) if texts else np.zeros((0, len(labels)))

    try:
        transfer_texts, transfer_probs = stages.run(
            "teacher_labelling", "the teacher labels the unlabelled texts", label_transfer_set
        )
    finally:
        _close(teacher)  # the LLM teacher holds an HTTP pool; the student needs no teacher

    fraction = float(config.tuning.train_eval_split)
    tr_idx, ev_idx = split_gold(bundle.train.texts, bundle.train.labels, fraction, seed)
    gold_texts = [bundle.train.texts[i] for i in tr_idx]
    gold_labels = [bundle.train.labels[i] for i in tr_idx]
    eval_texts = [bundle.train.texts[i] for i in ev_idx]
    eval_labels = [bundle.train.labels[i] for i in ev_idx]
    logs: list[Any] = []

    def evaluate(name: str, student: Student) -> None:
        path, results[name] = write_predictions(
            work_dir / f"{name}-predictions.jsonl",
            test_texts,
            test_gold,
            student.predict_proba(test_texts),
            labels,
        )
        predictions[name] = path

    student_length = options.student_max_length

    def train_base() -> Student:
        nonlocal student_length
        student = build_student(
            config.base.student_model_name, labels, max_length=options.student_max_length, seed=seed
        )
        student_length = pick_student_length(
            student.tokenizer, gold_texts + transfer_texts, options
        )
        student.max_length = model_max_length(
            student.tokenizer, student.model.config, student_length
        )
        logger.info("student truncation: %d word pieces", student.max_length)
        settings = train_settings(
            config, options, epochs=options.base_epochs, scale=options.base_epoch_scale
        )
        if options.base_max_steps and options.base_epochs is None:
            per_epoch = math.ceil(len(gold_texts) / settings.batch_size)
            fit = max(3, math.ceil(options.base_max_steps / per_epoch))
            if fit < settings.epochs:
                logger.info(
                    "student-base: %d epochs instead of %d (%d labelled rows, %d steps each)",
                    fit,
                    settings.epochs,
                    len(gold_texts),
                    per_epoch,
                )
                settings.epochs = fit
        logs.extend(
            train_student(
                student,
                gold_texts,
                _one_hot(gold_labels, labels),
                np.ones(len(gold_texts)),
                settings,
                eval_texts=eval_texts,
                eval_labels=eval_labels,
                stage="student-base",
            )
        )
        evaluate("student-base", student)
        return student

    base: Student = stages.run(
        "student_base", "training the student on the labelled rows", train_base
    )

    init_notes: list[str] = []

    def teacher_initialised_student() -> Student | None:
        from .training import (
            append_mean_pool_layer,
            init_from_teacher,
            init_pooled_from_teacher,
            supports_teacher_init,
        )

        if options.student_init != "teacher" or not isinstance(teacher, SupportsLinearHead):
            return None
        head = teacher.linear_head()
        if head is None:
            return None
        student = build_student(
            config.base.student_model_name, labels, max_length=student_length, seed=seed
        )
        if not supports_teacher_init(student):
            logger.info("student-tuned starts from student-base: no BERT-style pooler to fit")
            return None
        texts = list(dict.fromkeys(list(bundle.train.texts) + transfer_texts))

        def started(how: str) -> Student:
            init_notes.append(f"student-tuned started from the teacher: {how}")
            logger.info("%s", init_notes[-1])
            return student

        if options.student_mean_pool_layer and append_mean_pool_layer(student.model):
            check = texts[: options.teacher_init_check_texts]
            info = init_pooled_from_teacher(
                student,
                head[0],
                head[1],
                check_texts=check,
                check_embeddings=teacher.embed(check) if check else None,
            )
            return started(
                "a mean-pooling layer on its encoder, the teacher's head (mean cosine "
                f"{info['cosine']} to the teacher's embeddings on {info['texts']} texts)"
            )
        hidden = int(student.model.config.hidden_size)
        if len(texts) < options.teacher_init_min_texts_per_unit * hidden:
            logger.info(
                "student-tuned starts from student-base: %d texts are too few to fit a "
                "%d-unit pooler to the teacher",
                len(texts),
                hidden,
            )
            return None
        try:
            info = init_from_teacher(
                student, texts, teacher.embed(texts), head[0], head[1], seed=seed
            )
        except ValueError as exc:
            logger.info("student-tuned starts from student-base: %s", exc)
            return None
        return started(
            f"pooler fitted to the teacher's embeddings on {info['texts']} texts (mean cosine "
            f"{info['cosine']:.3f}), teacher's head"
        )

    def distil() -> Student:
        import copy

        from .training import average_with_start, evaluate_held_out, snapshot_weights

        student = teacher_initialised_student()
        from_teacher = student is not None
        if student is None:
            student = (
                copy.deepcopy(base)
                if options.warm_start
                else build_student(
                    config.base.student_model_name, labels, max_length=student_length, seed=seed
                )
            )
        texts = gold_texts + transfer_texts
        targets = np.vstack([_one_hot(gold_labels, labels), transfer_probs])
        transfer_weights = np.ones(len(transfer_texts))
        if options.balance_transfer and len(transfer_texts):
            gold_prior = _one_hot(gold_labels, labels).sum(axis=0) + 1.0  # +1: no class at zero
            transfer_weights = prior_weights(transfer_probs.argmax(axis=1), gold_prior)
        weights = np.concatenate([np.full(len(gold_texts), options.gold_weight), transfer_weights])
        soft = np.concatenate([np.zeros(len(gold_texts), bool), np.ones(len(transfer_texts), bool)])
        settings = train_settings(
            config,
            options,
            epochs=options.distillation_epochs,
            scale=(
                options.teacher_init_epoch_scale
                if from_teacher
                else options.distillation_epoch_scale
            ),
        )
        settings.max_steps_per_epoch = options.distillation_max_steps_per_epoch
        start = None
        if from_teacher:
            settings.learning_rate *= options.teacher_init_lr_scale
            settings.head_lr_multiplier = 1.0
            if options.teacher_init_keep < 1.0:
                start = snapshot_weights(student.model)
        logs.extend(
            train_student(
                student,
                texts,
                targets,
                weights,
                settings,
                soft=soft,
                eval_texts=eval_texts,
                eval_labels=eval_labels,
                stage="student-tuned",
            )
        )
        if start is not None:
            average_with_start(student.model, start, options.teacher_init_keep)
            row = evaluate_held_out(
                student,
                eval_texts,
                eval_labels,
                stage="student-tuned-average",
                epoch=settings.epochs,
            )
            if row is not None:  # training-logs.csv ends with the saved weights' figures
                logs.append(row)
                logger.info(
                    "student-tuned after the average: eval_acc %.3f on %d held-out rows",
                    row.eval_accuracy,
                    len(eval_texts),
                )
            init_notes.append(
                "student-tuned: the average of the teacher copy it started from and its "
                f"distilled weights ({options.teacher_init_keep:g} of the way to the latter)"
            )
            logger.info("%s", init_notes[-1])
        return student

    tuned: Student = stages.run("distillation", "distilling the teacher into the student", distil)
    stages.run(
        "evaluation",
        "evaluating the students on the test set",
        lambda: evaluate("student-tuned", tuned),
    )
    choice = getattr(teacher, "recipe_choice", None)
    recipe = choice.to_json() if choice is not None else None
    findings = student_findings(results, len(test_texts))
    for finding in findings:
        logger.warning("%s", finding)
    notes = ([choice.summary()] if choice is not None else []) + init_notes + findings

    def package() -> Path:
        from .training._card import write_model_card

        folder = save_model_dir(tuned, work_dir / "model", logs, job.to_json())
        if recipe is not None:
            (folder / TEACHER_RECIPE_FILE).write_text(json.dumps(recipe, indent=2), "utf-8")
        write_model_card(
            folder,
            job=job,
            config=config,
            results=results,
            predictions=predictions.get("student-tuned"),
            notes=notes,
        )
        return folder

    model_dir: Path = stages.run("packaging", "writing the model folder", package)
    return TrainingOutput(results, predictions, model_dir, stages.timings, recipe, notes)


def student_findings(results: Mapping[str, Mapping[str, Any]], n_test: int) -> list[str]:
    """A finding when student-tuned ends below the teacher on the test set (else none)."""
    teacher = (results.get("teacher") or {}).get("accuracy")
    tuned = (results.get("student-tuned") or {}).get("accuracy")
    if not isinstance(teacher, float | int) or not isinstance(tuned, float | int):
        return []
    if tuned >= teacher:
        return []
    rows = f" ({round((teacher - tuned) * n_test)} of {n_test} test rows)" if n_test else ""
    return [
        f"student-tuned ends below the teacher on the test set: {tuned:.3f} against "
        f"{teacher:.3f}{rows}"
    ]
