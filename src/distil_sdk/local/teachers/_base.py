"""The teacher interface shared by the embedded and the LLM teachers.

A teacher is fitted on the gold rows of a task and then scores any text with a probability per
class. The pipeline uses it three ways: teacher evaluation on the test set, labelling the
unlabelled (and synthetic) texts with soft targets for distillation, and - when the teacher can -
generating synthetic training examples.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol, runtime_checkable

import numpy as np

if TYPE_CHECKING:
    from ...types.data import LabelledDataset, UnlabelledDataset
    from ...types.task import JobDescription, TaskConfig

__all__ = [
    "SupportsLinearHead",
    "SupportsSynthesis",
    "SupportsUnlabelled",
    "Teacher",
    "normalise_rows",
    "prior_weights",
    "teacher_config_keys",
    "teacher_description",
]


@runtime_checkable
class Teacher(Protocol):
    """Scores texts with class probabilities.

    ``labels`` is ``job.labels`` once `fit` has run; `predict_proba` returns an array
    of shape ``(len(texts), len(labels))`` whose rows sum to 1, columns in ``labels`` order.
    """

    labels: list[str]

    def fit(self, job: JobDescription, train: LabelledDataset, config: TaskConfig) -> None:
        """Prepare the teacher from the job description and the gold rows."""
        ...

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        """Class probabilities for ``texts`` (rows sum to 1, columns in ``labels`` order)."""
        ...


@runtime_checkable
class SupportsSynthesis(Protocol):
    """Optional: a teacher that writes new labelled examples (the LLM teacher).

    The pipeline calls it when present and ``synthgen.generation_target > 0``.
    """

    def synthesize(
        self,
        job: JobDescription,
        train: LabelledDataset,
        unlabelled: UnlabelledDataset | None,
        config: TaskConfig,
    ) -> LabelledDataset:
        """Synthetic labelled examples following ``config.synthgen``."""
        ...


@runtime_checkable
class SupportsUnlabelled(Protocol):
    """Optional: a teacher that also learns from unlabelled texts (transductive self-training).

    The pipeline calls it after `Teacher.fit` with every text it will ask the teacher
    about (unlabelled and test texts; never the test labels).
    """

    def adapt(self, texts: Sequence[str]) -> None:
        """Refine the fitted teacher with the unlabelled ``texts``."""
        ...


@runtime_checkable
class SupportsLinearHead(Protocol):
    """Optional: a teacher that is a linear classifier over sentence embeddings (the embedded one).

    The pipeline starts the distilled student from it (``training.init_pooled_from_teacher``):
    the student's encoder gets a mean-pooling layer, so it reads these embeddings' view of the
    text, and its classifier gets this head, so the student begins at the teacher's accuracy
    instead of below it.
    """

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """The embeddings the head reads, ``(len(texts), dim)``."""
        ...

    def linear_head(self) -> tuple[np.ndarray, np.ndarray] | None:
        """``(weight (k, dim), bias (k,))`` whose softmax gives `Teacher.predict_proba`
        (columns in ``labels`` order), or ``None`` when the fitted model is not of that form."""
        ...


def normalise_rows(scores: np.ndarray) -> np.ndarray:
    """Clip negatives and rescale each row to sum to 1 (uniform where a row is all zero)."""
    scores = np.clip(np.asarray(scores, dtype=np.float64), 0.0, None)
    sums = scores.sum(axis=1, keepdims=True)
    uniform = np.full_like(scores, 1.0 / max(scores.shape[1], 1))
    return np.where(sums > 0, scores / np.where(sums > 0, sums, 1.0), uniform)


#: Cap on how much one pseudo-labelled row may be up- or down-weighted by `prior_weights`;
#: keeps a class with a handful of confident rows from dominating the fit.
MAX_PRIOR_WEIGHT = 5.0


def prior_weights(predicted: np.ndarray, prior: np.ndarray) -> np.ndarray:
    """Per-row weights that make pseudo-labelled rows follow the gold rows' class distribution.

    ``predicted`` holds each row's (teacher-assigned) class index, ``prior`` the gold class
    frequencies. Unlabelled pools are rarely balanced like the labelled rows (mental-health's
    teacher labelled 49% of its pool "normal" and 7% "bipolar" against a balanced gold set), and
    fitting on them as they come drags every later prediction toward the majority classes. Each
    row of class ``c`` gets ``prior[c] * n / count[c]`` (mean weight 1), clipped to
    ``[1/MAX_PRIOR_WEIGHT, MAX_PRIOR_WEIGHT]``.
    """
    predicted = np.asarray(predicted, dtype=np.int64)
    if predicted.size == 0:
        return np.zeros(0)
    prior = np.asarray(prior, dtype=np.float64)
    prior = prior / prior.sum()
    counts = np.bincount(predicted, minlength=len(prior)).astype(np.float64)
    weights = prior[predicted] * len(predicted) / counts[predicted]
    return np.asarray(np.clip(weights, 1.0 / MAX_PRIOR_WEIGHT, MAX_PRIOR_WEIGHT))


def teacher_description(teacher: object) -> str:
    """How the model card names ``teacher``: its ``describe()`` when it has one, else its class.

    Reads attributes only, so it is safe after the teacher was closed.
    """
    describe = getattr(teacher, "describe", None)
    return str(describe()) if callable(describe) else f"`{type(teacher).__name__}`"


def teacher_config_keys(teacher: object, config: TaskConfig) -> frozenset[str]:
    """The dotted ``config.yaml`` keys ``teacher`` read (``"synthgen.teacher_temperature"``...).

    A teacher without a ``config_keys(config)`` method is credited with
    ``base.teacher_model_name`` only, the one key `make_teacher` hands every teacher.
    """
    keys = getattr(teacher, "config_keys", None)
    if callable(keys):
        return frozenset(keys(config))
    return frozenset({"base.teacher_model_name"})
