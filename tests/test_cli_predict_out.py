"""`distil-sdk predict MODEL --input PATH` without `--out`, and the `--out` names it takes."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")

from distil_sdk.cli import main
from distil_sdk.cli._batch import default_out
from distil_sdk.inference import LocalClassifier

TEXTS = ["my card payment was charged a fee", "a cotton shirt with long sleeves"]


@pytest.fixture()
def tickets(tmp_path: Path) -> Path:
    path = tmp_path / "data" / "tickets.csv"
    path.parent.mkdir()
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "text"])
        writer.writerows(enumerate(TEXTS))
    return path


def test_without_out_the_rows_go_to_stem_predictions_jsonl_here(
    tiny_bert_classifier: Path,
    tickets: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    here = tmp_path / "here"
    here.mkdir()
    monkeypatch.chdir(here)
    assert main(["predict", str(tiny_bert_classifier), "--input", str(tickets)]) == 0
    rows = [
        json.loads(line) for line in (here / "tickets-predictions.jsonl").read_text().splitlines()
    ]
    want = LocalClassifier.from_pretrained(tiny_bert_classifier).predict(TEXTS).tolist()
    assert [r["text"] for r in rows] == TEXTS and [r["label"] for r in rows] == want
    assert capsys.readouterr().out.startswith("2 rows predicted into tickets-predictions.jsonl")
    assert sorted(p.name for p in tickets.parent.iterdir()) == ["tickets.csv"]  # input untouched


@pytest.mark.parametrize(
    ("source", "out"),
    [
        ("tickets.csv", "tickets-predictions.jsonl"),
        ("data/tickets.csv.gz", "tickets-predictions.jsonl"),
        ("tickets.parquet", "tickets-predictions.jsonl"),
        ("s3://bucket/tickets/", "tickets-predictions.jsonl"),
        ("folder", "folder-predictions.jsonl"),
    ],
)
def test_default_out_names(source: str, out: str) -> None:
    assert default_out(source) == out


@pytest.mark.parametrize(
    "suffix", [".jsonl", ".json", ".ndjson", ".parquet", ".pq", ".csv", ".tsv"]
)
def test_every_suffix_the_writer_writes_is_accepted(
    tiny_bert_classifier: Path, tickets: Path, tmp_path: Path, suffix: str
) -> None:
    out = tmp_path / f"labelled{suffix}"
    assert (
        main(["predict", str(tiny_bert_classifier), "--input", str(tickets), "--out", str(out)])
        == 0
    )
    assert out.is_file()


@pytest.mark.parametrize("name", ["labelled.xlsx", "labelled.txt"])
def test_an_output_the_writer_cannot_write_is_a_usage_error_before_the_model_loads(
    tiny_bert_classifier: Path,
    tickets: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    name: str,
) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("the model was loaded")

    monkeypatch.setattr(LocalClassifier, "from_pretrained", refuse)
    out = tmp_path / name
    argv = ["predict", str(tiny_bert_classifier), "--input", str(tickets), "--out", str(out)]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("usage: distil-sdk predict")
    message = err.rstrip("\n").splitlines()[-1]
    assert message.startswith("distil-sdk predict: error: --out ")
    assert "JSON Lines (.jsonl), CSV (.csv, .tsv) or Parquet (.parquet)" in message
    assert f"use --out {out.with_suffix('.csv')} for a spreadsheet" in message
    assert f"or --out {out.with_suffix('.jsonl')}" in message
    assert not out.exists()
