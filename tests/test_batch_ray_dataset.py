"""``distil_sdk.batch.predict_dataset`` on a local Ray instance (2 CPUs) of this module's own.

Also: a ``LocalClassifier`` pickles as its path and options (what Ray ships to actors).
`test_batch_ray_file.py` has ``predict_file`` and ``distil-sdk predict --engine ray``; the two
run side by side under ``pytest -n 2 --dist loadfile``.
"""

from __future__ import annotations

import csv
import json
import pickle
import tarfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")

from _ray_batch_support import TEXTS, by_id
from conftest import TINY_LABELS
from distil_sdk._errors import ModelLoadError
from distil_sdk.batch import BatchInputError
from distil_sdk.inference import LocalClassifier

pytest_plugins = ["_ray_batch_support"]
pytestmark = pytest.mark.slow  # starts Ray: collected first (conftest)


def test_classifier_pickles_as_its_path_and_reloads(tiny_bert_classifier: Path) -> None:
    original = LocalClassifier.from_pretrained(tiny_bert_classifier, batch_size=4, max_length=16)
    copy = pickle.loads(pickle.dumps(original))
    assert copy is not original and copy.model_path == original.model_path
    assert copy.batch_size == 4 and copy.labels == original.labels
    assert "max_length=16" in repr(copy)
    texts = ["a fee on my card", "a shirt"]
    np.testing.assert_array_equal(copy.predict_proba(texts), original.predict_proba(texts))
    assert len(pickle.dumps(original)) < 2000  # a path and options, never weights


def test_classifier_not_from_pretrained_refuses_to_pickle(clf: LocalClassifier) -> None:
    bare = LocalClassifier(clf._predictor, clf._files, clf.device, clf.dtype)
    with pytest.raises(TypeError, match="from_pretrained"):
        pickle.dumps(bare)


def test_parquet_folder_every_row_once_with_exact_probabilities_spread_over_the_pool(
    ray_local: Any, parquet_input: Path, tiny_bert_classifier: Path, clf: LocalClassifier
) -> None:
    from distil_sdk.batch import predict_dataset

    ds = predict_dataset(
        parquet_input,
        tiny_bert_classifier,
        batch_size=16,
        # Two actors on half a CPU each: the other CPU stays free for Ray's read tasks.
        concurrency=2,
        num_cpus=0.5,
        probabilities=True,
        top_k=2,
    )
    done = ds.materialize()
    # Ray's reader packs the three small files into one block, and an actor call takes whole
    # blocks: unsplit, one actor would have predicted every row while the other idled. Split,
    # each actor call (one output block) holds at most batch_size rows, and there are many.
    sizes = [len(batch["id"]) for batch in done.iter_batches(batch_size=None)]
    assert sum(sizes) == len(TEXTS) and max(sizes) <= 16 and len(sizes) >= len(TEXTS) // 16
    rows = by_id(done.take_all())
    assert [r["id"] for r in rows] == list(range(len(TEXTS)))
    assert [r["text"] for r in rows] == TEXTS
    assert [r["meta"] for r in rows] == [{"shop": f"s{i % 4}"} for i in range(len(TEXTS))]
    ref = clf.predict_proba(TEXTS)
    got = np.array([[r[f"prob_{label}"] for label in TINY_LABELS] for r in rows])
    np.testing.assert_allclose(got, ref, atol=1e-5)
    assert [r["label"] for r in rows] == clf.predict(TEXTS).tolist()
    np.testing.assert_allclose([r["score"] for r in rows], ref.max(axis=1), atol=1e-5)
    for row, pred in zip(rows, clf.classify(TEXTS, top_k=2), strict=True):
        assert list(row["top_labels"]) == list(pred.scores)
        np.testing.assert_allclose(row["top_scores"], list(pred.scores.values()), atol=1e-5)


def test_csv_and_jsonl_with_a_tar_and_a_pickled_classifier(
    ray_local: Any, tiny_bert_classifier: Path, clf: LocalClassifier, tmp_path: Path
) -> None:
    from distil_sdk.batch import predict_dataset

    tar = tmp_path / "tiny-model.tar"
    with tarfile.open(tar, "w") as archive:
        archive.add(tiny_bert_classifier, arcname="model")
    source = tmp_path / "in.csv"
    with source.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "text"])
        writer.writerows(enumerate(TEXTS))
    rows = by_id(
        predict_dataset(
            source, tar, batch_size=32, concurrency=1, load_options={"cache_dir": tmp_path / "c"}
        ).take_all()
    )
    # CSV: "1234" stays a text and the empty cell is the empty text, as in a local read.
    assert [r["text"] for r in rows] == TEXTS
    assert [r["label"] for r in rows] == clf.predict(TEXTS).tolist()

    jsonl = tmp_path / "in.jsonl"
    jsonl.write_text(
        "".join(json.dumps({"id": i, "body": t}) + "\n" for i, t in enumerate(TEXTS)),
        encoding="utf-8",
    )
    rows = by_id(
        predict_dataset(jsonl, clf, text_column="body", batch_size=50, concurrency=1).take_all()
    )
    np.testing.assert_allclose(
        [r["score"] for r in rows], clf.predict_proba(TEXTS).max(axis=1), atol=1e-5
    )


def test_ray_dataset_in_with_clashing_columns_and_prefix(
    ray_local: Any, tiny_bert_classifier: Path, clf: LocalClassifier
) -> None:
    from distil_sdk.batch import predict_dataset

    items = [{"id": i, "text": t, "label": "gold"} for i, t in enumerate(TEXTS[:40])]
    ds = ray_local.data.from_items(items)
    with pytest.raises(BatchInputError, match=r"already has column\(s\) 'label'.*prefix="):
        predict_dataset(ds, tiny_bert_classifier, concurrency=1)
    rows = by_id(
        predict_dataset(ds, tiny_bert_classifier, prefix="pred_", concurrency=1).take_all()
    )
    assert all(r["label"] == "gold" for r in rows)
    assert [r["pred_label"] for r in rows] == clf.predict(TEXTS[:40]).tolist()


def test_null_text_fails_naming_column_and_row(
    ray_local: Any, tiny_bert_classifier: Path, tmp_path: Path
) -> None:
    from distil_sdk.batch import predict_dataset

    source = tmp_path / "in.jsonl"
    source.write_text(
        "".join(
            json.dumps({"id": i, "text": None if i == 7 else f"t {i}"}) + "\n" for i in range(20)
        ),
        encoding="utf-8",
    )
    ds = predict_dataset(source, tiny_bert_classifier, concurrency=1)
    # Read by predict_dataset: the actor's own error type reaches the caller (Ray's subclass).
    with pytest.raises(BatchInputError, match=r"column 'text', the row \{'id': 7, 'text': None\}"):
        ds.take_all()
    # A caller's own dataset: Ray's UserCodeException, with our message in its text.
    items = [{"id": i, "text": None if i == 3 else "ok"} for i in range(6)]
    own = predict_dataset(ray_local.data.from_items(items), tiny_bert_classifier, concurrency=1)
    with pytest.raises(Exception, match=r"(?s)BatchInputError: column 'text'.*'id': 3.*null"):
        own.take_all()


def test_bad_arguments_fail_before_any_actor(
    ray_local: Any, tiny_bert_classifier: Path, parquet_input: Path, tmp_path: Path
) -> None:
    from distil_sdk.batch import predict_dataset

    with pytest.raises(ModelLoadError, match="every Ray node"):
        predict_dataset(parquet_input, tmp_path / "nope")
    with pytest.raises(BatchInputError, match="no such file"):
        predict_dataset(tmp_path / "missing.csv", tiny_bert_classifier)
    with pytest.raises(ValueError, match="top_k"):
        predict_dataset(parquet_input, tiny_bert_classifier, top_k=0)
    ds = ray_local.data.from_items([{"body": "x"}])
    with pytest.raises(
        BatchInputError, match=r"no text column 'text' in the data \(columns: body\)"
    ):
        predict_dataset(ds, tiny_bert_classifier)


def test_cpu_actors_take_one_call_at_a_time() -> None:
    """Ray's default queues a second call on a busy actor: the first actor to finish loading its
    model then took both calls of a 2000-row run while the other never worked (measured). CPU
    actors get one call at a time; GPU actors, whose calls are short, keep Ray's queue."""
    ray = pytest.importorskip("ray")
    pytest.importorskip("ray.data")
    from distil_sdk.batch._ray import _actor_pool

    assert _actor_pool(ray, 2, num_gpus=0).max_tasks_in_flight_per_actor == 1
    assert _actor_pool(ray, (1, 4), num_gpus=0).max_tasks_in_flight_per_actor == 1
    assert _actor_pool(ray, 2, num_gpus=1).max_tasks_in_flight_per_actor is None


def test_slicing_runs_a_few_tasks_at_once_on_no_cpu_slot(ray_local: Any) -> None:
    """The slicing step takes no CPU slot, so nothing else bounded its tasks: Ray started a
    worker process per block (44 for this 40-item dataset, measured)."""
    from distil_sdk.batch._ray import SLICING_TASKS, _spread

    ds = _spread(ray_local.data.from_items([{"text": f"t {i}"} for i in range(40)]), 16)
    operator = ds._logical_plan.dag
    assert operator.ray_remote_args["num_cpus"] == 0
    assert operator.compute.size == SLICING_TASKS
    assert sorted(r["text"] for r in ds.take_all()) == sorted(f"t {i}" for i in range(40))
