"""`pipeline.split_gold`: the stratified split of the labelled rows into training and held-out."""

from __future__ import annotations

from collections import Counter

import pytest

from distil_sdk.local.pipeline import split_gold


def _labels(sizes: dict[str, int]) -> list[str]:
    # Interleaved, so a split that ignored the classes would not look stratified by chance.
    rows = [label for label, n in sizes.items() for _ in range(n)]
    return sorted(rows, key=lambda label: (rows.index(label) % 3, label))


@pytest.mark.parametrize("fraction", [0.5, 0.6, 0.99])
def test_a_class_with_one_row_keeps_it_for_training(fraction: float) -> None:
    labels = ["rare", *["common"] * 4]
    train, held_out = split_gold([f"t{i}" for i in range(len(labels))], labels, fraction, 0)
    assert [labels[i] for i in train].count("rare") == 1
    assert "rare" not in [labels[i] for i in held_out]


def test_a_large_fraction_still_leaves_every_class_a_training_row() -> None:
    labels = _labels({"a": 2, "b": 3, "c": 1, "d": 7})
    train, held_out = split_gold(labels, labels, 0.99, 3)
    assert Counter(labels[i] for i in train) == {"a": 1, "b": 1, "c": 1, "d": 1}
    assert Counter(labels[i] for i in held_out) == {"a": 1, "b": 2, "d": 6}


@pytest.mark.parametrize("seed", range(12))
@pytest.mark.parametrize("fraction", [0.05, 0.2, 0.35, 0.5, 0.75, 0.95])
def test_every_split_is_a_stratified_partition(seed: int, fraction: float) -> None:
    sizes = {"one": 1, "two": 2, "three": 3, "five": 5, "eight": 8, "thirteen": 13}
    labels = _labels(sizes)
    texts = [f"text {i}" for i in range(len(labels))]
    train, held_out = split_gold(texts, labels, fraction, seed)
    assert train == sorted(train) and held_out == sorted(held_out)
    assert not set(train) & set(held_out)
    assert sorted(train + held_out) == list(range(len(labels)))
    kept = Counter(labels[i] for i in held_out)
    for label, n in sizes.items():
        # round(n x fraction) rows held out, but never the class's last row.
        assert kept[label] == min(round(n * fraction), n - 1), label
    assert set(Counter(labels[i] for i in train)) == set(sizes)
    assert split_gold(texts, labels, fraction, seed) == (train, held_out)  # seeded


def test_the_seed_picks_which_rows_are_held_out() -> None:
    labels = _labels({"a": 10, "b": 10})
    picks = {tuple(split_gold(labels, labels, 0.3, seed)[1]) for seed in range(8)}
    assert len(picks) > 1
