"""How texts are grouped into forward passes (`distil_sdk.inference._runtime.length_batches`)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from distil_sdk import LocalClassifier
from distil_sdk.inference._runtime import length_batches


def lengths_of(lengths: list[int], batch_cost: int | None, batch_size: int = 32) -> list[list[int]]:
    return [[lengths[i] for i in b] for b in length_batches(lengths, batch_size, 2048, batch_cost)]


def test_long_texts_among_short_ones_run_apart_when_padding_costs_more_than_a_pass() -> None:
    lengths = [8, 240, 8, 180, 120, 8, 60, 8]
    assert lengths_of(lengths, None) == [[240, 180, 120, 60, 8, 8, 8, 8]]
    # 3 passes + 1040 padded tokens beat one pass of 1920 (and 5 passes of 632 tokens).
    assert lengths_of(lengths, 96) == [[240, 180], [120, 60], [8, 8, 8, 8]]
    assert lengths_of(lengths, 24) == [[240], [180], [120], [60], [8, 8, 8, 8]]
    # A pass that costs more than the padding keeps them together.
    assert lengths_of(lengths, 10_000) == [[240, 180, 120, 60, 8, 8, 8, 8]]


def test_near_equal_lengths_stay_in_full_batches_and_every_index_comes_once() -> None:
    rng = np.random.default_rng(0)
    lengths = [int(x) for x in rng.integers(20, 23, size=100)]
    batches = list(length_batches(lengths, 32, 2048, 96))
    assert [len(b) for b in batches] == [32, 32, 32, 4]
    mixed = [int(x) for x in rng.integers(5, 300, size=200)]
    seen = np.concatenate(list(length_batches(mixed, 32, 2048, 96)))
    assert sorted(seen.tolist()) == list(range(200))
    assert [mixed[i] for i in seen] == sorted(mixed, reverse=True)  # longest first, still


def test_split_batches_give_the_same_probabilities(tiny_bert_classifier: Path) -> None:
    clf = LocalClassifier.from_pretrained(tiny_bert_classifier)
    texts = ["short one", "a " * 120 + "long one", "hi", "the " * 60 + "middle", "ok then"]
    predictor = clf._predictor  # the split is a CPU default; compare it with none
    split = clf.predict_proba(texts)
    predictor.batch_cost = None
    whole = clf.predict_proba(texts)
    assert np.allclose(split, whole, atol=1e-5)
