"""``bench_confidence.ece_floor``: the ECE of a perfectly calibrated model on as many rows."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

from bench_confidence import ece_floor

from distil_sdk.inference import expected_calibration_error


def _probs(n: int, seed: int = 1) -> np.ndarray:
    logits = np.random.default_rng(seed).normal(size=(n, 7)) * 2
    p = np.exp(logits)
    return p / p.sum(axis=1, keepdims=True)


def test_the_floor_falls_with_the_rows_and_matches_labels_drawn_from_the_probabilities() -> None:
    small, large = ece_floor(_probs(112), draws=50), ece_floor(_probs(5000), draws=20)
    assert small > 0.05 > large > 0.0  # 112 rows: over a 0.05 target by sampling alone
    # One draw by hand: labels drawn from each row's probabilities.
    p = _probs(5000, seed=2)
    rng = np.random.default_rng(3)
    drawn = np.array([rng.choice(7, p=row) for row in p])
    assert abs(expected_calibration_error(p, drawn) - ece_floor(p, draws=20)) < 0.02


def test_a_certain_model_has_no_floor() -> None:
    one_hot = np.eye(4)[np.arange(100) % 4]
    assert ece_floor(one_hot, draws=5) == 0.0
