"""`distil-sdk predict MODEL --input PATH --out PATH` with the local engine (no Ray needed)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")

from conftest import TINY_LABELS
from distil_sdk.batch import BatchInputError, predict_file
from distil_sdk.cli import main
from distil_sdk.inference import LocalClassifier

TEXTS = [
    "my card payment was charged a fee",
    "  padded with spaces  ",
    "a cotton shirt with long sleeves",
    "007",
    "where is my new card, it has not arrived",
    "i feel anxious and cannot sleep at night",
    "line one\nline two, with a comma",
] * 5  # 35 rows: several chunks with --batch-size 8


@pytest.fixture(scope="module")
def clf(tiny_bert_classifier: Path) -> LocalClassifier:
    return LocalClassifier.from_pretrained(tiny_bert_classifier)


@pytest.fixture()
def csv_input(tmp_path: Path) -> Path:
    path = tmp_path / "in.csv"
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "text", "source"])
        writer.writerows([i, t, f"src-{i % 3}"] for i, t in enumerate(TEXTS))
    return path


def _read_jsonl(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_csv_to_jsonl_every_row_once_in_order_with_exact_probabilities(
    tiny_bert_classifier: Path, clf: LocalClassifier, csv_input: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out" / "pred.jsonl"
    code = main(
        [
            "predict",
            str(tiny_bert_classifier),
            "--input",
            str(csv_input),
            "--out",
            str(out),
            "--batch-size",
            "8",
            "--probabilities",
            "--top-k",
            "2",
        ]
    )
    assert code == 0
    rows = _read_jsonl(out)
    assert [r["id"] for r in rows] == [str(i) for i in range(len(TEXTS))]
    assert [r["text"] for r in rows] == TEXTS  # spaces and embedded newline kept as given
    assert [r["source"] for r in rows] == [f"src-{i % 3}" for i in range(len(TEXTS))]
    ref = clf.predict_proba(TEXTS)
    got = np.array([[r[f"prob_{label}"] for label in TINY_LABELS] for r in rows])
    np.testing.assert_allclose(got, ref, atol=1e-5)
    assert [r["label"] for r in rows] == clf.predict(TEXTS).tolist()
    np.testing.assert_allclose([r["score"] for r in rows], ref.max(axis=1), atol=1e-5)
    for row, probs in zip(rows, ref, strict=True):
        assert row["top_labels"][0] == row["label"]  # type: ignore[index]
        assert len(row["top_labels"]) == 2  # type: ignore[arg-type]
        np.testing.assert_allclose(row["top_scores"], np.sort(probs)[::-1][:2], atol=1e-5)  # type: ignore[arg-type]
    assert not [p for p in out.parent.iterdir() if p.name != "pred.jsonl"]  # no temp left


def test_jsonl_to_parquet_and_parquet_back(
    tiny_bert_classifier: Path, clf: LocalClassifier, tmp_path: Path
) -> None:
    pq = pytest.importorskip("pyarrow.parquet")
    source = tmp_path / "in.jsonl"
    source.write_text(
        "".join(json.dumps({"n": i, "body": t}) + "\n" for i, t in enumerate(TEXTS)),
        encoding="utf-8",
    )
    first = tmp_path / "first.parquet"
    written = predict_file(
        tiny_bert_classifier, source, first, text_column="body", batch_size=10, prefix="pred_"
    )
    assert written == len(TEXTS)
    table = pq.read_table(first)
    assert table.column_names == ["n", "body", "pred_label", "pred_score"]
    assert table.column("n").to_pylist() == list(range(len(TEXTS)))
    assert table.column("pred_label").to_pylist() == clf.predict(TEXTS).tolist()
    # Parquet in: the prediction columns already there clash unless named apart.
    with pytest.raises(BatchInputError, match=r"'pred_label'.*--prefix"):
        predict_file(
            tiny_bert_classifier, first, tmp_path / "x.jsonl", text_column="body", prefix="pred_"
        )
    assert not (tmp_path / "x.jsonl").exists()
    second = tmp_path / "second.jsonl"
    assert predict_file(tiny_bert_classifier, first, second, text_column="body") == len(TEXTS)
    rows = _read_jsonl(second)
    assert [r["label"] for r in rows] == [r["pred_label"] for r in rows]


def test_null_text_fails_naming_the_row_and_writes_nothing(
    tiny_bert_classifier: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "in.jsonl"
    lines = [{"text": "fine"}, {"text": ""}, {"text": None}, {"text": "late"}]
    source.write_text("".join(json.dumps(r) + "\n" for r in lines), encoding="utf-8")
    out = tmp_path / "out.jsonl"
    code = main(["predict", str(tiny_bert_classifier), "--input", str(source), "--out", str(out)])
    assert code == 1
    err = capsys.readouterr().err
    assert "row 3" in err and "'text'" in err and "null" in err
    assert list(tmp_path.iterdir()) == [source]  # no output, no temporary file
    with pytest.raises(TypeError):  # the same family as LocalClassifier's own check
        predict_file(tiny_bert_classifier, source, out)


def test_missing_text_column_is_named(
    tiny_bert_classifier: Path, csv_input: Path, tmp_path: Path
) -> None:
    with pytest.raises(BatchInputError, match=r"no text column 'question'.*id, text, source"):
        predict_file(tiny_bert_classifier, csv_input, tmp_path / "o.jsonl", text_column="question")


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["some text"], "not both"),
        (["--input-missing"], "--out needs --input PATH"),
        (["--engine", "local", "--concurrency", "2"], "need --engine ray"),
        (["--top-k", "0"], "--top-k must be >= 1"),
    ],
)
def test_usage_errors_exit_2(
    tiny_bert_classifier: Path,
    csv_input: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    extra: list[str],
    message: str,
) -> None:
    argv = ["predict", str(tiny_bert_classifier)]
    if extra == ["some text"]:  # TEXT arguments come before the options
        argv += extra
    if extra != ["--input-missing"]:
        argv += ["--input", str(csv_input)]
    if extra not in (["--input-missing"], ["some text"]):
        argv += extra
    argv += ["--out", str(tmp_path / "o.jsonl")]
    assert main(argv) == 2
    assert message in capsys.readouterr().err


def test_output_must_be_a_file_for_the_local_engine(
    tiny_bert_classifier: Path, csv_input: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["predict", str(tiny_bert_classifier), "--input", str(csv_input)]
    assert main([*argv, "--out", str(tmp_path / "folder")]) == 2  # a usage error
    assert "needs --engine ray" in capsys.readouterr().err


def test_text_arguments_still_work(
    tiny_bert_classifier: Path, clf: LocalClassifier, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--output", "json", "predict", str(tiny_bert_classifier), "a fee", "a shirt"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert [d["label"] for d in data] == clf.predict(["a fee", "a shirt"]).tolist()
    assert main(["predict", str(tiny_bert_classifier)]) == 2
    assert "give TEXT arguments" in capsys.readouterr().err


def test_gzipped_csv_is_read_and_other_compressions_refused(
    tiny_bert_classifier: Path, clf: LocalClassifier, tmp_path: Path
) -> None:
    import gzip

    source = tmp_path / "in.csv.gz"
    with gzip.open(source, "wt", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text"])
        writer.writerows([t] for t in TEXTS)
    out = tmp_path / "out.jsonl"
    assert predict_file(tiny_bert_classifier, source, out) == len(TEXTS)
    assert [r["label"] for r in _read_jsonl(out)] == clf.predict(TEXTS).tolist()
    other = tmp_path / "in.csv.zst"
    other.write_bytes(b"\x28\xb5\x2f\xfd")
    with pytest.raises(BatchInputError, match=r"plain or \.gz"):
        predict_file(tiny_bert_classifier, other, tmp_path / "o.jsonl")
