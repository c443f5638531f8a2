"""The distilled student's calibration, fitted at the end of the distillation stage.

The student's probabilities need a temperature fitted on rows it did not train on, and it
trained (directly, or through the teacher it started as) on every gold row: the held-out
``eval`` rows shaped the teacher it was copied from, and are a handful anyway. So the evidence
is taken in two steps that each rest on rows that were not fitted:

1. the teacher's **out-of-fold** probabilities on the gold rows (its recipe refitted k times on
   cached embeddings, each fold predicted by a model that never saw it) give the fold models'
   temperature ``T_oof``, kept only when it beats the raw probabilities by more than chance
   (`distil_sdk.inference._calibration.fit_temperature`). The fold models learn from fewer rows
   than the teacher and are less confident than it, so ``T_oof`` is corrected by the **fold
   bias** ``b``: the temperature that makes the teacher's probabilities closest to the fold
   models' on the same unlabelled texts. ``T_teacher = b x T_oof`` (the fold models at
   ``T_oof`` are the teacher at ``b x T_oof``), and ``T_oof`` must beat ``1 / b`` (the raw
   teacher) by more than chance, not 1. The correction only moves the temperature towards 1:
   a softening one stays ``T_oof``. Without unlabelled texts to measure ``b`` on, only
   softening (``T_oof >= 1``, which the bias works against) is taken;
2. the student's **sharpness** against the teacher on the texts the teacher labelled: the
   temperature that makes the student's probabilities closest to the teacher's (it trained to
   match them, but the gold rows' hard labels make it sharper).

The student's temperature is ``sharpness x T_teacher``: the student made as confident as its
teacher, and the teacher as confident as its held-out rows say. A teacher without out-of-fold
predictions (the LLM teacher) leaves the student uncalibrated (identity), as do too few gold
rows. A failure here never fails a training: it is logged and the identity is written.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from ...inference._calibration import (
    TEMPERATURE_BOUNDS,
    Calibration,
    apply_temperature,
    expected_calibration_error,
    fit_sharpness,
    fit_temperature,
    negative_log_likelihood,
)

if TYPE_CHECKING:
    from ..teachers._contrastive import TunedEvidence
    from ..training import Student
    from .training_stages import TrainingRun, Transfer

logger = logging.getLogger("distil_sdk")

__all__ = ["SHARPNESS_TEXTS", "OutOfFold", "fit_student_calibration", "teacher_out_of_fold"]

#: Teacher-labelled texts the student's sharpness is measured on (a seeded sample): one
#: number, so a few hundred texts pin it down, for a few seconds of the student on CPU.
SHARPNESS_TEXTS = 256
#: Folds of the teacher's out-of-fold predictions, and the unlabelled texts its self-training
#: recipes see per fold (as in the recipe's own cross-validation).
FOLDS = 5
MAX_POOL = 2000
#: Unlabelled texts the fold bias is measured on (a seeded sample; one number, as above).
BIAS_TEXTS = 256


@dataclass
class OutOfFold:
    """The teacher's out-of-fold evidence on the gold rows."""

    probs: np.ndarray  # (rows, labels), each row from a fold model that never saw it
    labels: np.ndarray  # each row's label index
    #: the temperature that makes the teacher as confident as its fold models (None: no
    #: unlabelled texts to measure it on)
    fold_bias: float | None = None
    #: where the probabilities come from, for the calibration's record
    source: str = f"the teacher's {FOLDS}-fold out-of-fold probabilities"


def fit_student_calibration(run: TrainingRun, student: Student, transfer: Transfer) -> Calibration:
    """The calibration to save with ``student`` (see the module docstring); never raises."""
    try:
        calibration = _fit(run, student, transfer)
    except Exception as exc:  # the trained weights matter more than their calibration
        logger.warning(
            "calibration not fitted (%s: %s); probabilities left raw", type(exc).__name__, exc
        )
        return Calibration(reason=f"not fitted: {type(exc).__name__}: {exc}")
    logger.info(
        "calibration: %s %.3f (%s)", calibration.method, calibration.temperature, calibration.reason
    )
    return calibration


def _fit(run: TrainingRun, student: Student, transfer: Transfer) -> Calibration:
    oof = teacher_out_of_fold(run)
    if oof is None:
        return Calibration(
            reason="no held-out evidence: the teacher gives no out-of-fold probabilities"
        )
    probs, labels = oof.probs, oof.labels
    if oof.fold_bias is not None:
        # Out-of-fold models learn from (k-1)/k of the gold rows, so the teacher fitted on all
        # of them is sharper by the fold bias b: the teacher at T is the fold models at T / b.
        # So the raw teacher (T = 1) is the fold models at 1 / b, the temperature a fit must
        # beat. (Tested against 1 instead, a sharpening T of 0.59 passed on a 7-class task
        # with 7 rows per class and doubled its test ECE: 0.116 -> 0.227.)
        null = 1.0 / oof.fold_bias
        t_fitted, statistic, why = fit_temperature(probs, labels, null=null)
        t_teacher = 1.0 if t_fitted == null else t_fitted * oof.fold_bias
        # The correction only moves the temperature towards 1: a softening one stays at the
        # fold fits' own (a few dozen rows are noisy evidence; b x 2.08 = 2.8 on a 24-row
        # task raised its test ECE from 0.096 to 0.155, where 2.08 gave 0.105).
        t_teacher = min(t_teacher, max(t_fitted, 1.0))
        t_teacher = min(max(t_teacher, TEMPERATURE_BOUNDS[0]), TEMPERATURE_BOUNDS[1])
        why += f"; fold bias {oof.fold_bias:.3f}"
    else:  # no way to correct the bias: only softening, which it works against, is taken
        t_fitted, statistic, why = fit_temperature(probs, labels)
        t_teacher = max(t_fitted, 1.0)
        if t_teacher != t_fitted:
            why += (
                "; not applied: without unlabelled texts to measure the fold bias, out-of-fold "
                "evidence is kept only for softening (T >= 1)"
            )
    sharpness, texts = _sharpness(run, student, transfer)
    temperature = min(max(sharpness * t_teacher, TEMPERATURE_BOUNDS[0]), TEMPERATURE_BOUNDS[1])
    # The fold models' own rows, calibrated by their own temperature (the teacher's is b x it).
    after = apply_temperature(probs, t_fitted if oof.fold_bias is not None else t_teacher)
    return Calibration(
        method="identity" if temperature == 1.0 else "temperature",
        temperature=temperature,
        rows=len(labels),
        source=(
            f"{oof.source} on {len(labels)} gold rows; "
            f"the student's sharpness against the teacher on {texts} teacher-labelled texts"
        ),
        ece_before=expected_calibration_error(probs, labels),
        ece_after=expected_calibration_error(after, labels),
        nll_before=negative_log_likelihood(probs, labels),
        nll_after=negative_log_likelihood(after, labels),
        reason=(f"student sharpness {sharpness:.3f} x teacher temperature {t_teacher:.3f}; {why}"),
        details={
            "teacher_temperature": t_teacher,
            "teacher_temperature_fitted": t_fitted,
            **({} if oof.fold_bias is None else {"fold_bias": oof.fold_bias}),
            "sharpness": sharpness,
            "likelihood_ratio": statistic,
        },
    )


def _sharpness(run: TrainingRun, student: Student, transfer: Transfer) -> tuple[float, int]:
    """The student's sharpness against the teacher, and the texts it was measured on."""
    if not transfer.texts:
        return 1.0, 0
    rng = np.random.default_rng(run.seed)
    n = min(SHARPNESS_TEXTS, len(transfer.texts))
    pick = np.sort(rng.choice(len(transfer.texts), n, replace=False))
    texts = [transfer.texts[i] for i in pick]
    return fit_sharpness(student.predict_proba(texts), transfer.probs[pick]), n


def teacher_out_of_fold(run: TrainingRun) -> OutOfFold | None:
    """The embedded teacher's out-of-fold probabilities on ``bundle.train``, the rows' label
    indices and the fold bias; ``None`` for a teacher that has no refittable recipe (the LLM
    teacher).

    Each fold is predicted by the teacher's chosen recipe fitted, as the teacher itself was,
    on the other rows plus one row per class description (and, for a self-training recipe,
    the unlabelled texts). The fold bias compares the fold models with the recipe fitted on
    every row, on up to `BIAS_TEXTS` unlabelled texts.
    """
    teacher: Any = run.teacher
    choice = getattr(teacher, "recipe_choice", None)
    if choice is None or not callable(getattr(teacher, "embed", None)):
        return None
    tuned = getattr(teacher, "tuned_evidence", None)
    evidence = tuned() if callable(tuned) else None
    if evidence is not None:
        return _tuned_out_of_fold(teacher, evidence)
    from sklearn.model_selection import KFold, StratifiedKFold

    from ..teachers._recipes import fit_recipe, predict_proba, single_thread_blas
    from ..teachers.embedded import description_text

    bundle, labels = run.bundle, run.labels
    index = {label: i for i, label in enumerate(labels)}
    y = np.array([index[label] for label in bundle.train.labels], dtype=np.int64)
    counts = np.bincount(y, minlength=len(labels))
    if len(y) < 2 * FOLDS:
        return None
    smallest = int(counts[counts > 0].min())
    splitter: Any = (
        StratifiedKFold(min(FOLDS, smallest), shuffle=True, random_state=run.seed)
        if smallest >= 2
        else KFold(FOLDS, shuffle=True, random_state=run.seed)
    )
    x = teacher.embed(list(bundle.train.texts))
    job = bundle.job_description
    x_desc = teacher.embed([description_text(label, job.classes[label]) for label in labels])
    x_pool = _pool(run, teacher, MAX_POOL) if choice.recipe.self_training else x[:0]
    x_ref = _pool(run, teacher, BIAS_TEXTS)  # the teacher caches embeddings: no second encoding
    if not len(x_pool):
        x_pool = x[:0]
    y_desc = np.arange(len(labels))
    out = np.zeros((len(y), len(labels)))
    fold_ref: list[np.ndarray] = []

    def fit(rows: np.ndarray) -> Any:
        return fit_recipe(
            choice.recipe,
            np.vstack([x[rows], x_desc]),
            np.concatenate([y[rows], y_desc]),
            x_pool,
            len(labels),
            run.seed,
        )

    with single_thread_blas():
        for train_idx, held_idx in splitter.split(np.zeros(len(y)), y):
            model = fit(train_idx)
            out[held_idx] = predict_proba(model, x[held_idx], len(labels))
            if len(x_ref) >= 2:
                fold_ref.append(predict_proba(model, x_ref, len(labels)))
        if not fold_ref:
            return OutOfFold(out, y)
        # Refitted rather than the teacher itself: the same inputs as the folds (pool sample,
        # seed), so the comparison shows only what the held-out fifth of the rows changes.
        full = predict_proba(fit(np.arange(len(y))), x_ref, len(labels))
    bias = fit_sharpness(np.vstack([full] * len(fold_ref)), np.vstack(fold_ref))
    return OutOfFold(out, y, bias)


def _tuned_out_of_fold(teacher: Any, evidence: TunedEvidence) -> OutOfFold:
    """A tuned encoder's evidence: its cross-validation's folds, each with its own tuning (the
    same rows refitted on the tuned encoder would have seen the held-out rows in the tuning)."""
    source = "the tuned encoder's out-of-fold probabilities (each fold tuned apart)"
    if not evidence.fold_ref:
        return OutOfFold(evidence.probs, evidence.labels, source=source)
    full = np.asarray(teacher.predict_proba(evidence.ref_texts))
    bias = fit_sharpness(np.vstack([full] * len(evidence.fold_ref)), np.vstack(evidence.fold_ref))
    return OutOfFold(evidence.probs, evidence.labels, bias, source=source)


def _pool(run: TrainingRun, teacher: Any, most: int) -> np.ndarray:
    """Embeddings of (a seeded sample of at most ``most``) unlabelled texts."""
    texts = list(run.bundle.unlabelled.texts) if run.bundle.unlabelled is not None else []
    if len(texts) > most:
        pick = np.sort(np.random.default_rng(run.seed).choice(len(texts), most, replace=False))
        texts = [texts[i] for i in pick]
    return np.asarray(teacher.embed(texts)) if texts else np.zeros((0, 0))
