"""The typed result of ``suggest_examples``: `SuggestedExample` per text, `Suggestions` for the
ranked set (with ``write_csv``), and `SupportsPredictProba`, what it reads a model through."""

from __future__ import annotations

import csv
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

__all__ = ["SuggestedExample", "Suggestions", "SupportsPredictProba"]


@runtime_checkable
class SupportsPredictProba(Protocol):
    """A classifier `suggest_examples` can read: ``labels`` and ``predict_proba(texts)`` with
    columns in ``labels`` order (a `LocalClassifier`, the embedded teacher, ...)."""

    @property
    def labels(self) -> Sequence[str]:
        """The class labels, in column order."""
        ...

    def predict_proba(self, texts: list[str]) -> Any:
        """``(len(texts), len(labels))`` probabilities."""
        ...


@dataclass(frozen=True)
class SuggestedExample:
    """One text to label, with why it was chosen.

    ``score`` is the mean of the signals used (each in ``[0, 1]``; higher: more worth
    labelling); ``teacher_uncertainty`` and ``disagreement`` are ``None`` without a teacher.
    ``group_size``: candidates in the cluster this text stands for.
    """

    text: str
    rank: int
    score: float
    uncertainty: float
    predicted: str
    confidence: float
    teacher_label: str | None = None
    teacher_uncertainty: float | None = None
    disagreement: float | None = None
    group_size: int = 1
    reasons: tuple[str, ...] = ()


@dataclass(frozen=True)
class Suggestions:
    """The ranked texts `suggest_examples` chose (best first), and what it considered.

    ``signals``: the scores used (``student_uncertainty``, ``teacher_uncertainty``,
    ``disagreement``) and the diversity source (``embeddings:...``). ``candidates``: distinct
    texts left after removing empty, duplicate and excluded ones (counted in ``skipped``).
    """

    examples: list[SuggestedExample]
    signals: tuple[str, ...]
    candidates: int
    skipped: dict[str, int] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.examples)

    def __iter__(self) -> Iterator[SuggestedExample]:
        return iter(self.examples)

    def __getitem__(self, index: int) -> SuggestedExample:
        return self.examples[index]

    @property
    def texts(self) -> list[str]:
        """The chosen texts, best first."""
        return [e.text for e in self.examples]

    def write_csv(
        self,
        path: str | os.PathLike[str],
        *,
        text_column: str = "question",
        label_column: str = "answer",
    ) -> Path:
        """Write a CSV ready to label: the text, an empty label column, then rank, score, the
        student's (and teacher's) label and the reasons. Fill the label column, then add the
        two columns' rows to the task's ``train.csv``."""
        out = Path(path)
        out.parent.mkdir(parents=True, exist_ok=True)
        header = [text_column, label_column, "rank", "score", "predicted", "teacher", "reasons"]
        with out.open("w", newline="", encoding="utf-8") as fh:
            writer = csv.writer(fh)
            writer.writerow(header)
            for e in self.examples:
                reasons = "; ".join(e.reasons)
                teacher = e.teacher_label or ""
                writer.writerow(
                    [e.text, "", e.rank, f"{e.score:.4f}", e.predicted, teacher, reasons]
                )
        return out
