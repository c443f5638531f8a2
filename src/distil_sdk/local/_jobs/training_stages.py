"""The default pipeline's training job as named stages over one state object.

`distil_sdk.local.pipeline.run_training` is the driver: it fits the teacher, builds a
`TrainingRun` and calls the stages below in order, each through the pipeline's stage reporter
(one ``TRAINING_STAGES`` name each). A stage takes the run and returns what it produces; what
later stages and the output need (results, predictions, epoch logs, notes, the student's
truncation) it records on the run. The teacher is open from ``teacher_fit`` until the end of
``distillation``, the last stage that uses it; the driver closes it once, after that stage.

The training helpers the stages share (`train_settings`, `split_gold`, `pick_student_length`,
`write_predictions`, `student_findings`) live here too and are re-exported by the pipeline.
The student code (``local/training``) is imported when a stage runs, never at import: it pulls
in torch, and tests replace its functions (``train_student``...) on the package.
"""

from __future__ import annotations

import copy
import json
import logging
import math
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

from ..._metrics import classification_report
from ..teachers import SupportsLinearHead, SupportsSynthesis, Teacher, prior_weights
from ..teachers._head import TeacherHead
from ._retrain import remember_teacher_labels, retrain_transfer, save_base, warm_start_base
from .calibration import fit_student_calibration

if TYPE_CHECKING:
    from ...inference._calibration import Calibration
    from ...types.data import LabelledDataset, TaskBundle
    from ...types.task import TaskConfig
    from ..pipeline import PipelineOptions
    from ..training import EpochLog, Student, TrainSettings
    from ._retrain import RunRecord

logger = logging.getLogger("distil_sdk")

__all__ = [
    "TEACHER_RECIPE_FILE",
    "GoldSplit",
    "TrainingRun",
    "Transfer",
    "distil_student",
    "evaluate_student",
    "final_notes",
    "label_transfer_set",
    "package_model_dir",
    "pick_student_length",
    "seed_of",
    "split_gold",
    "student_findings",
    "teacher_initialised_student",
    "train_settings",
    "train_student_base",
    "write_predictions",
]

#: The embedded teacher's recipe choice and CV scores, saved beside the weights.
TEACHER_RECIPE_FILE = "teacher-recipe.json"


# -- shared helpers --------------------------------------------------------------------------------
def seed_of(config: TaskConfig) -> int:
    """``base.random_seed``, 0 when unset."""
    seed = getattr(config.base, "random_seed", None)
    return 0 if seed is None else int(seed)


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


def train_settings(
    config: TaskConfig, options: PipelineOptions, *, epochs: int | None, scale: float
) -> TrainSettings:
    """The student's optimisation settings from the task's ``tuning`` section.

    ``epochs`` (when set) wins; otherwise ``scale * tuning.num_train_epochs``, at least 1.
    """
    from ..training import TrainSettings

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
        seed=seed_of(config),
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


def _one_hot(labels: Sequence[str], order: Sequence[str]) -> np.ndarray:
    index = {label: i for i, label in enumerate(order)}
    out = np.zeros((len(labels), len(order)))
    out[np.arange(len(labels)), [index[x] for x in labels]] = 1.0
    return out


# -- the state -------------------------------------------------------------------------------------
@dataclass
class GoldSplit:
    """The gold rows the students train on and the held-out rows their epochs are scored on."""

    texts: list[str]
    labels: list[str]
    eval_texts: list[str]
    eval_labels: list[str]

    @classmethod
    def of(cls, bundle: TaskBundle) -> GoldSplit:
        """Split ``bundle.train`` by ``tuning.train_eval_split`` (stratified, seeded)."""
        texts, labels = bundle.train.texts, bundle.train.labels
        fraction = float(bundle.config.tuning.train_eval_split)
        train_idx, eval_idx = split_gold(texts, labels, fraction, seed_of(bundle.config))
        return cls(
            [texts[i] for i in train_idx],
            [labels[i] for i in train_idx],
            [texts[i] for i in eval_idx],
            [labels[i] for i in eval_idx],
        )


class Transfer(NamedTuple):
    """The texts the teacher labelled for distillation and its probabilities for them."""

    texts: list[str]
    probs: np.ndarray


@dataclass
class TrainingRun:
    """What the training stages share: the inputs, the teacher and what the stages record."""

    bundle: TaskBundle
    options: PipelineOptions
    work_dir: Path
    #: Open from ``teacher_fit`` to the end of ``distillation``; no stage uses it after that.
    teacher: Teacher
    gold: GoldSplit
    #: Test-set Metrics and predictions JSONL per model: teacher, student-base, student-tuned.
    results: dict[str, dict[str, Any]] = field(default_factory=dict)
    predictions: dict[str, Path] = field(default_factory=dict)
    #: Epoch rows of both students (``training-logs.csv``).
    logs: list[EpochLog] = field(default_factory=list)
    #: How student-tuned started and ended (job log, model card, `TrainingOutput.notes`).
    notes: list[str] = field(default_factory=list)
    #: Seconds per finished stage, filled by the stage reporter.
    timings: dict[str, float] = field(default_factory=dict)
    #: The student's truncation, chosen by ``student_base`` for every student after it.
    student_length: int = 0
    #: The settings each student stage trained with, after every change made to them (card).
    stage_settings: dict[str, TrainSettings] = field(default_factory=dict)
    #: Distillation texts by origin, after removing duplicates and gold/test texts (card).
    unlabelled_rows: int = 0
    synthetic_rows: int = 0
    #: The earlier run of the same task this one retrains (``_retrain``), ``None`` for a first.
    previous: RunRecord | None = None
    #: This run's record for the next retrain (``None`` without a cache).
    record: Path | None = None
    #: The embedded teacher's head, taken while it is open and saved with the model.
    teacher_head: TeacherHead | None = None
    #: The distilled student's calibration (``calibration.json``), fitted by `distil_student`
    #: while the teacher is open (``calibration.fit_student_calibration``).
    calibration: Calibration | None = None

    @property
    def labels(self) -> list[str]:
        """The task's classes, in the job description's order."""
        return self.bundle.job_description.labels

    @property
    def seed(self) -> int:
        """``base.random_seed`` (0 when unset)."""
        return seed_of(self.bundle.config)

    def note(self, message: str) -> None:
        """Record a note and log it."""
        self.notes.append(message)
        logger.info("%s", message)


# -- the stages ------------------------------------------------------------------------------------
def label_transfer_set(run: TrainingRun) -> Transfer:
    """``teacher_labelling``: score the teacher on the test set, then label the unlabelled
    (and, with a teacher that writes them, synthetic) texts that are neither gold nor test."""
    bundle, teacher, config = run.bundle, run.teacher, run.bundle.config
    unlabelled = bundle.unlabelled
    texts = list(unlabelled.texts) if unlabelled is not None else []
    synthetic_texts: list[str] = []
    if isinstance(teacher, SupportsSynthesis) and config.synthgen.generation_target > 0:
        synthetic: LabelledDataset = teacher.synthesize(
            bundle.job_description, bundle.train, unlabelled, config
        )
        synthetic_texts = list(synthetic.texts)
    test_texts = bundle.test.texts
    gold = set(bundle.train.texts) | set(test_texts)  # never distil on the test set
    texts = [t for t in dict.fromkeys(texts) if t not in gold]
    run.unlabelled_rows = len(texts)
    known = gold | set(texts)
    new_synthetic = [t for t in dict.fromkeys(synthetic_texts) if t not in known]
    run.synthetic_rows = len(new_synthetic)
    texts += new_synthetic
    path, run.results["teacher"] = write_predictions(
        run.work_dir / "teacher-predictions.jsonl",
        test_texts,
        bundle.test.labels,
        teacher.predict_proba(test_texts),
        run.labels,
    )
    run.predictions["teacher"] = path
    probs = teacher.predict_proba(texts) if texts else np.zeros((0, len(run.labels)))
    transfer = Transfer(texts, probs)
    remember_teacher_labels(run, transfer)  # run.previous, run.record
    run.teacher_head = TeacherHead.of(teacher)
    return transfer


def evaluate_student(run: TrainingRun, name: str, student: Student) -> None:
    """Score ``student`` on the test set as ``name`` (its Metrics and predictions file)."""
    test = run.bundle.test
    path, run.results[name] = write_predictions(
        run.work_dir / f"{name}-predictions.jsonl",
        test.texts,
        test.labels,
        student.predict_proba(test.texts),
        run.labels,
    )
    run.predictions[name] = path


def _base_settings(run: TrainingRun) -> TrainSettings:
    """Student-base's settings: ``base_epoch_scale`` epochs, cut to about ``base_max_steps``."""
    options, gold = run.options, run.gold
    settings = train_settings(
        run.bundle.config, options, epochs=options.base_epochs, scale=options.base_epoch_scale
    )
    if options.base_max_steps and options.base_epochs is None:
        per_epoch = math.ceil(len(gold.texts) / settings.batch_size)
        fit = max(3, math.ceil(options.base_max_steps / per_epoch))
        if fit < settings.epochs:
            logger.info(
                "student-base: %d epochs instead of %d (%d labelled rows, %d steps each)",
                fit,
                settings.epochs,
                len(gold.texts),
                per_epoch,
            )
            settings.epochs = fit
    return settings


def train_student_base(run: TrainingRun, transfer: Transfer) -> Student:
    """``student_base``: the student fine-tuned on the gold rows alone (the comparison figure).

    Also chooses the student's truncation (``run.student_length``) from every text it and the
    distilled student will read.
    """
    from ..training import build_student, train_student
    from .encoders import model_max_length

    options, gold = run.options, run.gold
    student = build_student(
        run.bundle.config.base.student_model_name,
        run.labels,
        max_length=options.student_max_length,
        seed=run.seed,
    )
    run.student_length = pick_student_length(
        student.tokenizer, gold.texts + transfer.texts, options
    )
    student.max_length = model_max_length(
        student.tokenizer, student.model.config, run.student_length
    )
    logger.info("student truncation: %d word pieces", student.max_length)
    settings = run.stage_settings["student-base"] = _base_settings(run)
    warm_start_base(run, student, settings)  # a retrain continues the earlier student-base
    run.logs.extend(
        train_student(
            student,
            gold.texts,
            _one_hot(gold.labels, run.labels),
            np.ones(len(gold.texts)),
            settings,
            eval_texts=gold.eval_texts,
            eval_labels=gold.eval_labels,
            stage="student-base",
        )
    )
    save_base(run, student)
    evaluate_student(run, "student-base", student)
    return student


def teacher_initialised_student(run: TrainingRun, transfer: Transfer) -> Student | None:
    """A student that starts as a copy of the teacher (``PipelineOptions.student_init``), or
    ``None`` when the teacher or the student cannot do it (it then starts from student-base)."""
    from ..training import build_student, supports_teacher_init

    options, teacher = run.options, run.teacher
    if options.student_init != "teacher" or not isinstance(teacher, SupportsLinearHead):
        return None
    head = teacher.linear_head()
    if head is None:
        return None
    name = run.bundle.config.base.student_model_name
    start = getattr(teacher, "student_start", None)  # a teacher that tuned the student's encoder
    student = build_student(
        start(name) if callable(start) else name,
        run.labels,
        max_length=run.student_length,
        seed=run.seed,
    )
    if not supports_teacher_init(student):
        logger.info("student-tuned starts from student-base: no BERT-style pooler to fit")
        return None
    texts = list(dict.fromkeys(list(run.bundle.train.texts) + transfer.texts))
    if options.student_mean_pool_layer and _start_with_mean_pool_layer(
        run, teacher, head, student, texts
    ):
        return student
    if _start_with_fitted_pooler(run, teacher, head, student, texts):
        return student
    return None


def _start_with_mean_pool_layer(
    run: TrainingRun,
    teacher: SupportsLinearHead,
    head: tuple[np.ndarray, np.ndarray],
    student: Student,
    texts: list[str],
) -> bool:
    """Give ``student`` a mean-pooling layer and the teacher's head; ``False`` when its encoder
    takes no such layer (the fitted pooler is tried instead)."""
    from ..training import append_mean_pool_layer, init_pooled_from_teacher

    if not append_mean_pool_layer(student.model):
        return False
    check = texts[: run.options.teacher_init_check_texts]
    info = init_pooled_from_teacher(
        student,
        head[0],
        head[1],
        check_texts=check,
        check_embeddings=teacher.embed(check) if check else None,
    )
    run.note(
        "student-tuned started from the teacher: a mean-pooling layer on its encoder, the "
        f"teacher's head (mean cosine {info['cosine']} to the teacher's embeddings on "
        f"{info['texts']} texts)"
    )
    return True


def _start_with_fitted_pooler(
    run: TrainingRun,
    teacher: SupportsLinearHead,
    head: tuple[np.ndarray, np.ndarray],
    student: Student,
    texts: list[str],
) -> bool:
    """Fit ``student``'s pooler to the teacher's embeddings and give it the teacher's head;
    ``False`` (logged) when the texts are too few for the pooler or the fit fails."""
    from ..training import init_from_teacher

    hidden = int(student.model.config.hidden_size)
    if len(texts) < run.options.teacher_init_min_texts_per_unit * hidden:
        logger.info(
            "student-tuned starts from student-base: %d texts are too few to fit a "
            "%d-unit pooler to the teacher",
            len(texts),
            hidden,
        )
        return False
    try:
        info = init_from_teacher(
            student, texts, teacher.embed(texts), head[0], head[1], seed=run.seed
        )
    except ValueError as exc:
        logger.info("student-tuned starts from student-base: %s", exc)
        return False
    run.note(
        "student-tuned started from the teacher: pooler fitted to the teacher's embeddings on "
        f"{info['texts']} texts (mean cosine {info['cosine']:.3f}), teacher's head"
    )
    return True


def _distillation_rows(
    run: TrainingRun, transfer: Transfer
) -> tuple[list[str], np.ndarray, np.ndarray, np.ndarray]:
    """(texts, targets, weights, soft) of the distillation: the gold rows (hard labels, weight
    ``gold_weight``), then the teacher-labelled texts (soft targets, prior-balanced weights)."""
    options, gold, labels = run.options, run.gold, run.labels
    texts = gold.texts + transfer.texts
    targets = np.vstack([_one_hot(gold.labels, labels), transfer.probs])
    transfer_weights = np.ones(len(transfer.texts))
    if options.balance_transfer and len(transfer.texts):
        gold_prior = _one_hot(gold.labels, labels).sum(axis=0) + 1.0  # +1: no class at zero
        transfer_weights = prior_weights(transfer.probs.argmax(axis=1), gold_prior)
    weights = np.concatenate([np.full(len(gold.texts), options.gold_weight), transfer_weights])
    soft = np.concatenate([np.zeros(len(gold.texts), bool), np.ones(len(transfer.texts), bool)])
    return texts, targets, weights, soft


def _distillation_settings(run: TrainingRun, from_teacher: bool) -> TrainSettings:
    """The distillation's settings; a teacher-initialised student trains at a fraction of the
    rate and epochs, its head at the body's rate."""
    options = run.options
    settings = train_settings(
        run.bundle.config,
        options,
        epochs=options.distillation_epochs,
        scale=(
            options.teacher_init_epoch_scale if from_teacher else options.distillation_epoch_scale
        ),
    )
    settings.max_steps_per_epoch = options.distillation_max_steps_per_epoch
    if from_teacher:
        settings.learning_rate *= options.teacher_init_lr_scale
        settings.head_lr_multiplier = 1.0
    return settings


def _average_with_start(
    run: TrainingRun, student: Student, start: dict[str, Any], epochs: int
) -> None:
    """End ``student`` ``teacher_init_keep`` of the way from its start to its distilled
    weights, and log the saved weights' held-out figures."""
    from ..training import average_with_start, evaluate_held_out

    gold = run.gold
    average_with_start(student.model, start, run.options.teacher_init_keep)
    row = evaluate_held_out(
        student, gold.eval_texts, gold.eval_labels, stage="student-tuned-average", epoch=epochs
    )
    if row is not None:  # training-logs.csv ends with the saved weights' figures
        run.logs.append(row)
        logger.info(
            "student-tuned after the average: eval_acc %.3f on %d held-out rows",
            row.eval_accuracy,
            len(gold.eval_texts),
        )
    run.note(
        "student-tuned: the average of the teacher copy it started from and its "
        f"distilled weights ({run.options.teacher_init_keep:g} of the way to the latter)"
    )


def distil_student(run: TrainingRun, base: Student, transfer: Transfer) -> Student:
    """``distillation``: student-tuned, trained on the gold rows and the teacher's labels.

    It starts as a copy of the teacher when it can (`teacher_initialised_student`), else as
    student-base (``warm_start``) or a fresh student.
    """
    from ..training import build_student, snapshot_weights, train_student

    options = run.options
    student = teacher_initialised_student(run, transfer)
    from_teacher = student is not None
    if student is None:
        student = (
            copy.deepcopy(base)
            if options.warm_start
            else build_student(
                run.bundle.config.base.student_model_name,
                run.labels,
                max_length=run.student_length,
                seed=run.seed,
            )
        )
    # A copy of the new teacher needs to read only what a retrain's change moved (_retrain).
    distilled = retrain_transfer(run, transfer) if from_teacher else transfer
    texts, targets, weights, soft = _distillation_rows(run, distilled)
    settings = run.stage_settings["student-tuned"] = _distillation_settings(run, from_teacher)
    start = None
    if from_teacher and options.teacher_init_keep < 1.0:
        start = snapshot_weights(student.model)
    run.logs.extend(
        train_student(
            student,
            texts,
            targets,
            weights,
            settings,
            soft=soft,
            eval_texts=run.gold.eval_texts,
            eval_labels=run.gold.eval_labels,
            stage="student-tuned",
        )
    )
    if start is not None:
        _average_with_start(run, student, start, settings.epochs)
    run.calibration = fit_student_calibration(run, student, transfer)  # needs the teacher
    return student


def final_notes(run: TrainingRun, teacher_notes: Sequence[str]) -> list[str]:
    """The run's notes: the teacher's (its recipe, its encoder's tuning), how student-tuned
    started and ended, and the findings on the test results (each finding also logged as a
    warning)."""
    findings = student_findings(run.results, len(run.bundle.test.texts))
    for finding in findings:
        logger.warning("%s", finding)
    return [*teacher_notes, *run.notes, *findings]


def package_model_dir(
    run: TrainingRun, tuned: Student, recipe: dict[str, Any] | None, notes: list[str]
) -> Path:
    """``packaging``: the ``model/`` folder (weights, tokenizer, logs, job description, the
    calibration and the teacher's recipe when there are, the model card)."""
    from ..training import save_model_dir
    from ..training._card import run_facts, write_model_card

    job = run.bundle.job_description
    folder = save_model_dir(
        tuned, run.work_dir / "model", run.logs, job.to_json(), calibration=run.calibration
    )
    if recipe is not None:
        (folder / TEACHER_RECIPE_FILE).write_text(json.dumps(recipe, indent=2), "utf-8")
    if run.teacher_head is not None:  # suggest_examples reads it: teacher/student disagreement
        run.teacher_head.save(folder)
    write_model_card(
        folder,
        job=job,
        config=run.bundle.config,
        results=run.results,
        predictions=run.predictions.get("student-tuned"),
        notes=notes,
        calibration=run.calibration,
        run=run_facts(
            config=run.bundle.config,
            student=tuned,
            teacher=run.teacher,
            stages=run.stage_settings,
            gold_rows=len(run.gold.texts),
            held_out_rows=len(run.gold.eval_texts),
            unlabelled_rows=run.unlabelled_rows,
            synthetic_rows=run.synthetic_rows,
        ),
    )
    return folder
