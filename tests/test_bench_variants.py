"""The task-variant builders of benchmarks/_variants.py, on a small fake task (no encoder)."""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

import _variants as variants

from distil_sdk.types.data import LabelledDataset, TaskBundle, UnlabelledDataset
from distil_sdk.types.task import JobDescription


def _task(tmp_path: Path, name: str, labels: list[str], rows: int = 6) -> TaskBundle:
    job = JobDescription(
        task_description=f"the {name} task",
        classes_description={lab: f"texts about {lab}" for lab in labels},
    )

    def data(split: str) -> LabelledDataset:
        texts = [f"{name} {split} {lab} text {i}." for lab in labels for i in range(rows)]
        return LabelledDataset.from_lists(texts, [lab for lab in labels for _ in range(rows)])

    bundle = TaskBundle(
        job,
        data("train"),
        data("test"),
        UnlabelledDataset.from_lists([f"{name} pool text {i}." for i in range(20)]),
    )
    variants.write_variant(bundle, tmp_path / name)
    return TaskBundle.from_dir(tmp_path / name)


def test_few_shot_keeps_k_rows_per_class_from_train_deterministically(tmp_path: Path) -> None:
    task = _task(tmp_path, "a", ["x", "y", "z"])
    shot = variants.few_shot(task, 4, seed=1)
    assert Counter(shot.train.labels) == {"x": 4, "y": 4, "z": 4}
    assert set(shot.train.texts) <= set(task.train.texts)
    assert shot.test == task.test and shot.unstructured == task.unstructured
    assert variants.few_shot(task, 4, seed=1).train == shot.train
    assert variants.few_shot(task, 4, seed=2).train != shot.train
    with pytest.raises(ValueError, match="at least 1"):
        variants.few_shot(task, 0, seed=1)


def test_merged_unions_classes_and_rows_and_subsamples_the_pool(tmp_path: Path) -> None:
    a = _task(tmp_path, "a", ["x", "y"])
    b = _task(tmp_path, "b", ["u", "v", "w"])
    both = variants.merged([a, b], seed=0, unlabelled=25)
    assert both.labels == ["x", "y", "u", "v", "w"]
    assert both.job_description.classes_description["u"] == "texts about u"
    assert len(both.train) == len(a.train) + len(b.train)
    assert list(both.test.texts) == list(a.test.texts) + list(b.test.texts)
    assert both.unstructured is not None and len(both.unstructured) == 25
    assert a.unstructured is not None and b.unstructured is not None
    assert set(both.unstructured.texts) <= set(a.unstructured.texts) | set(b.unstructured.texts)
    # The merged bundle is a valid task folder.
    folder = variants.write_variant(both, tmp_path / "merged")
    assert TaskBundle.from_dir(folder).labels == both.labels
    with pytest.raises(ValueError, match="more than one task"):
        variants.merged([a, a], seed=0)


def test_long_texts_join_rows_of_the_same_class_and_split(tmp_path: Path) -> None:
    task = _task(tmp_path, "a", ["x", "y"])
    long = variants.long_texts(task, seed=0, sep=" | ")
    assert list(long.train.labels) == list(task.train.labels)
    for text, label in zip(long.train.texts, long.train.labels, strict=True):
        first, second = text.split(" | ")
        assert first != second and f"train {label} " in second
    assert all(" test " in t.split(" | ")[1] for t in long.test.texts)
    assert long.unstructured is not None and task.unstructured is not None
    assert len(long.unstructured) == len(task.unstructured)
    assert all(a != b for a, b in (t.split(" | ") for t in long.unstructured.texts))


def test_intent_clusters_label_sentences_by_cluster(tmp_path: Path) -> None:
    # Three well-separated groups of sentences; a fake encoder maps each to its group's corner.
    groups = ["apple", "river", "violin"]
    texts = [f"the {g} sentence number {i} here. " for g in groups for i in range(30)]
    task = TaskBundle(
        JobDescription(task_description="t", classes_description={"x": "x", "y": "y"}),
        LabelledDataset.from_lists(texts, ["x", "y"] * (len(texts) // 2)),
        LabelledDataset.from_lists(["the apple one more time"], ["x"]),
    )

    def embed(sentences: object) -> np.ndarray:
        assert isinstance(sentences, list)
        rng = np.random.default_rng(0)
        return np.stack(
            [np.eye(3)[[g in s for g in groups].index(True)] for s in sentences]
        ) + rng.normal(0, 0.01, (len(sentences), 3))

    out = variants.intent_clusters(
        [task], embed, seed=0, classes=3, train_per_class=3, test_per_class=5, unlabelled=4
    )
    assert len(out.labels) == 3 and Counter(out.train.labels) == dict.fromkeys(out.labels, 3)
    assert Counter(out.test.labels) == dict.fromkeys(out.labels, 5)
    assert out.unstructured is not None and len(out.unstructured) == 4
    for label in out.labels:  # every class holds one group's sentences only
        rows = [t for t, lab in zip(out.train.texts, out.train.labels, strict=True) if lab == label]
        rows += [t for t, lab in zip(out.test.texts, out.test.labels, strict=True) if lab == label]
        assert len({g for t in rows for g in groups if g in t}) == 1
    with pytest.raises(ValueError, match="too few"):
        variants.intent_clusters([task], embed, seed=0, classes=50)
