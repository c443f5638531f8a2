"""Classification metrics in the platform's shape (scikit-learn's ``classification_report``).

Kept dependency-free (plain Python) so the core client can parse and compute them without numpy.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

__all__ = ["classification_report", "confusion_matrix", "macro_f1"]


def confusion_matrix(
    y_true: Sequence[str], y_pred: Sequence[str], labels: Sequence[str]
) -> list[list[int]]:
    """Rows are gold labels, columns predictions, both in ``labels`` order."""
    if len(y_true) != len(y_pred):
        raise ValueError(f"y_true has {len(y_true)} items but y_pred has {len(y_pred)}")
    index = {label: i for i, label in enumerate(labels)}
    matrix = [[0] * len(labels) for _ in labels]
    for gold, pred in zip(y_true, y_pred, strict=True):
        if gold in index and pred in index:
            matrix[index[gold]][index[pred]] += 1
    return matrix


def _safe_div(num: float, den: float) -> float:
    return num / den if den else 0.0


def classification_report(
    y_true: Sequence[str], y_pred: Sequence[str], labels: Sequence[str]
) -> dict[str, Any]:
    """``{"accuracy", <label>: {precision, recall, f1-score, support}, "macro avg", "weighted avg"}``.

    Predictions outside ``labels`` count as wrong (they lower recall, not any class's precision).
    """
    if len(y_true) != len(y_pred):
        raise ValueError(f"y_true has {len(y_true)} items but y_pred has {len(y_pred)}")
    report: dict[str, Any] = {}
    total = len(y_true)
    per_class: list[tuple[float, float, float, int]] = []
    for label in labels:
        tp = sum(1 for g, p in zip(y_true, y_pred, strict=True) if g == label and p == label)
        predicted = sum(1 for p in y_pred if p == label)
        support = sum(1 for g in y_true if g == label)
        precision = _safe_div(tp, predicted)
        recall = _safe_div(tp, support)
        f1 = _safe_div(2 * precision * recall, precision + recall)
        report[label] = {
            "precision": precision,
            "recall": recall,
            "f1-score": f1,
            "support": support,
        }
        per_class.append((precision, recall, f1, support))
    report["accuracy"] = _safe_div(
        sum(1 for g, p in zip(y_true, y_pred, strict=True) if g == p), total
    )
    n = len(per_class)
    report["macro avg"] = {
        "precision": _safe_div(sum(c[0] for c in per_class), n),
        "recall": _safe_div(sum(c[1] for c in per_class), n),
        "f1-score": _safe_div(sum(c[2] for c in per_class), n),
        "support": total,
    }
    report["weighted avg"] = {
        "precision": _safe_div(sum(c[0] * c[3] for c in per_class), total),
        "recall": _safe_div(sum(c[1] * c[3] for c in per_class), total),
        "f1-score": _safe_div(sum(c[2] * c[3] for c in per_class), total),
        "support": total,
    }
    return report


def macro_f1(report: dict[str, Any]) -> float:
    """The macro-averaged F1 of a report made by `classification_report`."""
    return float(report["macro avg"]["f1-score"])
