"""``distil_sdk.batch.predict_dataset`` on a local Ray instance (2 CPUs) started by this module.

Also: a ``LocalClassifier`` pickles as its path and options (what Ray ships to actors).
"""

from __future__ import annotations

import csv
import io
import json
import pickle
import re
import tarfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")

from conftest import TINY_LABELS
from distil_sdk._errors import ModelLoadError
from distil_sdk.batch import BatchInputError, predict_file
from distil_sdk.cli import main
from distil_sdk.inference import LocalClassifier

BASE = [
    "my card payment was charged a fee",
    "",
    "a cotton shirt with long sleeves",
    "i want to change my pin number",
    "the novel tells the story of a family",
    "1234",
    "today was a normal day at work, or was it?",
]
# 140 distinct rows; small actor batches so both actors get several.
TEXTS = [f"{t} {i}" if i % 7 else t for i, t in enumerate(BASE * 20)]


@pytest.fixture(scope="module")
def clf(tiny_bert_classifier: Path) -> LocalClassifier:
    return LocalClassifier.from_pretrained(tiny_bert_classifier)


@pytest.fixture(scope="module")
def ray_local() -> Iterator[Any]:
    """One small Ray instance for the whole module: starting Ray costs seconds."""
    ray = pytest.importorskip("ray")
    pytest.importorskip("ray.data")
    ray.init(
        num_cpus=2,
        object_store_memory=200 * 1024 * 1024,
        include_dashboard=False,
        log_to_driver=False,
        configure_logging=False,
    )
    ctx = ray.data.DataContext.get_current()
    ctx.enable_progress_bars = False
    try:
        yield ray
    finally:
        ray.shutdown()


@pytest.fixture(scope="module")
def parquet_input(tmp_path_factory: pytest.TempPathFactory, ray_local: Any) -> Path:
    import pyarrow as pa
    import pyarrow.parquet as pq

    folder = tmp_path_factory.mktemp("ray-in") / "parts"
    folder.mkdir()
    # Three files, so Ray reads several blocks; an integer id and a nested column to keep.
    for part in range(3):
        rows = range(part * 50, min((part + 1) * 50, len(TEXTS)))
        pq.write_table(
            pa.table(
                {
                    "id": list(rows),
                    "text": [TEXTS[i] for i in rows],
                    "meta": [{"shop": f"s{i % 4}"} for i in rows],
                }
            ),
            folder / f"part-{part}.parquet",
        )
    return folder


def _by_id(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    ids = [r["id"] for r in rows]
    assert len(ids) == len(set(ids)), "a row came out twice"
    return sorted(rows, key=lambda r: r["id"])


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


def test_parquet_folder_every_row_once_with_exact_probabilities(
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
    rows = _by_id(ds.take_all())
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
    rows = _by_id(
        predict_dataset(
            source, tar, batch_size=32, load_options={"cache_dir": tmp_path / "c"}
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
    rows = _by_id(predict_dataset(jsonl, clf, text_column="body", batch_size=50).take_all())
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
    rows = _by_id(predict_dataset(ds, tiny_bert_classifier, prefix="pred_").take_all())
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


def test_cli_engine_ray_writes_one_file_in_input_order_equal_to_local(
    ray_local: Any, parquet_input: Path, tiny_bert_classifier: Path, tmp_path: Path
) -> None:
    """One CSV file from Ray (in input order, the input's columns kept) holds what the local
    engine writes as JSON Lines; a folder output gets Parquet parts."""
    import pyarrow.parquet as pq

    ray_out = tmp_path / "ray.csv"
    argv = ["predict", str(tiny_bert_classifier), "--input", str(parquet_input)]
    assert main([*argv, "--out", str(ray_out), "--engine", "ray", "--top-k", "2"]) == 0
    with ray_out.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        header, rows = reader.fieldnames, list(reader)
    assert header == ["id", "text", "meta", "label", "score", "top_labels", "top_scores"]
    assert [int(r["id"]) for r in rows] == list(range(len(TEXTS)))  # input order kept
    assert [r["text"] for r in rows] == TEXTS
    assert [json.loads(r["meta"]) for r in rows] == [{"shop": f"s{i % 4}"} for i in range(140)]
    local_out = tmp_path / "local.jsonl"
    written = predict_file(
        tiny_bert_classifier, parquet_input / "part-1.parquet", local_out, top_k=2
    )
    local = [json.loads(line) for line in local_out.read_text().splitlines()]
    assert written == len(local) == 50
    assert [r["label"] for r in rows[50:100]] == [r["label"] for r in local]
    np.testing.assert_allclose(
        [float(r["score"]) for r in rows[50:100]], [r["score"] for r in local], atol=1e-5
    )
    assert [json.loads(r["top_labels"]) for r in rows[50:100]] == [r["top_labels"] for r in local]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["local.jsonl", "ray.csv"]
    # A folder output: Ray's workers write Parquet parts into it.
    folder = tmp_path / "out-folder"
    assert main([*argv, "--out", str(folder), "--engine", "ray"]) == 0
    assert pq.read_table(folder).num_rows == len(TEXTS)


def test_cli_engine_ray_reports_a_null_text_and_leaves_no_file(
    ray_local: Any, tiny_bert_classifier: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "in.jsonl"
    source.write_text(
        "".join(json.dumps({"text": None if i == 3 else "ok"}) + "\n" for i in range(6)),
        encoding="utf-8",
    )
    out = tmp_path / "out.jsonl"
    argv = ["predict", str(tiny_bert_classifier), "--input", str(source), "--out", str(out)]
    assert main([*argv, "--engine", "ray"]) == 1
    err = capsys.readouterr().err
    assert "error: column 'text'" in err and "null" in err
    assert "Traceback" not in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.jsonl"]


def _ray_console(monkeypatch: pytest.MonkeyPatch) -> io.StringIO:
    """What Ray Data's console handlers print, in one buffer.

    They hold the stderr of the moment ``ray.data`` was imported, which no capture fixture
    sees; the buffer stands in for it."""
    import logging

    buffer = io.StringIO()
    consoles = [
        h
        for h in logging.getLogger("ray.data").handlers
        if isinstance(h, logging.StreamHandler) and not isinstance(h, logging.FileHandler)
    ]
    assert consoles, "Ray Data has no console handler: the test would prove nothing"
    for handler in consoles:
        monkeypatch.setattr(handler, "stream", buffer)
    return buffer


def test_ray_run_is_quiet_and_shows_rows_done_out_of_the_total(
    ray_local: Any, parquet_input: Path, tiny_bert_classifier: Path, tmp_path: Path,
    capfd: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    monkeypatch.delenv("DISTIL_RAY_LOG_LEVEL", raising=False)
    monkeypatch.delenv("DISTIL_NO_PROGRESS", raising=False)
    console = _ray_console(monkeypatch)
    capfd.readouterr()
    out = tmp_path / "out.jsonl"
    assert (
        predict_file(
            tiny_bert_classifier, parquet_input, out, engine="ray", progress=True, concurrency=1
        )
        == 140
    )
    err = capfd.readouterr().err
    # Ray Data logs its execution plan and progress at INFO; a default run shows none of it.
    shown = console.getvalue() + err
    assert not re.findall(r"\bINFO\b", shown), shown
    assert "out.jsonl" in err and f"{len(TEXTS)}/{len(TEXTS)}" in err  # our bar, with a total
    # Asked for, Ray's INFO lines come back (and no bar with progress=False).
    predict_file(
        tiny_bert_classifier, parquet_input, tmp_path / "again.jsonl", engine="ray",
        progress=False, ray_log_level="info", concurrency=1,
    )  # fmt: skip
    assert re.search(r"\bINFO\b.*Starting execution", console.getvalue())
    assert f"{len(TEXTS)}/{len(TEXTS)}" not in capfd.readouterr().err


def test_ray_starts_quiet_unless_asked(monkeypatch: pytest.MonkeyPatch) -> None:
    import logging

    from distil_sdk.batch._ray import ray_log_level, start_ray

    class _FakeRay:
        def __init__(self) -> None:
            self.calls: list[dict[str, Any]] = []

        def init(self, **kwargs: Any) -> None:
            self.calls.append(kwargs)

    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    monkeypatch.delenv("DISTIL_RAY_LOG_LEVEL", raising=False)
    fake = _FakeRay()
    start_ray(fake, ray_log_level(None), num_cpus=3)
    assert fake.calls[-1] == {
        "num_cpus": 3,
        "logging_level": logging.WARNING,
        "log_to_driver": False,
        "include_dashboard": False,
    }
    monkeypatch.setenv("DISTIL_RAY_LOG_LEVEL", "debug")
    start_ray(fake, ray_log_level(None), address="ray://head:10001")
    assert fake.calls[-1] == {
        "address": "ray://head:10001",
        "logging_level": logging.DEBUG,
        "log_to_driver": True,  # verbose: the actors' own output too
    }
    assert ray_log_level("error") == logging.ERROR and ray_log_level(logging.INFO) == logging.INFO
    monkeypatch.setenv("DISTIL_RAY_LOG_LEVEL", "loud")
    with pytest.raises(ValueError, match="DISTIL_RAY_LOG_LEVEL='loud' is not a log level"):
        ray_log_level(None)


def test_empty_text_on_ray_names_the_rows_and_leaves_no_file(
    ray_local: Any, tiny_bert_classifier: Path, tmp_path: Path
) -> None:
    source = tmp_path / "in.jsonl"
    source.write_text(
        "".join(
            json.dumps({"id": i, "text": " " if i in (4, 9) else f"t {i}"}) + "\n"
            for i in range(20)
        ),
        encoding="utf-8",
    )
    out = tmp_path / "out.jsonl"
    with pytest.raises(
        BatchInputError,
        match=r"2 text\(s\) empty or only whitespace: the row \{'id': 4, 'text': ' '\}; "
        r"the row \{'id': 9.*drop those rows or fill in their text",
    ):
        predict_file(tiny_bert_classifier, source, out, engine="ray", concurrency=1)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.jsonl"]
