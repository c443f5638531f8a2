"""``EvaluationReport``: what ``LocalClassifier.evaluate`` returns, and the labelled inputs it reads.

Kept free of torch: the model card written at training time and the ``evaluate`` command build
the same report from gold and predicted labels. pandas and matplotlib are imported only by the
methods that need them.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, field_serializer, field_validator

from .._errors import DistilError
from .._metrics import classification_report, confusion_matrix
from ..types._words import plural
from ._calibration import (
    ECE_BINS,
    CoveragePoint,
    ReliabilityBin,
    ThresholdChoice,
    coverage_points,
    ece_of_bins,
    precision_threshold,
    reliability_of,
)

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "ClassScores",
    "EvaluationReport",
    "MissingDependencyError",
    "labelled_inputs",
    "plot_reliability",
]

# The DataFrame columns evaluate() understands, first match wins: the SDK's own names
# (``text``/``label``) and the platform's (``question``/``answer``).
TEXT_COLUMNS = ("text", "question")
LABEL_COLUMNS = ("label", "answer")


class MissingDependencyError(DistilError, ImportError):
    """An optional dependency is not installed; the message names the ``pip install`` to run."""


#: The packages of ``distil-sdk[local]`` that loading a model needs.
LOCAL_EXTRA = ("numpy", "torch", "transformers", "safetensors", "tokenizers", "sklearn")


def local_extra_missing(exc: ModuleNotFoundError) -> MissingDependencyError | None:
    """The error to raise instead of ``exc`` when the module missing is one of the local
    extra's (the plain install, ``pip install distil-sdk``, has none of them)."""
    if (exc.name or "").split(".")[0] not in LOCAL_EXTRA:
        return None
    return MissingDependencyError(
        f"LocalClassifier needs the local extra ({exc.name} is not installed): "
        "pip install 'distil-sdk[local]'"
    )


class ClassScores(BaseModel):
    """Precision, recall, F1 and support of one class (or of an average over classes)."""

    model_config = ConfigDict(frozen=True)

    label: str
    precision: float
    recall: float
    f1: float
    support: int


class EvaluationReport(BaseModel):
    """Accuracy, per-class scores and the confusion matrix of a labelled evaluation.

    ``confusion_matrix[i][j]`` counts texts of gold label ``labels[i]`` predicted as
    ``labels[j]``. Gold labels the model does not know are listed in ``unknown_labels`` and
    always count as wrong.

    When the top probability of each text is known (`LocalClassifier.evaluate`), the report
    also says how well those probabilities are calibrated: ``ece`` (expected calibration
    error over 10 equal-width bins of the top probability), ``mean_confidence``,
    ``reliability`` (the non-empty bins, for `plot_reliability`) and ``coverage`` (accuracy
    when only the most confident share of texts is answered). ``calibrated`` says whether
    the probabilities went through the model's ``calibration.json``, and ``threshold`` is the
    lowest ``min_confidence`` reaching the ``target_precision`` asked of ``evaluate``. All are
    ``None`` / empty for a report built from labels alone.

    Example:
        >>> report = clf.evaluate("test.csv")                        # doctest: +SKIP
        >>> report.accuracy, report.macro_avg.f1                     # doctest: +SKIP
        (0.93, 0.91)
        >>> report.to_pandas().loc["refund", "recall"]               # doctest: +SKIP
        0.88
        >>> report.plot()                                            # doctest: +SKIP
    """

    model_config = ConfigDict(frozen=True)

    labels: list[str]
    accuracy: float
    per_class: list[ClassScores]
    macro_avg: ClassScores
    weighted_avg: ClassScores
    confusion_matrix: list[list[int]]
    n_samples: int
    unknown_labels: list[str] = []
    ece: float | None = None
    mean_confidence: float | None = None
    reliability: list[ReliabilityBin] = []
    coverage: list[CoveragePoint] = []
    calibrated: bool | None = None
    threshold: ThresholdChoice | None = None

    @field_serializer("threshold", when_used="json")
    def _threshold_json(self, choice: ThresholdChoice | None) -> dict[str, Any] | None:
        # JSON has no infinity: an unreached target's threshold is written as null.
        if choice is None:
            return None
        return {
            "threshold": choice.threshold if choice.reached else None,
            "coverage": choice.coverage,
            "precision": choice.precision,
            "rows": choice.rows,
            "target": choice.target,
        }

    @field_validator("threshold", mode="before")
    @classmethod
    def _threshold_from_json(cls, value: Any) -> Any:
        if isinstance(value, dict) and value.get("threshold") is None:
            return {**value, "threshold": math.inf}
        return value

    @classmethod
    def from_predictions(
        cls,
        gold: Sequence[str],
        predicted: Sequence[str],
        labels: Sequence[str],
        *,
        confidences: Sequence[float] | None = None,
        calibrated: bool | None = None,
        target_precision: float | None = None,
    ) -> EvaluationReport:
        """Build the report from gold and predicted labels (both in the same order), and,
        with ``confidences`` (each prediction's probability), the calibration figures and,
        with ``target_precision`` too, the lowest threshold that reaches it.

        Example:
            >>> r = EvaluationReport.from_predictions(["a", "b"], ["a", "a"], ["a", "b"])
            >>> r.accuracy, r.confusion_matrix
            (0.5, [[1, 0], [1, 0]])
        """
        gold, predicted, names = [str(g) for g in gold], [str(p) for p in predicted], list(labels)
        raw = classification_report(gold, predicted, names)

        def scores(label: str, row: dict[str, Any]) -> ClassScores:
            return ClassScores(
                label=label,
                precision=float(row["precision"]),
                recall=float(row["recall"]),
                f1=float(row["f1-score"]),
                support=int(row["support"]),
            )

        calibration: dict[str, Any] = {}
        if confidences is not None:
            if len(confidences) != len(gold):
                raise ValueError(f"{len(gold)} gold labels but {len(confidences)} confidences")
            correct = [g == p for g, p in zip(gold, predicted, strict=True)]
            bins = reliability_of(confidences, correct)
            calibration = {
                "ece": ece_of_bins(bins),
                "mean_confidence": float(sum(confidences) / len(gold)) if gold else None,
                "reliability": bins,
                "coverage": coverage_points(confidences, correct),
                "calibrated": calibrated,
            }
            if target_precision is not None and gold:
                calibration["threshold"] = precision_threshold(
                    confidences, correct, target_precision
                )
        return cls(
            labels=names,
            accuracy=float(raw["accuracy"]),
            per_class=[scores(label, raw[label]) for label in names],
            macro_avg=scores("macro avg", raw["macro avg"]),
            weighted_avg=scores("weighted avg", raw["weighted avg"]),
            confusion_matrix=confusion_matrix(gold, predicted, names),
            n_samples=len(gold),
            unknown_labels=sorted(set(gold) - set(names)),
            **calibration,
        )

    def to_dict(self) -> dict[str, Any]:
        """The platform's metrics shape (scikit-learn's ``classification_report`` dict) plus
        ``"confusion_matrix": {"labels": [...], "matrix": [[...]]}``."""
        out: dict[str, Any] = {}
        for row in [*self.per_class, self.macro_avg, self.weighted_avg]:
            out[row.label] = {
                "precision": row.precision,
                "recall": row.recall,
                "f1-score": row.f1,
                "support": row.support,
            }
        out["accuracy"] = self.accuracy
        out["confusion_matrix"] = {"labels": self.labels, "matrix": self.confusion_matrix}
        return out

    def to_pandas(self) -> pd.DataFrame:
        """Per-class rows (then ``macro avg`` and ``weighted avg``), indexed by label, with
        columns ``precision``, ``recall``, ``f1``, ``support`` (needs pandas)."""
        pd = _require("pandas", "pandas", "to_pandas()")
        rows = [*self.per_class, self.macro_avg, self.weighted_avg]
        frame = pd.DataFrame(
            [r.model_dump(exclude={"label"}) for r in rows], index=[r.label for r in rows]
        )
        frame.index.name = "label"
        return frame

    def confusion_matrix_frame(self) -> pd.DataFrame:
        """The confusion matrix as a DataFrame: rows gold labels, columns predicted labels."""
        pd = _require("pandas", "pandas", "confusion_matrix_frame()")
        frame = pd.DataFrame(self.confusion_matrix, index=self.labels, columns=self.labels)
        frame.index.name, frame.columns.name = "gold", "predicted"
        return frame

    def to_table(self) -> str:
        """Plain-text tables: per-class scores, then the confusion matrix (for terminals)."""
        rows = [
            [r.label, f"{r.precision:.3f}", f"{r.recall:.3f}", f"{r.f1:.3f}", r.support]
            for r in [*self.per_class, self.macro_avg, self.weighted_avg]
        ]
        scores = _table(["label", "precision", "recall", "f1", "support"], rows)
        matrix = _table(
            ["gold \\ predicted", *self.labels],
            [
                [label, *counts]
                for label, counts in zip(self.labels, self.confusion_matrix, strict=True)
            ],
        )
        lines = [
            f"accuracy: {self.accuracy:.3f} on {plural(self.n_samples, 'text')}",
            "",
            scores,
            "",
        ]
        lines += ["confusion matrix (rows: gold, columns: predicted)", matrix]
        if self.unknown_labels:
            lines += ["", f"gold labels unknown to the model: {', '.join(self.unknown_labels)}"]
        return "\n".join(lines + self._calibration_lines())

    def _calibration_lines(self) -> list[str]:
        """ECE and accuracy against coverage, when the report has the probabilities."""
        if self.ece is None or self.mean_confidence is None:
            return []
        which = {True: "calibrated", False: "raw", None: "model"}[self.calibrated]
        rows = [
            [f"{p.coverage:.0%}", p.answered, f"{p.threshold:.3f}", f"{p.accuracy:.3f}"]
            for p in self.coverage
        ]
        return [
            "",
            f"calibration ({which} probabilities): ECE {self.ece:.3f} over {ECE_BINS} "
            f"equal-width bins; mean confidence {self.mean_confidence:.3f}, "
            f"accuracy {self.accuracy:.3f}",
            "",
            "accuracy against coverage (only the most confident texts answered)",
            _table(["coverage", "answered", "min confidence", "accuracy"], rows),
            *self._threshold_lines(),
        ]

    def _threshold_lines(self) -> list[str]:
        choice = self.threshold
        if choice is None:
            return []
        if not choice.reached:
            return ["", f"no min confidence reaches precision {choice.target:g} on these texts"]
        return [
            "",
            f"precision {choice.target:g}: min confidence {choice.threshold:.4f} answers "
            f"{choice.coverage:.1%} of the texts at precision {choice.precision:.3f}",
        ]

    def __str__(self) -> str:
        return self.to_table()

    def plot(
        self,
        ax: Any = None,
        *,
        normalize: bool = False,
        path: str | os.PathLike[str] | None = None,
        title: str | None = None,
    ) -> Any:
        """Draw the confusion matrix with matplotlib; returns the ``Axes``.

        Args:
            ax: the matplotlib ``Axes`` to draw on (default: a new figure).
            normalize: show each gold row as shares of its texts instead of counts.
            path: also save the figure there (``.png``, ``.svg``, ``.pdf``, ...).
            title: the figure's title (default: the accuracy).

        Raises:
            MissingDependencyError: matplotlib is not installed
                (``pip install 'distil-sdk[plot]'``).
        """
        return plot_confusion_matrix(
            self.confusion_matrix,
            self.labels,
            ax=ax,
            normalize=normalize,
            path=path,
            title=title or f"accuracy {self.accuracy:.3f} on {plural(self.n_samples, 'text')}",
        )

    def plot_reliability(
        self,
        ax: Any = None,
        *,
        path: str | os.PathLike[str] | None = None,
        title: str | None = None,
    ) -> Any:
        """Draw the reliability diagram (accuracy per confidence bin against the diagonal);
        returns the ``Axes``.

        Args:
            ax: the matplotlib ``Axes`` to draw on (default: a new figure).
            path: also save the figure there (``.png``, ``.svg``, ``.pdf``, ...).
            title: the figure's title (default: the ECE).

        Raises:
            ValueError: the report has no probabilities (built from labels alone).
            MissingDependencyError: matplotlib is not installed
                (``pip install 'distil-sdk[plot]'``).
        """
        if self.ece is None:
            raise ValueError(
                "this report has no probabilities to draw; LocalClassifier.evaluate() makes "
                "reports that have them"
            )
        return plot_reliability(
            self.reliability,
            ax=ax,
            path=path,
            title=title or f"ECE {self.ece:.3f} on {plural(self.n_samples, 'text')}",
        )


def plot_reliability(
    bins: Sequence[ReliabilityBin],
    *,
    ax: Any = None,
    path: str | os.PathLike[str] | None = None,
    title: str | None = None,
) -> Any:
    """Draw a reliability diagram: each bin's accuracy (bars) against the diagonal of
    perfect calibration, with its mean confidence marked and its text count written."""
    _require("matplotlib", "distil-sdk[plot]", "plotting")
    if ax is None:
        import matplotlib.pyplot as plt

        _, ax = plt.subplots(figsize=(5.0, 5.0))
    width = 1.0 / ECE_BINS
    ax.plot([0.0, 1.0], [0.0, 1.0], linestyle="--", color="grey", label="perfect calibration")
    ax.bar(
        [b.lower for b in bins],
        [b.accuracy for b in bins],
        width=width,
        align="edge",
        edgecolor="black",
        color="tab:blue",
        alpha=0.8,
        label="accuracy",
    )
    ax.scatter(
        [b.confidence for b in bins],
        [b.confidence for b in bins],
        color="tab:red",
        zorder=3,
        label="mean confidence",
    )
    for b in bins:  # the bin's text count at its foot, clear of the diagonal's dots
        ax.text(b.lower + width / 2, 0.015, str(b.count), ha="center", fontsize=8)
    ax.set_xlim(0.0, 1.0)
    ax.set_ylim(0.0, 1.0)
    ax.set_xlabel("confidence (top probability)")
    ax.set_ylabel("accuracy")
    ax.legend(loc="upper left", fontsize=8)
    if title:
        ax.set_title(title)
    ax.figure.tight_layout()
    if path is not None:
        ax.figure.savefig(Path(path), dpi=120)
    return ax


def plot_confusion_matrix(
    matrix: Sequence[Sequence[int]],
    labels: Sequence[str],
    *,
    ax: Any = None,
    normalize: bool = False,
    path: str | os.PathLike[str] | None = None,
    title: str | None = None,
) -> Any:
    """Draw ``matrix`` (rows gold, columns predicted) as a labelled heat map; returns the Axes."""
    _require("matplotlib", "distil-sdk[plot]", "plotting")
    values = [[float(c) for c in row] for row in matrix]
    if normalize:
        values = [[c / (sum(row) or 1.0) for c in row] for row in values]
    size = max(4.0, 0.6 * len(labels) + 2.0)
    if ax is None:
        # pyplot only when we make the figure (it shows in notebooks); without a display
        # matplotlib falls back to its Agg backend itself, so a server can still save PNGs.
        import matplotlib.pyplot as plt

        _, ax = plt.subplots(figsize=(size + 1.0, size))
    image = ax.imshow(values, cmap="Blues", vmin=0.0)
    ax.figure.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
    ticks = list(range(len(labels)))
    ax.set_xticks(ticks, labels=list(labels), rotation=45, ha="right")
    ax.set_yticks(ticks, labels=list(labels))
    ax.set_xlabel("predicted")
    ax.set_ylabel("gold")
    if title:
        ax.set_title(title)
    top = max((c for row in values for c in row), default=0.0)
    for i, row in enumerate(values):
        for j, cell in enumerate(row):
            text = f"{cell:.2f}" if normalize else str(int(cell))
            colour = "white" if top and cell > top / 2 else "black"
            ax.text(j, i, text, ha="center", va="center", color=colour, fontsize=9)
    ax.figure.tight_layout()
    if path is not None:
        ax.figure.savefig(Path(path), dpi=120)
    return ax


def _table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    cells = [[str(h) for h in headers]] + [[str(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    return "\n".join(
        "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in cells
    )


def _require(module: str, install: str, what: str) -> Any:
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise MissingDependencyError(
            f"{what} needs {module.split('.')[0]}, which is not installed: pip install '{install}'"
        ) from exc


def labelled_inputs(
    data: Any, labels: Any = None, *, text_column: str | None = None
) -> tuple[list[str], list[str]]:
    """``(texts, gold)`` from what ``evaluate`` accepts.

    ``data`` may be a pandas DataFrame (``text`` or ``question`` column, ``label`` or
    ``answer`` column), a CSV/JSONL file path (the platform's ``question``/``answer``
    columns; ``text``/``label`` also work when pandas is installed), a Parquet path (needs
    pandas), a ``LabelledDataset``, a ``(texts, labels)`` pair, or texts with ``labels=``
    given separately. ``text_column`` names a DataFrame's text column.
    """
    if text_column is not None and not (hasattr(data, "columns") and hasattr(data, "iloc")):
        raise TypeError(
            f"text_column={text_column!r} names a DataFrame column, but data is a "
            f"{type(data).__name__}; pass a DataFrame, or leave text_column out"
        )
    if labels is not None:
        if text_column is not None:
            _frame_column(data, text_column)
            data = data[text_column]
        return _pair(data, labels)
    if isinstance(data, (str, os.PathLike)):
        return _from_file(Path(data))
    if hasattr(data, "columns") and hasattr(data, "iloc"):  # a pandas DataFrame
        return _from_frame(data, "the DataFrame", text_column)
    if hasattr(data, "texts") and hasattr(data, "labels"):
        return list(data.texts), [str(x) for x in data.labels]
    if isinstance(data, tuple) and len(data) == 2:
        return _pair(data[0], data[1])
    raise TypeError(
        "evaluate() takes a DataFrame (text/label columns), a labelled CSV/JSONL/Parquet path, a "
        f"LabelledDataset, a (texts, labels) pair, or texts with labels=...; got {type(data).__name__}"
    )


def _pair(texts: Any, gold: Any) -> tuple[list[str], list[str]]:
    if isinstance(texts, str):
        raise TypeError("evaluate() takes a sequence of texts, not one string")
    texts, gold_list = list(texts), [str(x) for x in gold]
    if len(texts) != len(gold_list):
        raise ValueError(f"{len(texts)} texts but {len(gold_list)} labels")
    return texts, gold_list


def _from_frame(
    frame: Any, where: str, text_column: str | None = None
) -> tuple[list[str], list[str]]:
    columns = [str(c) for c in frame.columns]
    if text_column is not None:
        _frame_column(frame, text_column, where)
    text = text_column or next((c for c in TEXT_COLUMNS if c in columns), None)
    label = next((c for c in LABEL_COLUMNS if c in columns), None)
    if text is None or label is None:
        raise ValueError(
            f"{where} needs a text column ({' or '.join(TEXT_COLUMNS)}) and a label column "
            f"({' or '.join(LABEL_COLUMNS)}); it has: {', '.join(columns) or 'no columns'}"
        )
    return list(frame[text]), [str(x) for x in frame[label]]


def _frame_column(frame: Any, name: str, where: str = "the DataFrame") -> None:
    columns = [str(c) for c in frame.columns]
    if name not in columns:
        raise ValueError(f"{where} has no text column {name!r}; it has: {', '.join(columns)}")


def _from_file(path: Path) -> tuple[list[str], list[str]]:
    from .._errors import DataValidationError
    from ..types.data import LabelledDataset

    if path.suffix.lower() == ".parquet":
        pd = _require("pandas", "pandas pyarrow", f"reading {path}")
        try:
            frame = pd.read_parquet(path)
        except (OSError, ValueError, ImportError) as exc:
            raise DistilError(f"{path}: cannot read the Parquet file ({exc})") from exc
        return _from_frame(frame, str(path))
    try:
        dataset = LabelledDataset.from_file(path)
    except DataValidationError:
        # The platform's format failed; a file with the SDK's text/label columns still works.
        frame = _try_frame(path)
        if frame is None:
            raise
        return _from_frame(frame, str(path))
    return list(dataset.texts), [str(x) for x in dataset.labels]


def _try_frame(path: Path) -> Any:
    try:
        import pandas as pd
    except ImportError:
        return None
    try:
        if path.suffix.lower() == ".csv":
            frame = pd.read_csv(path, dtype=str, keep_default_na=False)
        else:
            frame = pd.read_json(path, lines=True, dtype=False)
    except (OSError, ValueError):
        return None
    columns = {str(c) for c in frame.columns}
    if columns.isdisjoint(TEXT_COLUMNS) or columns.isdisjoint(LABEL_COLUMNS):
        return None
    return frame
