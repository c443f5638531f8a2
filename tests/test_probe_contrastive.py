"""The pairs of benchmarks/probe_contrastive.py: SetFit's sampling, checked on a small label set."""

from __future__ import annotations

import random
import sys
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

from probe_contrastive import pairs


def test_every_row_gets_one_positive_and_one_negative_per_iteration() -> None:
    labels = [0, 0, 0, 1, 1, 2]  # class 2 has one row: no positive pair for it
    out = pairs(labels, 4, random.Random(0))
    assert len(out) == 4 * (len(labels) + 5)
    for a, b, target in out:
        assert a != b
        assert (labels[a] == labels[b]) == (target == 1.0)
    positives = Counter(a for a, _, t in out if t == 1.0)
    negatives = Counter(a for a, _, t in out if t == 0.0)
    assert positives == {i: 4 for i in range(5)}
    assert negatives == {i: 4 for i in range(6)}


def test_the_pairs_are_seeded_and_shuffled() -> None:
    labels = [0, 1] * 6
    first = pairs(labels, 2, random.Random(3))
    assert first == pairs(labels, 2, random.Random(3))
    assert first != pairs(labels, 2, random.Random(4))
    assert [t for _, _, t in first] != sorted(t for _, _, t in first)  # not grouped by target
