"""``predict_file`` / ``distil-sdk predict`` writing CSV (and TSV), with the local engine.

The CSV file holds what the JSON Lines output holds for the same input: the same columns, in
the same order, one row per input row in input order, any text surviving the round trip.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")

from conftest import TINY_LABELS
from distil_sdk.batch import BatchInputError, predict_file
from distil_sdk.batch._csv_out import CsvRows
from distil_sdk.cli import main
from distil_sdk.inference import LocalClassifier

TRICKY = [
    "my card payment was charged a fee",
    'a comma, then "quotes" and a ""doubled"" quote',
    "line one\nline two, after a newline",
    "windows\r\nline end and a lone\rcarriage return",
    "\ttabbed\tand trailing spaces  ",
    "=SUM(A1:A2) looks like a formula",
    "café ☕ naïve",
    '"starts and ends with quotes"',
]
ADDED = ["label", "score", "top_labels", "top_scores", *(f"prob_{x}" for x in TINY_LABELS)]


def _jsonl_input(path: Path) -> Path:
    rows: list[dict[str, Any]] = []
    for i, text in enumerate(TRICKY):
        row: dict[str, Any] = {"id": i, "text": text, "meta": {"shop": f"s{i % 2}"}}
        row |= {"flag": i % 2 == 0, "note": None}
        if i == 2:
            del row["meta"]  # a row without a column: an empty cell
        if i == 6:
            row["extra"] = "late"  # a column only a late row has (third chunk of 3 rows)
        rows.append(row)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def _read_csv(path: Path, delimiter: str = ",") -> tuple[list[str], list[dict[str, str]]]:
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle, delimiter=delimiter)
        return list(reader.fieldnames or []), list(reader)


def _predict_both(model: Path, source: Path, tmp_path: Path, suffix: str = ".csv") -> Any:
    options = {"top_k": 2, "probabilities": True, "batch_size": 3}
    written = predict_file(model, source, tmp_path / "out.jsonl", **options)
    assert predict_file(model, source, tmp_path / f"out{suffix}", **options) == written
    return _read_jsonl(tmp_path / "out.jsonl"), tmp_path / f"out{suffix}"


@pytest.mark.parametrize("suffix", [".csv", ".tsv"])
def test_csv_holds_what_jsonl_holds_column_for_column(
    tiny_bert_classifier: Path, tmp_path: Path, suffix: str
) -> None:
    source = _jsonl_input(tmp_path / "in.jsonl")
    want, out = _predict_both(tiny_bert_classifier, source, tmp_path, suffix)
    header, rows = _read_csv(out, "\t" if suffix == ".tsv" else ",")
    # Every input column (in first-seen order, the late one too), then the added ones.
    assert header == ["id", "text", "meta", "flag", "note", "extra", *ADDED]
    assert len(rows) == len(want) == len(TRICKY)
    for got, row in zip(rows, want, strict=True):
        assert got["text"] == row["text"]  # commas, quotes, newlines, tabs, spaces kept
        assert int(got["id"]) == row["id"]
        assert got["label"] == row["label"]
        for name in ["score", *(f"prob_{x}" for x in TINY_LABELS)]:
            assert float(got[name]) == row[name]  # exactly: numbers in round-trip form
        assert json.loads(got["top_labels"]) == row["top_labels"]
        assert json.loads(got["top_scores"]) == row["top_scores"]
        assert (json.loads(got["meta"]) if got["meta"] else None) == row.get("meta")
        assert got["flag"] == json.dumps(row["flag"])  # true / false
        assert got["note"] == "" and row["note"] is None
        assert got["extra"] == row.get("extra", "")
    assert [r["text"] for r in rows] == TRICKY  # input order
    names = {p.name for p in tmp_path.iterdir()}
    assert names == {"in.jsonl", "out.jsonl", f"out{suffix}"}  # no part file left


def test_pandas_reads_the_csv_with_numeric_scores(
    tiny_bert_classifier: Path, tmp_path: Path
) -> None:
    pd = pytest.importorskip("pandas")
    source = _jsonl_input(tmp_path / "in.jsonl")
    want, out = _predict_both(tiny_bert_classifier, source, tmp_path)
    frame = pd.read_csv(out, keep_default_na=False)
    assert frame["text"].tolist() == TRICKY
    assert frame["id"].tolist() == [r["id"] for r in want]
    assert frame["label"].tolist() == [r["label"] for r in want]
    for name in ["score", *(f"prob_{x}" for x in TINY_LABELS)]:
        assert frame[name].dtype == "float64"
        assert frame[name].tolist() == [r[name] for r in want]
    assert [json.loads(x) for x in frame["top_scores"]] == [r["top_scores"] for r in want]


def test_csv_in_csv_out_keeps_every_column_and_the_row_count(
    tiny_bert_classifier: Path, tmp_path: Path
) -> None:
    source = tmp_path / "in.csv"
    with source.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "text", "source"])
        writer.writerows([i, t, f"src-{i}"] for i, t in enumerate(TRICKY))
    out = tmp_path / "sub" / "labelled.csv"
    assert predict_file(tiny_bert_classifier, source, out, prefix="pred_") == len(TRICKY)
    header, rows = _read_csv(out)
    assert header == ["id", "text", "source", "pred_label", "pred_score"]
    assert [r["text"] for r in rows] == TRICKY
    want = LocalClassifier.from_pretrained(tiny_bert_classifier).predict(TRICKY).tolist()
    assert [r["pred_label"] for r in rows] == want


def test_empty_input_gives_a_header_only(tiny_bert_classifier: Path, tmp_path: Path) -> None:
    source = tmp_path / "in.csv"
    source.write_text("id,text\n", encoding="utf-8")
    out = tmp_path / "out.csv"
    assert predict_file(tiny_bert_classifier, source, out) == 0
    assert out.read_bytes() == b"id,text,label,score\r\n"


def test_a_failed_run_leaves_no_csv_and_no_part_file(
    tiny_bert_classifier: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = _jsonl_input(tmp_path / "in.jsonl")
    calls = 0
    real = LocalClassifier._proba_counting

    def fail_second(self: LocalClassifier, texts: Any, index: Any = None) -> Any:
        nonlocal calls
        calls += 1
        if calls == 2:
            raise RuntimeError("out of memory")
        return real(self, texts, index)

    monkeypatch.setattr(LocalClassifier, "_proba_counting", fail_second)
    with pytest.raises(RuntimeError, match="out of memory"):
        predict_file(tiny_bert_classifier, source, tmp_path / "out.csv", batch_size=3)
    assert calls == 2  # the first chunk was written to the part file
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.jsonl"]


def test_a_late_row_with_a_predicted_column_stops_before_anything_is_written(
    tiny_bert_classifier: Path, tmp_path: Path
) -> None:
    # Only row 3 has a 'label': checking each chunk's first row let it be overwritten.
    source = tmp_path / "in.jsonl"
    rows = [{"text": f"text {i}", **({"label": "gold"} if i == 2 else {})} for i in range(5)]
    source.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    for name in ("out.jsonl", "out.csv"):
        with pytest.raises(BatchInputError, match=r"already has column\(s\) 'label'.*--prefix"):
            predict_file(tiny_bert_classifier, source, tmp_path / name)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.jsonl"]


def test_a_csv_row_with_more_fields_than_the_header_is_named(
    tiny_bert_classifier: Path, tmp_path: Path
) -> None:
    source = tmp_path / "in.csv"
    source.write_text("id,text\n1,fine\n2,a fee, unquoted\n", encoding="utf-8")
    with pytest.raises(
        BatchInputError, match=r"in\.csv, row 2: 1 more field than the header's 2 columns"
    ):
        predict_file(tiny_bert_classifier, source, tmp_path / "out.jsonl")
    assert not (tmp_path / "out.jsonl").exists()


def test_csv_rows_header_from_a_schema_and_a_row_it_lacks(tmp_path: Path) -> None:
    buffer = io.StringIO(newline="")
    rows = CsvRows(buffer, tmp_path / "out.csv")
    rows.start(["text", "empty"])  # a column with no value in any row is still a column
    rows.write([{"text": "a"}])
    rows.start(["ignored"])  # one header only
    with pytest.raises(BatchInputError, match=r"out\.csv: row 2 has a column 'new' that"):
        rows.write([{"text": "b", "new": 1}])
    assert buffer.getvalue() == "text,empty\r\na,\r\n"


def test_cli_out_csv(
    tiny_bert_classifier: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = _jsonl_input(tmp_path / "in.jsonl")
    out = tmp_path / "predictions.csv"
    argv = ["predict", str(tiny_bert_classifier), "--input", str(source), "--out", str(out)]
    assert main([*argv, "--top-k", "2"]) == 0
    header, rows = _read_csv(out)
    assert header[-4:] == ["label", "score", "top_labels", "top_scores"]
    assert [r["text"] for r in rows] == TRICKY
    assert capsys.readouterr().out.startswith(f"{len(TRICKY)} rows predicted into {out}")


def test_parquet_dates_and_decimals_reach_jsonl_and_csv_as_text(
    tiny_bert_classifier: Path, tmp_path: Path
) -> None:
    import datetime
    import decimal

    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    source = tmp_path / "in.parquet"
    when = datetime.datetime(2024, 1, 2, 3, 4, 5)
    table = pa.table(
        {
            "text": ["my card payment was charged a fee"],
            "when": [when],
            "day": [when.date()],
            "price": pa.array([decimal.Decimal("9.99")], pa.decimal128(5, 2)),
        }
    )
    pq.write_table(table, source)
    # JSON has no date type: json.dumps refused these rows, and the default output is .jsonl.
    assert predict_file(tiny_bert_classifier, source, tmp_path / "out.jsonl") == 1
    (row,) = _read_jsonl(tmp_path / "out.jsonl")
    assert (row["when"], row["day"], row["price"]) == ("2024-01-02T03:04:05", "2024-01-02", "9.99")
    assert predict_file(tiny_bert_classifier, source, tmp_path / "out.csv") == 1
    _, (cells,) = _read_csv(tmp_path / "out.csv")
    assert (cells["when"], cells["day"], cells["price"]) == (row["when"], row["day"], row["price"])
