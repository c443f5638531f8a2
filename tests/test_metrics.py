"""classification_report(): exact values, checked by hand and against scikit-learn's definition."""

from __future__ import annotations

import pytest

from distil_sdk._metrics import classification_report, confusion_matrix, macro_f1


def test_exact_values_of_a_small_report() -> None:
    y_true = ["a", "a", "a", "b", "b", "c"]
    y_pred = ["a", "a", "b", "b", "c", "zzz"]  # "zzz" is outside the labels: simply wrong
    report = classification_report(y_true, y_pred, ["a", "b", "c"])
    # a: tp=2, predicted 2, support 3 -> p=1, r=2/3, f1 = 2*1*(2/3)/(1+2/3) = 0.8
    assert report["a"] == pytest.approx(
        {"precision": 1.0, "recall": 2 / 3, "f1-score": 0.8, "support": 3}
    )
    # b: tp=1, predicted 2, support 2 -> p=0.5, r=0.5, f1=0.5 (the harmonic mean, factor 2)
    assert report["b"] == pytest.approx(
        {"precision": 0.5, "recall": 0.5, "f1-score": 0.5, "support": 2}
    )
    # c: predicted once (wrongly), never right -> all zero, no division error
    assert report["c"] == {"precision": 0.0, "recall": 0.0, "f1-score": 0.0, "support": 1}
    assert report["accuracy"] == pytest.approx(3 / 6)
    assert report["macro avg"]["f1-score"] == pytest.approx((0.8 + 0.5 + 0.0) / 3)
    assert report["weighted avg"]["f1-score"] == pytest.approx((0.8 * 3 + 0.5 * 2) / 6)
    assert report["macro avg"]["support"] == report["weighted avg"]["support"] == 6
    assert macro_f1(report) == pytest.approx(1.3 / 3)


@pytest.mark.parametrize("precision_hits", [1, 2, 3])
def test_f1_is_the_harmonic_mean(precision_hits: int) -> None:
    # one class, recall fixed at 1/2, precision varying: f1 == 2pr/(p+r) every time
    y_true = ["x", "x", "x", "x", "y", "y", "y", "y"]
    y_pred = ["x", "x", "y", "y"] + ["x"] * precision_hits + ["y"] * (4 - precision_hits)
    row = classification_report(y_true, y_pred, ["x", "y"])["x"]
    p, r = 2 / (2 + precision_hits), 0.5
    assert row["precision"] == pytest.approx(p) and row["recall"] == pytest.approx(r)
    assert row["f1-score"] == pytest.approx(2 * p * r / (p + r))


def test_confusion_matrix_and_length_mismatch() -> None:
    assert confusion_matrix(["a", "b", "b"], ["a", "a", "b"], ["a", "b"]) == [[1, 0], [1, 1]]
    with pytest.raises(ValueError, match="3 items but y_pred has 2"):
        classification_report(["a", "b", "b"], ["a", "b"], ["a", "b"])
