"""The embedded teacher's head, saved beside the student so it can be used again without refitting.

The embedded teacher is a linear head (softmax over ``embedding @ weight.T + bias``) on a frozen
sentence encoder. Packaging writes the head (``teacher-head.npz``: a few kilobytes) next to the
student's weights; `TeacherHead.load` reads it back, and with the named encoder it scores texts as
the teacher did at training time. ``distil_sdk.suggest_examples`` uses it to find the texts where
the student and its teacher disagree.

Example::

    head = TeacherHead.load("runs/triage/model")        # None when the folder holds no head
    probs = head.predict_proba(head.embed(["my card was charged twice"]))
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..._fs import atomic_writer
from ._base import SupportsLinearHead

if TYPE_CHECKING:
    from .._jobs.encoders import Encoder

logger = logging.getLogger("distil_sdk")

__all__ = ["TEACHER_HEAD_FILE", "TeacherHead"]

#: The embedded teacher's linear head, in the model folder.
TEACHER_HEAD_FILE = "teacher-head.npz"


@dataclass
class TeacherHead:
    """A saved embedded teacher: its labels, linear head and the encoder it reads.

    ``encoder_name`` is ``None`` for the bundled all-MiniLM-L6-v2.
    """

    labels: list[str]
    weight: np.ndarray
    bias: np.ndarray
    encoder_name: str | None
    max_length: int
    _encoder: Encoder | None = None

    @classmethod
    def of(cls, teacher: Any) -> TeacherHead | None:
        """``teacher``'s head, or ``None`` for a teacher that is no linear head over a sentence
        encoder (the LLM teacher). Read while the teacher is open (the pipeline closes it)."""
        # encoder_name (None: the bundled encoder) says what the head reads; a teacher that
        # does not say cannot be used again.
        if not isinstance(teacher, SupportsLinearHead) or not hasattr(teacher, "encoder_name"):
            return None
        head = teacher.linear_head()
        labels = [str(x) for x in getattr(teacher, "labels", [])]
        if head is None or not labels:
            return None
        name = teacher.encoder_name or None
        if name and Path(name).expanduser().exists():  # the job's working folder is not ours
            name = str(Path(name).expanduser().resolve())
        return cls(
            labels=labels,
            weight=np.asarray(head[0], dtype=np.float32),
            bias=np.asarray(head[1], dtype=np.float32),
            encoder_name=name,
            max_length=int(getattr(teacher, "max_length", 256)),
        )

    def save(self, folder: str | Path) -> Path:
        """Write the head into ``folder`` as `TEACHER_HEAD_FILE`; returns its path."""
        path = Path(folder) / TEACHER_HEAD_FILE
        with atomic_writer(path) as fh:
            # Plain arrays only (strings as numpy unicode): the file loads without pickle.
            np.savez(
                fh,
                weight=self.weight,
                bias=self.bias,
                labels=np.asarray(self.labels, dtype=str),
                encoder=np.asarray(self.encoder_name or "", dtype=str),
                max_length=np.asarray(self.max_length),
            )
        return path

    @classmethod
    def load(cls, folder: str | Path) -> TeacherHead | None:
        """The head saved in ``folder``, or ``None`` when there is none (or it cannot be read:
        logged, since a missing teacher only leaves out the signals that need it)."""
        path = Path(folder) / TEACHER_HEAD_FILE
        if not path.is_file():
            return None
        try:
            with np.load(path, allow_pickle=False) as data:
                return cls(
                    labels=[str(x) for x in data["labels"]],
                    weight=np.asarray(data["weight"], dtype=np.float32),
                    bias=np.asarray(data["bias"], dtype=np.float32),
                    encoder_name=str(data["encoder"]) or None,
                    max_length=int(data["max_length"]),
                )
        except (OSError, ValueError, KeyError) as exc:
            logger.warning(
                "%s: cannot read the teacher's head (%s); going on without it", path, exc
            )
            return None

    @property
    def encoder(self) -> Encoder:
        """The sentence encoder the head reads, loaded on first use."""
        if self._encoder is None:
            from .._jobs.encoders import load_encoder

            self._encoder = load_encoder(self.encoder_name, max_length=self.max_length)
        return self._encoder

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Unit-norm sentence embeddings of ``texts``, as the teacher read them."""
        return self.encoder.embed(list(texts))

    def predict_proba(self, embeddings: np.ndarray) -> np.ndarray:
        """Class probabilities (columns in `labels` order) for embeddings from `embed`."""
        logits = np.asarray(embeddings, dtype=np.float64) @ self.weight.T.astype(np.float64)
        logits += self.bias.astype(np.float64)
        logits -= logits.max(axis=1, keepdims=True)
        probs = np.exp(logits)
        return np.asarray(probs / probs.sum(axis=1, keepdims=True))
