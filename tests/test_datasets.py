"""Datasets and bundles: building, CSV/JSONL round trips, atomic writes, folders, payloads."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from distil_sdk._errors import DataValidationError
from distil_sdk.types import (
    Example,
    JobDescription,
    LabelledDataset,
    TaskBundle,
    TaskConfig,
    TuningConfig,
    UnlabelledDataset,
)

TRICKY = [
    'a "quoted", comma text',
    "two\nlines and a\r\nwindows break",
    "  leading and trailing spaces  ",
    "unicode: café – 東京 – 🙂 \u2028 separator",
    "=1+1 looks like a formula",
]
REPO_ROOT = Path(__file__).resolve().parents[1]
DATASET_ROOTS = [REPO_ROOT.parent / "shared" / "datasets"]


def _shared_datasets() -> list[Path]:
    for root in DATASET_ROOTS:
        if root.is_dir():
            return sorted(p for p in root.iterdir() if (p / "job_description.json").is_file())
    return []


def _bundle() -> TaskBundle:
    jd = JobDescription(
        task_description="Route requests.",
        classes_description={"card": "Card problems", "fee": "Unexpected fees"},
    )
    train = LabelledDataset.from_lists(
        [f"card text {i}" for i in range(3)] + TRICKY[:3], ["card"] * 3 + ["fee"] * 3
    )
    test = LabelledDataset.from_lists(["test card", "test fee"], ["card", "fee"])
    pool = UnlabelledDataset.from_lists(TRICKY)
    return TaskBundle(jd, train, test, pool, TaskConfig(tuning=TuningConfig(num_train_epochs=7)))


def test_basic_accessors() -> None:
    ds = LabelledDataset.from_lists(["a", "b"], ["x", "y"])
    assert len(ds) == 2
    assert ds.texts == ["a", "b"] and ds.labels == ["x", "y"]
    assert list(ds) == [Example(question="a", answer="x"), Example(question="b", answer="y")]
    assert ds[1].answer == "y"
    assert ds.source is None and ds.row_of(1) == 2
    pool = UnlabelledDataset.from_lists(["c"])
    assert list(pool) == ["c"] and len(pool) == 1


def test_from_lists_rejects_length_mismatch() -> None:
    with pytest.raises(ValueError, match="2 texts but 1 labels"):
        LabelledDataset.from_lists(["a", "b"], ["x"])


@pytest.mark.parametrize("first", ["csv", "jsonl"])
def test_round_trip_csv_jsonl(tmp_path: Path, first: str) -> None:
    ds = LabelledDataset.from_lists(TRICKY, [f"label,{i}" for i in range(len(TRICKY))])
    second = "jsonl" if first == "csv" else "csv"
    a = LabelledDataset.from_file(ds.to_file(tmp_path / f"d.{first}"))
    b = LabelledDataset.from_file(a.to_file(tmp_path / f"d.{second}"))
    assert a == ds and b == ds
    assert a.findings == [] and b.findings == []
    pool = UnlabelledDataset.from_lists(TRICKY)
    assert UnlabelledDataset.from_file(pool.to_file(tmp_path / f"u.{first}")) == pool


def test_to_csv_and_to_jsonl_content(tmp_path: Path) -> None:
    ds = LabelledDataset.from_lists(["hi, there"], ["x"])
    assert ds.to_csv(tmp_path / "a.csv").read_text() == 'question,answer\n"hi, there",x\n'
    line = tmp_path / "a.jsonl"
    ds.to_jsonl(line)
    assert json.loads(line.read_text()) == {"question": "hi, there", "answer": "x"}


def test_rows_are_what_a_user_sees(tmp_path: Path) -> None:
    path = tmp_path / "train.csv"
    path.write_text('question,answer\n"multi\nline",x\n\nplain,y\n')
    ds = LabelledDataset.from_file(path)
    assert ds.texts == ["multi\nline", "plain"]
    assert [ds.row_of(0), ds.row_of(1)] == [2, 4]  # header is row 1; the blank line is row 3


def test_atomic_write_keeps_old_file_on_failure(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "train.csv"
    path.write_text("old")

    def boom(src: str, dst: str) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(OSError, match="disk full"):
        LabelledDataset.from_lists(["a"], ["b"]).to_csv(path)
    assert path.read_text() == "old"
    assert os.listdir(tmp_path) == ["train.csv"]  # no temporary file left behind


def test_from_records_and_pandas() -> None:
    pd = pytest.importorskip("pandas")
    ds = LabelledDataset.from_records([{"question": "a", "answer": "x"}, {"question": "b"}])
    assert ds.texts == ["a"]
    assert [f.code for f in ds.findings] == ["missing_field"]
    df = pd.DataFrame({"text": ["a", None, "c"], "label": ["x", "y", "z"]})
    from_df = LabelledDataset.from_pandas(df, text_column="text", label_column="label")
    assert from_df.texts == ["a", "", "c"]  # a missing value is an empty text for validation
    assert from_df.to_pandas().columns.tolist() == ["question", "answer"]
    assert UnlabelledDataset.from_pandas(pd.DataFrame({"context": ["u"]})).texts == ["u"]
    with pytest.raises(ValueError, match="no column 'nope'"):
        LabelledDataset.from_pandas(df, text_column="nope")


def test_bundle_dir_round_trip(tmp_path: Path) -> None:
    bundle = _bundle()
    bundle.to_dir(tmp_path / "task")
    assert sorted(os.listdir(tmp_path / "task")) == [
        "config.yaml",
        "job_description.json",
        "test.csv",
        "train.csv",
        "unstructured.csv",
    ]
    again = TaskBundle.from_dir(tmp_path / "task")
    assert again == bundle
    assert again.config.tuning.num_train_epochs == 7
    assert again.train.source == "train.csv"
    # The format read is the format written back.
    again.to_dir(tmp_path / "jsonl", format="jsonl")
    assert TaskBundle.from_dir(tmp_path / "jsonl").train.format == "jsonl"


def test_to_dir_refuses_an_ambiguous_folder(tmp_path: Path) -> None:
    (tmp_path / "train.jsonl").write_text("")
    with pytest.raises(FileExistsError, match=r"train\.jsonl"):
        _bundle().to_dir(tmp_path)


def test_upload_payload_round_trip() -> None:
    bundle = _bundle()
    body = bundle.to_upload_payload()
    assert set(body) == {
        "job_description",
        "train_data",
        "test_data",
        "unstructured_data",
        "config",
    }
    assert body["train_data"]["type"] == "csv" and body["config"]["type"] == "yaml"
    assert json.loads(body["job_description"]["content"])["classes_description"]["fee"]
    again = TaskBundle.from_upload_payload(json.loads(json.dumps(body)))
    assert again == bundle
    assert again.train.source == "train.csv"


def test_upload_payload_keeps_jsonl(tmp_path: Path) -> None:
    _bundle().to_dir(tmp_path, format="jsonl")
    body = TaskBundle.from_dir(tmp_path).to_upload_payload()
    assert body["train_data"]["type"] == "jsonl"
    assert TaskBundle.from_upload_payload(body).train.source == "train.jsonl"


def test_upload_payload_without_optional_parts() -> None:
    body = _bundle().to_upload_payload()
    del body["unstructured_data"], body["config"]
    again = TaskBundle.from_upload_payload(body)
    assert again.unstructured is None and again.config == TaskConfig()


@pytest.mark.parametrize(
    ("mutate", "column"),
    [
        (lambda b: b.pop("train_data"), "train_data"),
        (lambda b: b.update(test_data={"type": "xlsx", "content": "x"}), "test_data"),
        (lambda b: b.update(config={"type": "yaml"}), "config"),
        (lambda b: b.update(extra_part={"type": "csv", "content": ""}), "extra_part"),
    ],
)
def test_malformed_payload_raises(mutate: object, column: str) -> None:
    body = _bundle().to_upload_payload()
    mutate(body)  # type: ignore[operator]
    with pytest.raises(DataValidationError) as info:
        TaskBundle.from_upload_payload(body)
    assert [f.column for f in info.value.report.errors] == [column]


@pytest.mark.parametrize("path", _shared_datasets(), ids=lambda p: p.name)
def test_real_datasets_have_no_errors(path: Path) -> None:
    bundle = TaskBundle.from_dir(path)
    report = bundle.validate()
    assert report.errors == [], report.to_table()
    assert len(bundle.train) > 0 and len(bundle.test) > 0
    assert set(bundle.train.labels) == set(bundle.labels)
    assert TaskBundle.from_upload_payload(bundle.to_upload_payload()) == bundle


def test_real_datasets_are_present_in_this_checkout() -> None:
    if not _shared_datasets():
        pytest.skip("shared/datasets is not next to this checkout")
    assert len(_shared_datasets()) >= 3
