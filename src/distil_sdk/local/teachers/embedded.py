"""The embedded (offline) teacher: logistic regression on frozen sentence embeddings.

Measured on the shared datasets (see docs/benchmarks in the report of issue 4): plain logistic
regression on mean-pooled MiniLM vectors is a strong few-shot baseline; two additions pay off:

* each class description is added as one more training example of its class, so a class with
  few (or no) gold rows is still anchored where the job description says it is;
* self-training on the unlabelled texts (:meth:`EmbeddedTeacher.adapt`): confident
  pseudo-labels are added and the model refitted, a few rounds, each pseudo-label weighted so
  the pseudo-labelled rows follow the gold rows' class distribution (:func:`prior_weights`).

Defaults chosen on 12 random stratified 48-row splits of each shared dataset's train+test rows
(``C``, threshold, rounds, weighting; mean test accuracy of the teacher): plain self-training
(C=10, 0.7, 2 rounds) 0.877 banking / 0.933 ecommerce / 0.798 mental-health; prior-weighted with
C=30, 0.7, 3 rounds 0.908 / 0.942 / 0.844. Unweighted, mental-health's skewed pool (half of it
"normal") pulled the teacher toward its majority classes.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ._base import normalise_rows, prior_weights

if TYPE_CHECKING:
    from ...types.data import LabelledDataset
    from ...types.task import JobDescription, TaskConfig
    from .._encoders import Encoder

logger = logging.getLogger("distil_sdk")

__all__ = ["EmbeddedTeacher", "description_text"]


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
        c: float = 30.0,
        self_training_rounds: int = 3,
        confidence_threshold: float = 0.7,
        pseudo_label_weight: float = 1.0,
        balance_pseudo_labels: bool = True,
        max_length: int = 256,
        encoder: Encoder | None = None,
        disk_cache: Path | None = None,
    ) -> None:
        self.encoder_name = encoder_name
        self.c = c
        self.self_training_rounds = self_training_rounds
        self.confidence_threshold = confidence_threshold
        self.pseudo_label_weight = pseudo_label_weight
        self.balance_pseudo_labels = balance_pseudo_labels
        self.max_length = max_length
        self.labels: list[str] = []
        self._encoder = encoder
        self._cache: dict[str, np.ndarray] = {}
        #: Content-keyed embeddings on disk (one ``.npy`` per text, keyed by encoder, truncation
        #: and text), shared by the teacher-evaluation and training jobs so neither re-encodes
        #: the texts the other already did.
        self.disk_cache = Path(disk_cache) if disk_cache is not None else None
        self._x_gold: np.ndarray | None = None
        self._y_gold: np.ndarray | None = None
        self._model: Any = None
        self._seed = 0

    # -- embedding -----------------------------------------------------------------------------
    @property
    def encoder(self) -> Encoder:
        """The sentence encoder, loaded on first use."""
        if self._encoder is None:
            from .._encoders import load_encoder

            self._encoder = load_encoder(self.encoder_name, max_length=self.max_length)
        return self._encoder

    def _disk_key(self, text: str) -> str:
        if self._encoder is not None:
            name, length = self._encoder.name, self._encoder.max_length
        else:
            from .._encoders import resolve_encoder_path

            name, length = resolve_encoder_path(self.encoder_name), self.max_length
        return hashlib.sha256(f"{name}\0{length}\0{text}".encode()).hexdigest()

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
                path.parent.mkdir(parents=True, exist_ok=True)
                fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
                with os.fdopen(fd, "wb") as fh:
                    np.save(fh, self._cache[text])
                os.replace(tmp, path)  # atomic: a concurrent reader never sees half a file
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
        """Fit on the gold rows plus one example per class description."""
        self.labels = list(job.labels)
        self._seed = int(getattr(getattr(config, "base", None), "random_seed", 0) or 0)
        index = {label: i for i, label in enumerate(self.labels)}
        texts = list(train.texts)
        y = [index[label] for label in train.labels]
        descriptions = [description_text(lab, job.classes_description[lab]) for lab in self.labels]
        self._x_gold = np.vstack([self.embed(texts), self.embed(descriptions)])
        self._y_gold = np.asarray(y + list(range(len(self.labels))), dtype=np.int64)
        self._model = self._fit_lr(self._x_gold, self._y_gold, None)

    def adapt(self, texts: Sequence[str]) -> None:
        """Self-training: add confident pseudo-labelled ``texts`` and refit, a few rounds."""
        if self._model is None or self._x_gold is None or self._y_gold is None:
            raise RuntimeError("EmbeddedTeacher.adapt() called before fit()")
        if not texts or self.self_training_rounds <= 0:
            return
        x_u = self.embed(list(texts))
        prior = np.bincount(self._y_gold, minlength=len(self.labels))
        for round_ in range(self.self_training_rounds):
            probs = self._proba(x_u)
            keep = probs.max(axis=1) >= self.confidence_threshold
            pseudo = probs.argmax(axis=1)[keep]
            x = np.vstack([self._x_gold, x_u[keep]])
            y = np.concatenate([self._y_gold, pseudo])
            pseudo_weights = np.full(len(pseudo), self.pseudo_label_weight)
            if self.balance_pseudo_labels:
                pseudo_weights *= prior_weights(pseudo, prior)
            weights = np.concatenate([np.ones(len(self._y_gold)), pseudo_weights])
            self._model = self._fit_lr(x, y, weights)
            logger.info("teacher self-training round %d: %d pseudo-labels", round_ + 1, keep.sum())

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        """``(len(texts), len(labels))`` probabilities, columns in ``labels`` order."""
        if self._model is None:
            raise RuntimeError("EmbeddedTeacher.predict_proba() called before fit()")
        return self._proba(self.embed(list(texts)))

    # -- internals -----------------------------------------------------------------------------
    def _fit_lr(self, x: np.ndarray, y: np.ndarray, weights: np.ndarray | None) -> Any:
        from sklearn.linear_model import LogisticRegression

        model = LogisticRegression(C=self.c, max_iter=2000, random_state=self._seed)
        model.fit(x, y, sample_weight=weights)
        return model

    def _proba(self, x: np.ndarray) -> np.ndarray:
        out = np.zeros((len(x), len(self.labels)), dtype=np.float64)
        if len(x):
            # sklearn orders columns by the classes it saw; map them back to label order.
            out[:, self._model.classes_] = self._model.predict_proba(x)
        return normalise_rows(out)
