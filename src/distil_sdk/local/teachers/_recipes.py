"""The embedded teacher's recipes and the cross-validation that picks one per task.

A recipe is a logistic-regression strength ``C`` plus, optionally, self-training on the
unlabelled texts (confident pseudo-labels added, a few rounds, optionally weighted to the gold
class distribution). No single recipe wins everywhere: self-training lifted the three shared
tasks by 2-5 points but cost a short-narrative task 4-5 points against plain logistic
regression. So the teacher scores each candidate by repeated k-fold cross-validation over the
task's own labelled rows (class descriptions stay in every training fold; the unlabelled pool is
shared) and keeps the best, breaking ties by held-out log-loss.

Every fit runs with BLAS limited to one thread: sklearn's L-BFGS on a few thousand 384-d rows is
latency-bound, and a multi-threaded BLAS on a busy 2-core machine made each fit 20-30x slower
(measured: 4.2 s against 0.12 s for the same fit).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from ._base import normalise_rows, prior_weights

logger = logging.getLogger("distil_sdk")

__all__ = [
    "DEFAULT_CANDIDATES",
    "Recipe",
    "RecipeChoice",
    "choose_recipe",
    "fit_recipe",
    "single_thread_blas",
]


@dataclass(frozen=True)
class Recipe:
    """One way to fit the teacher: ``C``, the self-training settings, and whether the encoder
    was contrastively tuned on the gold rows first (``_contrastive``)."""

    c: float
    self_training: bool = False
    balance: bool = True
    rounds: int = 3
    threshold: float = 0.7
    tuned_encoder: bool = False

    @property
    def name(self) -> str:
        """Short, stable name used in logs and the recorded choice, e.g. ``C=30+st-prior``
        (``C=10+tuned``: on the contrastively tuned encoder)."""
        tuned = "+tuned" if self.tuned_encoder else ""
        if not self.self_training:
            return f"C={self.c:g}{tuned}"
        return f"C={self.c:g}+st-{'prior' if self.balance else 'plain'}{tuned}"


#: Plain logistic regression at five strengths, then self-training variants, most useful first
#: (the order in which they are dropped when the work budget runs out is the reverse).
DEFAULT_CANDIDATES: tuple[Recipe, ...] = (
    Recipe(1.0),
    Recipe(3.0),
    Recipe(10.0),
    Recipe(30.0),
    Recipe(100.0),
    Recipe(30.0, self_training=True),
    Recipe(10.0, self_training=True),
    Recipe(100.0, self_training=True),
    Recipe(30.0, self_training=True, balance=False),
    Recipe(100.0, self_training=True, balance=False),
)


#: Work allowed for the self-training candidates' cross-validation, in row x class units of
#: logistic-regression fitting (`self_training_work`): all five candidates of a 48-row,
#: 8-class task with 1000 unlabelled texts (2.5M, about 15 s on one core), two of a 616-row,
#: 77-class one (2.5M each, about 20 s each).
DEFAULT_MAX_WORK = 6e6


def self_training_work(
    recipe: Recipe, n_splits: int, n_rows: int, n_pool: int, n_classes: int
) -> float:
    """Rough cost of cross-validating one self-training candidate: every split fits once on
    its gold rows and once per round on gold plus pool, each fit scaling with rows x classes."""
    return float(n_splits * (recipe.rounds + 1) * (n_rows + n_pool) * n_classes)


@dataclass
class RecipeChoice:
    """The recipe the teacher uses and how it was chosen (recorded in the job log and model)."""

    recipe: Recipe
    #: Mean cross-validated accuracy per candidate name (``{}`` when there was no CV).
    cv_accuracy: dict[str, float] = field(default_factory=dict)
    cv_log_loss: dict[str, float] = field(default_factory=dict)
    folds: int = 0
    repeats: int = 0
    #: Candidates left out because the work budget ran out.
    skipped: list[str] = field(default_factory=list)
    seconds: float = 0.0
    reason: str = "cross-validation"

    def summary(self) -> str:
        """One log line: the choice, its CV score, the runner-up scores."""
        if not self.cv_accuracy:
            return f"teacher recipe {self.recipe.name} ({self.reason})"
        ranked = sorted(self.cv_accuracy.items(), key=lambda kv: -kv[1])
        others = ", ".join(f"{name} {acc:.3f}" for name, acc in ranked[:6])
        skipped = f"; skipped for time: {', '.join(self.skipped)}" if self.skipped else ""
        return (
            f"teacher recipe {self.recipe.name}: CV accuracy "
            f"{self.cv_accuracy[self.recipe.name]:.3f} ({self.folds}-fold x{self.repeats}, "
            f"{self.seconds:.1f}s); candidates: {others}{skipped}"
        )

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RecipeChoice:
        """The inverse of `to_json`."""
        fields = {k: v for k, v in data["recipe"].items() if k != "name"}
        return cls(
            Recipe(**fields),
            dict(data["cv_accuracy"]),
            dict(data["cv_log_loss"]),
            folds=int(data["folds"]),
            repeats=int(data["repeats"]),
            skipped=list(data["skipped"]),
            seconds=float(data["seconds"]),
            reason=str(data["reason"]),
        )

    def to_json(self) -> dict[str, Any]:
        """JSON-ready record (``teacher-recipe.json`` in the model folder)."""
        return {
            "recipe": {"name": self.recipe.name, **asdict(self.recipe)},
            "reason": self.reason,
            "cv_accuracy": {k: round(v, 4) for k, v in self.cv_accuracy.items()},
            "cv_log_loss": {k: round(v, 4) for k, v in self.cv_log_loss.items()},
            "folds": self.folds,
            "repeats": self.repeats,
            "skipped": list(self.skipped),
            "seconds": round(self.seconds, 2),
        }


@contextmanager
def single_thread_blas() -> Iterator[None]:
    """Limit BLAS/OpenMP pools to one thread inside the block (see the module docstring)."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - scikit-learn depends on threadpoolctl
        yield
        return
    with threadpool_limits(1):
        yield


def _fit_lr(x: np.ndarray, y: np.ndarray, weights: np.ndarray | None, c: float, seed: int) -> Any:
    from sklearn.linear_model import LogisticRegression

    model = LogisticRegression(C=c, max_iter=2000, random_state=seed)
    model.fit(x, y, sample_weight=weights)
    return model


def predict_proba(model: Any, x: np.ndarray, n_classes: int) -> np.ndarray:
    """Probabilities in label order (sklearn orders columns by the classes it saw)."""
    out = np.zeros((len(x), n_classes), dtype=np.float64)
    if len(x):
        out[:, model.classes_] = model.predict_proba(x)
    return normalise_rows(out)


def fit_recipe(
    recipe: Recipe,
    x_gold: np.ndarray,
    y_gold: np.ndarray,
    x_pool: np.ndarray,
    n_classes: int,
    seed: int,
    *,
    on_round: Any = None,
) -> Any:
    """Fit ``recipe`` on gold rows (and, with self-training, the unlabelled ``x_pool``)."""
    model = _fit_lr(x_gold, y_gold, None, recipe.c, seed)
    if not recipe.self_training or len(x_pool) == 0:
        return model
    prior = np.bincount(y_gold, minlength=n_classes)
    for round_ in range(recipe.rounds):
        probs = predict_proba(model, x_pool, n_classes)
        keep = probs.max(axis=1) >= recipe.threshold
        pseudo = probs.argmax(axis=1)[keep]
        weights = np.ones(len(pseudo))
        if recipe.balance:
            weights *= prior_weights(pseudo, prior)
        model = _fit_lr(
            np.vstack([x_gold, x_pool[keep]]),
            np.concatenate([y_gold, pseudo]),
            np.concatenate([np.ones(len(y_gold)), weights]),
            recipe.c,
            seed,
        )
        if on_round is not None:
            on_round(round_ + 1, int(keep.sum()))
    return model


def _folds(y: np.ndarray, folds: int, repeats: int, seed: int) -> Iterator[tuple[Any, Any]]:
    from sklearn.model_selection import KFold, StratifiedKFold

    counts = np.bincount(y)
    smallest = int(counts[counts > 0].min())
    for r in range(repeats):
        if smallest >= 2:
            splitter: Any = StratifiedKFold(
                n_splits=min(folds, smallest), shuffle=True, random_state=seed + r
            )
            yield from splitter.split(np.zeros(len(y)), y)
        else:  # a class with one row: it is held out once and known from its description
            yield from KFold(n_splits=folds, shuffle=True, random_state=seed + r).split(y)


def _cross_validate(
    recipe: Recipe,
    splits: Sequence[tuple[Any, Any]],
    x_train: np.ndarray,
    y_train: np.ndarray,
    x_desc: np.ndarray,
    x_pool: np.ndarray,
    n_classes: int,
    seed: int,
) -> tuple[float, float]:
    """``recipe``'s mean held-out accuracy and log-loss over ``splits``; the class
    descriptions (``x_desc``, one row per class) join every training fold."""
    y_desc = np.arange(n_classes)
    correct, losses = 0, []
    for train_idx, held_idx in splits:
        model = fit_recipe(
            recipe,
            np.vstack([x_train[train_idx], x_desc]),
            np.concatenate([y_train[train_idx], y_desc]),
            x_pool,
            n_classes,
            seed,
        )
        probs = predict_proba(model, x_train[held_idx], n_classes)
        truth = y_train[held_idx]
        correct += int((probs.argmax(axis=1) == truth).sum())
        losses.extend(-np.log(np.clip(probs[np.arange(len(truth)), truth], 1e-12, 1.0)))
    # Every row is held out once per repeat, so the splits hold len(y_train) x repeats rows.
    return correct / sum(len(held) for _, held in splits), float(np.mean(losses))


def choose_recipe(
    x_train: np.ndarray,
    y_train: np.ndarray,
    x_desc: np.ndarray,
    x_pool: np.ndarray,
    n_classes: int,
    *,
    seed: int = 0,
    candidates: Sequence[Recipe] = DEFAULT_CANDIDATES,
    fallback: Recipe = Recipe(30.0, self_training=True),
    max_folds: int = 5,
    max_work: float = DEFAULT_MAX_WORK,
    max_pool: int = 2000,
    known: RecipeChoice | None = None,
) -> RecipeChoice:
    """Cross-validate ``candidates`` on the labelled rows and return the best.

    ``x_desc`` (one row per class, in label order) joins every training fold; ``x_pool`` is the
    unlabelled texts' embeddings (subsampled to ``max_pool`` for the CV). Repeats shrink as rows
    grow (3 for a few dozen rows, 1 from 300), and self-training candidates are dropped, last
    first, once their estimated work passes ``max_work`` (see `self_training_work`). With
    fewer than 6 labelled rows there is nothing to validate on and ``fallback`` is used.
    ``known``: an earlier choice on the same labelled rows and seed, whose scores for candidates
    without self-training (which never see the pool) are reused instead of refitted.
    """
    started = time.perf_counter()
    if not len(x_pool):
        candidates = [r for r in candidates if not r.self_training]
        fallback = Recipe(fallback.c)
    n = len(y_train)
    if n < 6 or not candidates:
        return RecipeChoice(fallback, reason=f"fallback: only {n} labelled rows")
    folds = min(max_folds, n // 2)
    repeats = max(1, min(3, 300 // n))
    splits = list(_folds(y_train, folds, repeats, seed))
    if len(x_pool) > max_pool:
        pick = np.random.default_rng(seed).choice(len(x_pool), max_pool, replace=False)
        x_pool = x_pool[np.sort(pick)]
    accuracy: dict[str, float] = {}
    log_loss: dict[str, float] = {}
    skipped: list[str] = []
    work = 0.0
    with single_thread_blas():
        for recipe in candidates:
            if recipe.self_training:
                # Counted, not timed, so the same task always gets the same candidates however
                # busy the machine is.
                work += self_training_work(recipe, len(splits), n, len(x_pool), n_classes)
                if work > max_work:
                    skipped.append(recipe.name)
                    continue
            elif known is not None and recipe.name in known.cv_accuracy:
                accuracy[recipe.name] = known.cv_accuracy[recipe.name]
                log_loss[recipe.name] = known.cv_log_loss[recipe.name]
                continue
            accuracy[recipe.name], log_loss[recipe.name] = _cross_validate(
                recipe, splits, x_train, y_train, x_desc, x_pool, n_classes, seed
            )
    by_name = {r.name: r for r in candidates}
    best = max(accuracy, key=lambda name: (accuracy[name], -log_loss[name]))
    choice = RecipeChoice(
        by_name[best],
        accuracy,
        log_loss,
        folds=len(splits) // repeats,
        repeats=repeats,
        skipped=skipped,
        seconds=time.perf_counter() - started,
    )
    logger.info("%s", choice.summary())
    return choice
