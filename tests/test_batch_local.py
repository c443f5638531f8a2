"""``predict_file`` with the local engine: the progress bar and empty texts (no Ray needed)."""

from __future__ import annotations

import csv
import json
import sys
import warnings
from pathlib import Path

import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")

from _streams import TtyStream, without_progress_overrides
from distil_sdk.batch import BatchInputError, predict_file
from distil_sdk.inference import LocalClassifier

TEXTS = [f"my card payment number {i} was charged a fee" for i in range(35)]


@pytest.fixture(autouse=True)
def _progress_rule(monkeypatch: pytest.MonkeyPatch) -> None:
    without_progress_overrides(monkeypatch)


def _write_csv(path: Path, texts: list[str]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "text"])
        writer.writerows(enumerate(texts))
    return path


@pytest.mark.parametrize(
    ("progress", "tty", "off", "shown"),
    [
        (True, False, "", True),  # asked for: shown even in a log
        (None, True, "", True),  # the default: a person at a terminal sees it
        (None, False, "", False),  # the default in a pipe or CI: silent
        (False, True, "", False),  # asked off
        (True, True, "1", False),  # DISTIL_NO_PROGRESS=1 wins over everything
    ],
)
def test_progress_shows_rows_done_out_of_the_total_only_when_on(
    tiny_bert_classifier: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    progress: bool | None,
    tty: bool,
    off: str,
    shown: bool,
) -> None:
    source = _write_csv(tmp_path / "tickets.csv", TEXTS)
    stream = TtyStream(tty)
    monkeypatch.setattr(sys, "stderr", stream)
    monkeypatch.setenv("DISTIL_NO_PROGRESS", off)
    out = tmp_path / "out.jsonl"
    # Four texts per forward pass: the bar moves in slices of 32 rows, so 35 rows take two.
    written = predict_file(
        tiny_bert_classifier,
        source,
        out,
        progress=progress,
        load_options={"batch_size": 4, "device": "cpu"},
    )
    assert written == len(TEXTS)
    err = stream.getvalue()
    if shown:
        assert "tickets.csv" in err and f"{len(TEXTS)}/{len(TEXTS)}" in err
    else:
        assert err == ""


def test_progress_bar_counts_every_row_in_slices(
    tiny_bert_classifier: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from distil_sdk.batch import _files

    updates: list[tuple[int | None, int]] = []

    class _Bar:
        def __init__(self, total: int | None) -> None:
            self.total = total

        def update(self, n: int) -> None:
            updates.append((self.total, n))

    class _Context:
        def __init__(self, progress: bool | None, total: int | None, desc: str) -> None:
            self.bar = _Bar(total) if progress else None

        def __enter__(self) -> _Bar | None:
            return self.bar

        def __exit__(self, *exc: object) -> None:
            return None

    monkeypatch.setattr(_files, "row_bar", _Context)
    source = _write_csv(tmp_path / "in.csv", TEXTS)
    options = {"batch_size": 4, "device": "cpu"}
    predict_file(
        tiny_bert_classifier, source, tmp_path / "o.jsonl", load_options=options, progress=True
    )
    # The total is known before the first row is predicted; slices of 8 forward passes.
    assert updates == [(35, 32), (35, 3)]


@pytest.mark.parametrize("suffix", [".csv", ".jsonl", ".parquet"])
def test_empty_texts_fail_naming_file_and_rows_before_anything_runs(
    tiny_bert_classifier: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, suffix: str
) -> None:
    texts = ["fine", "", "a shirt", "  \t ", *["ok"] * 5, *[""] * 12, "late"]
    source = tmp_path / f"in{suffix}"
    if suffix == ".csv":
        _write_csv(source, texts)
    elif suffix == ".jsonl":
        source.write_text("".join(json.dumps({"text": t}) + "\n" for t in texts))
    else:
        pq = pytest.importorskip("pyarrow.parquet")
        import pyarrow as pa

        pq.write_table(pa.table({"text": texts, "n": list(range(len(texts)))}), source)

    def never(*args: object, **kwargs: object) -> LocalClassifier:
        raise AssertionError("the model was loaded before the texts were checked")

    monkeypatch.setattr(LocalClassifier, "from_pretrained", never)
    out = tmp_path / "out" / "pred.jsonl"
    with pytest.raises(BatchInputError) as info:
        predict_file(tiny_bert_classifier, source, out)
    message = str(info.value)
    assert str(source) in message and "column 'text'" in message
    assert "14 row(s) have an empty or whitespace-only text" in message
    assert "rows 2, 4, 10, 11, 12, 13, 14, 15, 16, 17, ..." in message
    assert "drop those rows or fill in their text" in message
    assert not out.exists() and not out.parent.exists()  # nothing written, not even a folder


def test_null_text_is_still_named_before_empty_ones(
    tiny_bert_classifier: Path, tmp_path: Path
) -> None:
    source = tmp_path / "in.jsonl"
    rows = [{"text": "fine"}, {"text": ""}, {"text": None}]
    source.write_text("".join(json.dumps(r) + "\n" for r in rows))
    with pytest.raises(BatchInputError, match=r"row 3: the text is null"):
        predict_file(tiny_bert_classifier, source, tmp_path / "o.jsonl")


def test_truncation_is_reported_once_per_file(tiny_bert_classifier: Path, tmp_path: Path) -> None:
    long_text = "my card payment was charged a fee " * 40
    source = _write_csv(tmp_path / "long.csv", [long_text] * 20 + ["short"])
    options = {"batch_size": 2, "device": "cpu"}  # slices of 16 rows: two predict calls
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        predict_file(tiny_bert_classifier, source, tmp_path / "o.jsonl", load_options=options)
    truncation = [str(w.message) for w in caught if "truncated" in str(w.message)]
    assert len(truncation) == 1
    assert "long.csv" in truncation[0] and "20 text(s)" in truncation[0]
