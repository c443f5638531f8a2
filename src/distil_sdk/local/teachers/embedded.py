"""The embedded (offline) teacher: logistic regression on frozen sentence embeddings.

Measured on the shared datasets (see docs/benchmarks in the report of issue 4): plain logistic
regression on mean-pooled MiniLM vectors is a strong few-shot baseline; two additions pay off:

* each class description is added as one more training example of its class, so a class with
  few (or no) gold rows is still anchored where the job description says it is;
* self-training on the unlabelled texts (`EmbeddedTeacher.adapt`): confident
  pseudo-labels are added and the model refitted, a few rounds, each pseudo-label weighted so
  the pseudo-labelled rows follow the gold rows' class distribution (`prior_weights`).

Which of these a task gets is chosen per task (`._recipes`): repeated k-fold
cross-validation over the task's own labelled rows among plain logistic regression at five
strengths and self-training variants, best CV accuracy wins. A fixed recipe (C=30, prior-weighted
self-training), chosen on the three shared tasks, had lifted them but cost a 7-class
short-narrative task 4-5 points against plain logistic regression: defaults tuned on a few tasks
do not carry to the next one, the task's own rows are the better judge.

Where a contrastive tuning of the encoder on the gold rows is cheap (few rows, short texts), the
tuned encoder is a candidate too (`._contrastive`): cross-validated against the frozen one, the
tuning repeated inside every fold, and kept only when it is strictly more accurate. The student
then starts from the tuned encoder (`EmbeddedTeacher.student_start`).
"""

from __future__ import annotations

import hashlib
import json
import logging
import random
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..._fs import atomic_writer, write_text_atomic
from ._base import normalise_rows
from ._contrastive import (
    ITERATIONS,
    MAX_TOKENS,
    MIN_ROWS,
    FoldModel,
    TunedEvidence,
    TuningDecision,
    cross_validate_tuning,
    fold_reference,
    save_encoder,
    tune,
    tuning_tokens,
)
from ._recipe_cache import RecipeLineage, row_hashes
from ._recipes import (
    DEFAULT_MAX_WORK,
    Recipe,
    RecipeChoice,
    choose_recipe,
    fit_recipe,
    single_thread_blas,
)

if TYPE_CHECKING:
    from ...types.data import LabelledDataset
    from ...types.task import JobDescription, TaskConfig
    from .._jobs.encoders import Encoder

logger = logging.getLogger("distil_sdk")

__all__ = ["EmbeddedTeacher", "description_text", "linear_head"]


def linear_head(model: Any, n_classes: int) -> tuple[np.ndarray, np.ndarray] | None:
    """A fitted sklearn ``LogisticRegression`` as softmax weights over ``n_classes`` columns.

    A binary model keeps one row, ``w``; softmax over ``(-w/2, +w/2)`` is the same sigmoid.
    """
    coef = getattr(model, "coef_", None)
    intercept = getattr(model, "intercept_", None)
    classes = getattr(model, "classes_", None)
    if coef is None or intercept is None or classes is None:
        return None
    coef = np.asarray(coef, dtype=np.float64)
    intercept = np.asarray(intercept, dtype=np.float64)
    classes = np.asarray(classes, dtype=np.int64)
    if len(classes) == 2 and coef.shape[0] == 1:
        coef = np.vstack([-coef[0] / 2, coef[0] / 2])
        intercept = np.array([-intercept[0] / 2, intercept[0] / 2])
    if coef.shape[0] != len(classes):
        return None
    weight = np.zeros((n_classes, coef.shape[1]))
    bias = np.full(n_classes, float(intercept.min()) - 30.0)  # unseen classes: never predicted
    weight[classes] = coef
    bias[classes] = intercept
    return weight, bias


def description_text(label: str, description: str) -> str:
    """The text embedded for a class description (the label's words help short descriptions)."""
    return f"{label.replace('_', ' ')}: {description}".strip()


class EmbeddedTeacher:
    """Few-shot classifier over a local sentence encoder (default: bundled all-MiniLM-L6-v2).

    Example::

        teacher = EmbeddedTeacher()
        teacher.fit(job, train, config)
        teacher.adapt(unlabelled.texts)          # optional self-training
        probs = teacher.predict_proba(["my card was charged twice"])
    """

    def __init__(
        self,
        encoder_name: str | None = None,
        *,
        c: float | None = None,
        self_training_rounds: int = 3,
        confidence_threshold: float = 0.7,
        balance_pseudo_labels: bool = True,
        max_length: int = 256,
        cv_max_work: float | None = None,
        encoder: Encoder | None = None,
        disk_cache: Path | None = None,
        contrastive: bool | None = None,
    ) -> None:
        self.encoder_name = encoder_name
        #: The contrastively tuned encoder as a candidate (`._contrastive`): ``None`` (default)
        #: where one tuning costs at most ``MAX_TOKENS`` word pieces, ``True`` whatever it
        #: costs, ``False`` never. Only with ``c=None``: a fixed recipe keeps the encoder frozen.
        self.contrastive = contrastive
        #: The tuned-or-frozen decision (``None``: not considered), set by `fit`.
        self.tuning: TuningDecision | None = None
        self._fold_models: list[FoldModel] = []
        self._tuned_dir: tempfile.TemporaryDirectory[str] | None = None
        self._tuning_lineage = RecipeLineage(None, "", ())
        self._tuning_key = ""
        #: ``c=None`` (default): the recipe is chosen per task by cross-validation (see
        #: `._recipes`). A number fixes the recipe: that ``C``, self-training with the
        #: settings below when `adapt` gets texts.
        self.c = c
        self.self_training_rounds = self_training_rounds
        self.confidence_threshold = confidence_threshold
        self.balance_pseudo_labels = balance_pseudo_labels
        self.cv_max_work = cv_max_work
        #: How the recipe was chosen (``None`` until `fit`); logged and saved with the model.
        self.recipe_choice: RecipeChoice | None = None
        # The plain candidates' CV scores from fit(), exact (a cached choice is rounded).
        self._plain_choice: RecipeChoice | None = None
        self.max_length = max_length
        self.labels: list[str] = []
        self._encoder = encoder
        self._identity_key: str | None = None
        self._cache: dict[str, np.ndarray] = {}
        #: Content-keyed embeddings on disk (one ``.npy`` per text, keyed by encoder, truncation
        #: and text), shared by the teacher-evaluation and training jobs so neither re-encodes
        #: the texts the other already did.
        self.disk_cache = Path(disk_cache) if disk_cache is not None else None
        self._x_train: np.ndarray | None = None
        self._y_train: np.ndarray | None = None
        self._x_desc: np.ndarray | None = None
        self._model: Any = None
        self._seed = 0
        self._choice_key = ""
        self._lineage = RecipeLineage(None, "", ())

    def describe(self) -> str:
        """The teacher as the model card names it: the encoder and, once fitted, the recipe."""
        encoder = self.encoder_name or "all-MiniLM-L6-v2 (bundled)"
        recipe = f", recipe {self.recipe_choice.recipe.name}" if self.recipe_choice else ""
        return f"the embedded teacher (logistic regression over `{encoder}` embeddings{recipe})"

    def config_keys(self, config: TaskConfig) -> frozenset[str]:
        """The ``config.yaml`` keys this teacher reads: its encoder and the CV's seed."""
        return frozenset({"base.teacher_model_name", "base.random_seed"})

    # -- embedding -----------------------------------------------------------------------------
    @property
    def encoder(self) -> Encoder:
        """The sentence encoder, loaded on first use."""
        if self._encoder is None:
            from .._jobs.encoders import load_encoder

            self._encoder = load_encoder(self.encoder_name, max_length=self.max_length)
        return self._encoder

    def _identity(self) -> str:
        """What every embedding of this teacher depends on: the encoder's path and files
        (`encoder_identity`: an encoder replaced in place is another encoder) and the
        truncation. Computed once per teacher."""
        if self._identity_key is None:
            from .._jobs.encoders import encoder_identity, resolve_encoder_path

            if self._encoder is not None:
                name, length = self._encoder.name, self._encoder.max_length
            else:
                name, length = resolve_encoder_path(self.encoder_name), self.max_length
            self._identity_key = f"{name}\0{encoder_identity(name)}\0{length}"
        return self._identity_key

    def _disk_key(self, text: str) -> str:
        return hashlib.sha256(f"{self._identity()}\0{text}".encode()).hexdigest()

    def _disk_path(self, text: str) -> Path:
        assert self.disk_cache is not None
        key = self._disk_key(text)
        return self.disk_cache / key[:2] / f"{key}.npy"

    def _load_from_disk(self, texts: Sequence[str]) -> None:
        if self.disk_cache is None:
            return
        for text in texts:
            path = self._disk_path(text)
            try:
                self._cache[text] = np.load(path)
            except (OSError, ValueError):
                continue

    def _save_to_disk(self, texts: Sequence[str]) -> None:
        if self.disk_cache is None:
            return
        for text in texts:
            path = self._disk_path(text)
            try:
                # atomic: a concurrent reader never sees half a file; a cache needs no fsync
                with atomic_writer(path, durable=False) as fh:
                    np.save(fh, self._cache[text])
            except OSError as exc:  # a full or read-only disk only costs speed
                logger.debug("embedding cache write failed: %s", exc)
                return

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Unit-norm embeddings of ``texts``; each distinct text is encoded once per teacher
        (and, with ``disk_cache``, once per encoder and truncation across jobs)."""
        missing = list(dict.fromkeys(t for t in texts if t not in self._cache))
        if missing:
            self._load_from_disk(missing)
            missing = [t for t in missing if t not in self._cache]
        if missing:
            for text, vector in zip(missing, self.encoder.embed(missing), strict=True):
                self._cache[text] = vector
            self._save_to_disk(missing)
        if not texts:
            return np.zeros((0, int(self.encoder.model.config.hidden_size)), dtype=np.float32)
        return np.stack([self._cache[t] for t in texts])

    # -- Teacher protocol ----------------------------------------------------------------------
    def fit(self, job: JobDescription, train: LabelledDataset, config: TaskConfig) -> None:
        """Fit on the gold rows plus one example per class description.

        With ``c=None`` the strength is chosen by cross-validation over ``train``;
        `adapt` then reconsiders, self-training variants included.
        """
        self.labels = list(job.labels)
        self._seed = int(getattr(getattr(config, "base", None), "random_seed", 0) or 0)
        index = {label: i for i, label in enumerate(self.labels)}
        descriptions = [description_text(lab, job.classes[lab]) for lab in self.labels]
        # What the recipe choice depends on, so the training job can reuse the choice the
        # teacher-evaluation job made for the same task (see _cached_choice).
        self._choice_key = hashlib.sha256(
            json.dumps(
                [
                    self._disk_key(""),
                    self._seed,
                    list(train.texts),
                    list(train.labels),
                    descriptions,
                ]
            ).encode()
        ).hexdigest()
        # The same task with fewer rows: a retrain reuses its recipe choice (_recipe_cache).
        task = json.dumps([self._disk_key(""), self._seed, descriptions, self.cv_max_work])
        self._lineage = RecipeLineage(
            None if self.disk_cache is None else self.disk_cache / "recipes",
            hashlib.sha256(task.encode()).hexdigest()[:32],
            row_hashes(train.texts, train.labels),
        )
        self._x_train = self.embed(list(train.texts))
        self._y_train = np.asarray([index[label] for label in train.labels], dtype=np.int64)
        self._x_desc = self.embed(descriptions)
        self._consider_tuning(list(train.texts), descriptions)
        self._plain_choice = None
        self._refit(np.zeros((0, self._x_desc.shape[1]), dtype=np.float32), [])

    def adapt(self, texts: Sequence[str]) -> None:
        """Self-training on the unlabelled ``texts`` when the (chosen) recipe calls for it."""
        if self._model is None or self._x_desc is None:
            raise RuntimeError("EmbeddedTeacher.adapt() called before fit()")
        if not texts:
            return
        self._measure_fold_bias(texts)
        if self.recipe_choice is not None and self.recipe_choice.recipe.tuned_encoder:
            return  # a plain recipe on the tuned encoder: the pool changes nothing
        self._refit(self.embed(list(texts)), texts)

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        """``(len(texts), len(labels))`` probabilities, columns in ``labels`` order."""
        if self._model is None:
            raise RuntimeError("EmbeddedTeacher.predict_proba() called before fit()")
        return self._proba(self.embed(list(texts)))

    def linear_head(self) -> tuple[np.ndarray, np.ndarray] | None:
        """The fitted logistic regression as ``(weight (k, dim), bias (k,))`` in label order.

        Softmax of ``embed(texts) @ weight.T + bias`` equals `predict_proba` wherever every
        class had training rows (a class the model never saw gets a bias far below the rest).
        """
        if self._model is None:
            raise RuntimeError("EmbeddedTeacher.linear_head() called before fit()")
        return linear_head(self._model, len(self.labels))

    def tuned_evidence(self) -> TunedEvidence | None:
        """The tuned encoder's out-of-fold evidence for calibration (its folds' held-out
        probabilities, and their probabilities on unlabelled texts once `adapt` has seen some);
        ``None`` when the encoder is not tuned. The frozen teacher's evidence is refitted by
        the calibration itself, from cached embeddings."""
        return self.tuning.evidence if self.tuning is not None and self.tuning.tuned else None

    def student_start(self, student_name: str | None) -> str | None:
        """The encoder a student named ``student_name`` starts from: the tuned encoder's folder
        when the teacher tuned that same encoder (a copy of the teacher then starts where the
        teacher is), else ``student_name`` unchanged."""
        from .._jobs.encoders import resolve_encoder_path

        tuned = self.tuned_encoder_path
        if tuned is None:
            return student_name
        same = resolve_encoder_path(student_name) == resolve_encoder_path(self.encoder_name)
        return str(tuned) if same else student_name

    @property
    def tuned_encoder_path(self) -> Path | None:
        """The folder of the contrastively tuned encoder in use; ``None`` when it is frozen."""
        if self.tuning is None or not self.tuning.tuned or self._encoder is None:
            return None
        return Path(self._encoder.name)

    # -- internals -----------------------------------------------------------------------------
    def _refit(self, x_pool: np.ndarray, pool_texts: Sequence[str]) -> None:
        assert self._x_train is not None and self._y_train is not None
        assert self._x_desc is not None
        n_classes = len(self.labels)
        if self.tuning is not None and self.tuning.tuned:
            self.recipe_choice = self._tuned_choice(self.tuning)
        elif self.c is None:
            key = hashlib.sha256(
                json.dumps([self._choice_key, self.cv_max_work, list(pool_texts)]).encode()
            ).hexdigest()
            cached = self._cached_choice(key)
            if cached is None:
                cached = self._lineage.earlier(pooled=len(x_pool) > 0)
                if cached is not None:  # the training job then finds it under its own key
                    self._cache_choice(key, cached)
            self.recipe_choice = cached or choose_recipe(
                self._x_train,
                self._y_train,
                self._x_desc,
                x_pool,
                n_classes,
                seed=self._seed,
                max_work=DEFAULT_MAX_WORK if self.cv_max_work is None else self.cv_max_work,
                known=self._plain_choice,
            )
            if cached is None:
                self._cache_choice(key, self.recipe_choice)
                self._lineage.record(key, self.recipe_choice, pooled=len(x_pool) > 0)
                if not len(x_pool):  # fit()'s scores, reused by adapt() for the same rows
                    self._plain_choice = self.recipe_choice
        else:
            fixed = Recipe(
                self.c,
                self_training=self.self_training_rounds > 0 and len(x_pool) > 0,
                balance=self.balance_pseudo_labels,
                rounds=self.self_training_rounds,
                threshold=self.confidence_threshold,
            )
            self.recipe_choice = RecipeChoice(fixed, reason="fixed by the caller")
        x_gold = np.vstack([self._x_train, self._x_desc])
        y_gold = np.concatenate([self._y_train, np.arange(n_classes)])

        def on_round(round_: int, kept: int) -> None:
            logger.info("teacher self-training round %d: %d pseudo-labels", round_, kept)

        with single_thread_blas():
            self._model = fit_recipe(
                self.recipe_choice.recipe,
                x_gold,
                y_gold,
                x_pool,
                n_classes,
                self._seed,
                on_round=on_round,
            )

    # -- the contrastively tuned encoder --------------------------------------------------------
    def _consider_tuning(self, texts: list[str], descriptions: list[str]) -> None:
        """Decide between the frozen and the tuned encoder (`._contrastive`), reusing a
        decision made on the same rows, or on most of them (a retrain), by an earlier fit;
        with the tuned one, switch to it and re-embed the gold rows and descriptions.

        A retrain keeps the earlier fit's tuned encoder, as it keeps its recipe: its added rows
        shape the head and the student, and the texts it embedded stay in the cache."""
        assert self._y_train is not None and self._x_train is not None
        self.tuning, self._fold_models = None, []
        counts = np.bincount(self._y_train)
        if self.contrastive is False or self.c is not None or len(self._y_train) < MIN_ROWS:
            return
        if counts[counts > 0].min() < 2:  # a class with one row cannot be held out and tuned on
            return
        labels = self._y_train.tolist()
        tokens = tuning_tokens(self.encoder.tokenizer, texts, labels)
        if self.contrastive is None and tokens > MAX_TOKENS:
            logger.info(
                "contrastive tuning not considered: %d word pieces per tuning (at most %d)",
                tokens,
                MAX_TOKENS,
            )
            return
        folder = None if self.disk_cache is None else self.disk_cache / "contrastive"
        rows = sorted(self._lineage.rows)
        self._tuning_key = hashlib.sha256(json.dumps(rows).encode()).hexdigest()
        self._tuning_lineage = RecipeLineage(folder, self._lineage.task, rows)
        found = self._tuning_lineage.earlier_json(pooled=False, parse=TuningDecision.from_json)
        key = self._encoder_key(texts, labels)
        if found is not None:
            self.tuning = found[1]
            logger.info(
                "%s (decided by an earlier fit on %d of these rows)",
                self.tuning.summary(),
                found[0],
            )
        else:
            assert self._x_desc is not None
            self.tuning, self._fold_models = cross_validate_tuning(
                self.encoder, texts, self._y_train, self._x_train, descriptions, self._x_desc,
                len(self.labels), seed=self._seed, tokens=tokens,
            )  # fmt: skip
            self.tuning.encoder_key = key if self.tuning.tuned else ""
            self._tuning_lineage.record_json(self._tuning_key, self.tuning.to_json(), pooled=False)
        if not self.tuning.tuned:
            return
        self._encoder = self._tuned_encoder(self.tuning.encoder_key or key, key, texts, labels)
        self._identity_key, self._cache = None, {}  # embeddings of the tuned encoder from here
        self._x_train = self.embed(texts)
        self._x_desc = self.embed(descriptions)

    def _encoder_key(self, texts: list[str], labels: list[int]) -> str:
        """The cache key of the encoder tuned on these rows (the frozen encoder, the seed and
        the tuning's settings)."""
        data = [self._disk_key(""), self._seed, ITERATIONS, texts, labels]
        return hashlib.sha256(json.dumps(data).encode()).hexdigest()[:32]

    def _tuned_encoder(
        self, key: str, own_key: str, texts: list[str], labels: list[int]
    ) -> Encoder:
        """The tuned encoder kept under ``key`` in the cache; when it is not there, the encoder
        tuned on these rows (``own_key``), tuned and saved now (in a temporary folder without a
        cache), so that its files give it its own identity."""
        from .._jobs.encoders import load_encoder

        if self.disk_cache is not None:
            base = self.disk_cache / "contrastive" / "encoders"
        else:
            self._tuned_dir = tempfile.TemporaryDirectory(prefix="distil-tuned-encoder-")
            base = Path(self._tuned_dir.name)
        for candidate in dict.fromkeys((key, own_key)):
            folder = base / candidate
            if (folder / "config.json").is_file():
                try:
                    return load_encoder(str(folder), max_length=self.encoder.max_length)
                except RuntimeError as exc:  # damaged: tuned again below
                    logger.debug("tuned encoder cache unreadable: %s", exc)
        tuned = tune(self.encoder, texts, labels, seed=self._seed)
        save_encoder(tuned, base / own_key)
        tuned.name = str(base / own_key)
        return tuned

    def _tuned_choice(self, tuning: TuningDecision) -> RecipeChoice:
        scores = {**tuning.cv_frozen, **{f"{k}+tuned": v for k, v in tuning.cv_tuned.items()}}
        return RecipeChoice(
            Recipe(tuning.c, tuned_encoder=True),
            scores,
            {},  # the folds' accuracies only: log-loss breaks no tie between encoders
            folds=tuning.folds,
            repeats=1,
            seconds=tuning.seconds,
            reason="cross-validation against a contrastively tuned encoder",
        )

    def _measure_fold_bias(self, texts: Sequence[str]) -> None:
        """Score a seeded sample of the unlabelled ``texts`` with the tuned folds (kept from
        `fit`'s cross-validation), for the calibration's fold bias, then let the folds go."""
        evidence = self.tuned_evidence()
        if evidence is None or not self._fold_models or evidence.ref_texts:
            self._fold_models = []
            return
        from .._jobs.calibration import BIAS_TEXTS

        pool = list(dict.fromkeys(texts))
        ref = random.Random(self._seed).sample(pool, min(BIAS_TEXTS, len(pool)))
        if len(ref) >= 2:
            evidence.fold_ref = fold_reference(self._fold_models, ref, len(self.labels))
            evidence.ref_texts = ref
            assert self.tuning is not None
            self._tuning_lineage.record_json(self._tuning_key, self.tuning.to_json(), pooled=False)
        self._fold_models = []

    def _choice_path(self, key: str) -> Path | None:
        return None if self.disk_cache is None else self.disk_cache / "recipes" / f"{key}.json"

    def _cached_choice(self, key: str) -> RecipeChoice | None:
        path = self._choice_path(key)
        if path is None:
            return None
        try:
            choice = RecipeChoice.from_json(json.loads(path.read_text("utf-8")))
        except (OSError, ValueError, KeyError, TypeError):
            return None
        logger.info("%s (cross-validated earlier for the same task)", choice.summary())
        return choice

    def _cache_choice(self, key: str, choice: RecipeChoice) -> None:
        path = self._choice_path(key)
        if path is None:
            return
        try:
            write_text_atomic(path, json.dumps(choice.to_json()), durable=False)
        except OSError as exc:  # only costs the next job a cross-validation
            logger.debug("recipe cache write failed: %s", exc)

    def _proba(self, x: np.ndarray) -> np.ndarray:
        out = np.zeros((len(x), len(self.labels)), dtype=np.float64)
        if len(x):
            # sklearn orders columns by the classes it saw; map them back to label order.
            out[:, self._model.classes_] = self._model.predict_proba(x)
        return normalise_rows(out)
