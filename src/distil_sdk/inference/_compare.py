"""``compare_models``: an old and a new model on the same labelled texts, and which to keep.

Both models predict every text; the table puts their accuracy, macro F1, expected calibration
error (ECE: the gap between confidence and accuracy, over 15 equal-width confidence bins) and
per-class F1 side by side. The decision: *replace* when the new model is more accurate (or as
accurate with a higher macro F1), else *keep*. The exact McNemar test over the texts exactly one
of the two gets right says whether the difference is more than noise: on a 96-text test set one
text is a point of accuracy, and a one- or two-text difference usually is noise.

Example::

    from distil_sdk import compare_models

    result = compare_models("runs/v1/model", "runs/v2/model", "my-task/test.csv")
    print(result.to_table())
    result.decision                       # "replace" or "keep"
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from ._report import EvaluationReport, labelled_inputs

__all__ = ["ModelComparison", "ModelScores", "compare_models", "expected_calibration_error"]

#: Below this McNemar p-value the difference between the two models is more than noise.
SIGNIFICANCE = 0.05


def expected_calibration_error(
    confidence: np.ndarray, correct: np.ndarray, bins: int = 15
) -> float:
    """The mean gap between top-label confidence and accuracy, weighted over ``bins``
    equal-width confidence bins (0: calibrated).

    Example:
        >>> expected_calibration_error(np.array([0.9, 0.9]), np.array([True, False]))
        0.4
    """
    confidence, correct = np.asarray(confidence, float), np.asarray(correct, float)
    if not len(confidence):
        return 0.0
    which = np.minimum((confidence * bins).astype(int), bins - 1)
    gap = 0.0
    for b in np.unique(which):
        members = which == b
        gap += members.sum() * abs(confidence[members].mean() - correct[members].mean())
    return round(float(gap / len(confidence)), 10)


@dataclass(frozen=True)
class ModelScores:
    """One model's figures on the comparison's texts."""

    name: str
    accuracy: float
    macro_f1: float
    ece: float
    report: EvaluationReport

    @property
    def f1_by_class(self) -> dict[str, float]:
        """F1 per gold label."""
        return {c.label: c.f1 for c in self.report.per_class}


@dataclass(frozen=True)
class ModelComparison:
    """The two models' scores on the same texts and whether to replace the old one.

    ``new_only`` / ``old_only``: texts only the new / only the old model gets right.
    ``p_value``: exact McNemar test on those counts (small: more than noise).
    """

    old: ModelScores
    new: ModelScores
    n_samples: int
    new_only: int
    old_only: int
    p_value: float
    decision: Literal["keep", "replace"]
    reason: str

    def to_table(self) -> str:
        """The side-by-side table and the decision, for terminals."""
        rows = [
            _row("accuracy", self.old.accuracy, self.new.accuracy),
            _row("macro F1", self.old.macro_f1, self.new.macro_f1),
            _row("ECE (lower is better)", self.old.ece, self.new.ece),
        ]
        new_f1 = self.new.f1_by_class
        rows += [_row(f"F1 {c}", f, new_f1.get(c, 0.0)) for c, f in self.old.f1_by_class.items()]
        table = _table(["metric", "old", "new", "change"], rows)
        return (
            f"old: {self.old.name}\nnew: {self.new.name}\n{self.n_samples} texts\n\n{table}\n\n"
            f"decision: {self.decision} - {self.reason}"
        )

    def to_dict(self) -> dict[str, Any]:
        """Plain data (``--json``)."""
        return {
            "decision": self.decision,
            "reason": self.reason,
            "n_samples": self.n_samples,
            "new_only": self.new_only,
            "old_only": self.old_only,
            "p_value": self.p_value,
            **{
                which: {
                    "model": s.name,
                    "accuracy": s.accuracy,
                    "macro_f1": s.macro_f1,
                    "ece": s.ece,
                    "f1_by_class": s.f1_by_class,
                }
                for which, s in (("old", self.old), ("new", self.new))
            },
        }

    def __str__(self) -> str:
        return self.to_table()


def compare_models(
    old: Any,
    new: Any,
    data: Any,
    labels: Any = None,
    *,
    text_column: str | None = None,
) -> ModelComparison:
    """Score ``old`` and ``new`` on the same labelled texts and say which to keep.

    Args:
        old: the model in use: a `LocalClassifier`, a path it loads from, or any object with
            ``labels`` and ``predict_proba(texts)``.
        new: the candidate, the same way.
        data: the labelled texts, in any form `LocalClassifier.evaluate` takes (a CSV/JSONL
            path, a DataFrame, a ``(texts, labels)`` pair...); use the same test set both
            models were scored on.
        labels: the gold labels, when ``data`` holds texts only.
        text_column: a DataFrame's text column, when not ``text`` or ``question``.

    Returns:
        `ModelComparison`: both models' scores, the decision and the reason.

    Raises:
        ValueError: no texts, or the two models do not have the same labels.

    Example:
        >>> result = compare_models("v1/model", "v2/model", "test.csv")   # doctest: +SKIP
        >>> print(result.to_table())                                     # doctest: +SKIP
    """
    from ._suggest import _as_model

    texts, gold = labelled_inputs(data, labels, text_column=text_column)
    if not texts:
        raise ValueError("no labelled texts to compare the models on")
    models = [_as_model(m) for m in (old, new)]
    own = [[str(x) for x in m.labels] for m in models]
    if set(own[0]) != set(own[1]):
        raise ValueError(
            f"the models have different labels (old: {', '.join(own[0])}; new: "
            f"{', '.join(own[1])}); compare models of the same task"
        )
    classes = own[0] + sorted({g for g in gold if g not in own[0]})
    scored = [
        _score(_name(source), m, texts, gold, classes)
        for source, m in zip((old, new), models, strict=True)
    ]
    (old_scores, old_right), (new_scores, new_right) = scored
    new_only = int(np.sum(new_right & ~old_right))
    old_only = int(np.sum(old_right & ~new_right))
    p_value = _mcnemar(new_only, old_only)
    decision, reason = _decide(old_scores, new_scores, new_only, old_only, p_value)
    return ModelComparison(
        old_scores, new_scores, len(texts), new_only, old_only, p_value, decision, reason
    )


def _name(source: Any) -> str:
    if isinstance(source, (str, os.PathLike)):
        return os.fspath(source)
    path = getattr(source, "model_path", None)
    return str(path) if path is not None else type(source).__name__


def _score(
    name: str, model: Any, texts: list[str], gold: list[str], classes: list[str]
) -> tuple[ModelScores, np.ndarray]:
    """One model's `ModelScores` and which texts it gets right."""
    probs = np.asarray(model.predict_proba(texts), dtype=np.float64)
    labels = [str(x) for x in model.labels]
    predicted = [labels[i] for i in probs.argmax(axis=1)]
    right = np.array([p == g for p, g in zip(predicted, gold, strict=True)])
    report = EvaluationReport.from_predictions(gold, predicted, classes)
    ece = expected_calibration_error(probs.max(axis=1), right)
    scores = ModelScores(name, report.accuracy, report.macro_avg.f1, ece, report)
    return scores, right


def _mcnemar(b: int, c: int) -> float:
    """Two-sided exact McNemar p-value for ``b`` and ``c`` discordant texts."""
    n = b + c
    if n == 0:
        return 1.0
    tail = sum(math.comb(n, i) for i in range(min(b, c) + 1)) / 2.0**n
    return round(min(1.0, 2.0 * tail), 4)


def _decide(
    old: ModelScores, new: ModelScores, new_only: int, old_only: int, p_value: float
) -> tuple[Literal["keep", "replace"], str]:
    better = new.accuracy > old.accuracy or (
        new.accuracy == old.accuracy and new.macro_f1 > old.macro_f1
    )
    what = (
        f"the new model gets {new_only} text(s) right that the old one gets wrong, and "
        f"{old_only} wrong that it gets right (accuracy {new.accuracy - old.accuracy:+.3f})"
    )
    noise = (
        f"; more than noise (McNemar p={p_value:.3g})"
        if p_value < SIGNIFICANCE
        else f"; within noise (McNemar p={p_value:.3g}): more test rows would tell them apart"
    )
    return ("replace" if better else "keep"), what + noise


def _row(metric: str, old: float, new: float) -> list[str]:
    return [metric, f"{old:.3f}", f"{new:.3f}", f"{new - old:+.3f}"]


def _table(headers: list[str], rows: list[list[str]]) -> str:
    cells = [headers, *rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    lines = ("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in cells)
    return "\n".join(line.rstrip() for line in lines)
