"""`distil-sdk evaluate`: `--text-column` / `--label-column`, and messages about the file the
user gave (not "the task")."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")

from distil_sdk.cli import main
from distil_sdk.inference import LocalClassifier

ROWS = [
    ("my card payment was charged a fee", "billing"),
    ("where is my new card", "cards"),
    ("a cotton shirt with long sleeves", "shopping"),
    ("why was I charged twice", "billing"),
]


def _csv(path: Path, header: str, rows: list[tuple[str, str]] = ROWS) -> Path:
    path.write_text(header + "\n" + "".join(f'"{t}",{label}\n' for t, label in rows))
    return path


def _last_line(err: str) -> str:
    assert "Traceback" not in err
    return err.rstrip("\n").splitlines()[-1]


@pytest.fixture(scope="module")
def want(tiny_bert_classifier: Path) -> float:
    texts, labels = zip(*ROWS, strict=True)
    clf = LocalClassifier.from_pretrained(tiny_bert_classifier)
    return clf.evaluate(list(texts), list(labels)).accuracy


def _accuracy(capsys: pytest.CaptureFixture[str], argv: list[str]) -> dict[str, object]:
    assert main(["--json", "evaluate", *argv]) == 0
    data: dict[str, object] = json.loads(capsys.readouterr().out)
    return data


@pytest.mark.parametrize(
    ("header", "options", "columns"),
    [
        ("question,answer", [], ["question", "answer"]),
        ("text,label", [], ["text", "label"]),
        (
            "body,category",
            ["--text-column", "body", "--label-column", "category"],
            ["body", "category"],
        ),
        # a file with both names: the options pick
        ("text,question", ["--label-column", "text"], ["question", "text"]),
    ],
)
def test_the_columns_read_are_the_defaults_or_the_named_ones(
    tiny_bert_classifier: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    want: float,
    header: str,
    options: list[str],
    columns: list[str],
) -> None:
    data = _csv(tmp_path / "test.csv", header)
    got = _accuracy(capsys, [str(tiny_bert_classifier), str(data), *options])
    assert [got["text_column"], got["label_column"]] == columns
    assert got["n_samples"] == len(ROWS)
    if columns == ["question", "text"]:
        return  # the labels are texts here: only the columns read are checked
    assert got["accuracy"] == want


def test_named_columns_work_in_jsonl_too(
    tiny_bert_classifier: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], want: float
) -> None:
    data = tmp_path / "test.jsonl"
    data.write_text("".join(json.dumps({"body": t, "cat": label}) + "\n" for t, label in ROWS))
    options = ["--text-column", "body", "--label-column", "cat"]
    assert _accuracy(capsys, [str(tiny_bert_classifier), str(data), *options])["accuracy"] == want


@pytest.mark.parametrize(
    ("header", "options", "says"),
    [
        (
            "body,category",
            [],
            "test.csv has no column 'question' or 'text' (its columns: 'body', 'category'); "
            "name the column with --text-column NAME",
        ),
        (
            "question,category",
            [],
            "test.csv has no column 'answer' or 'label' (its columns: 'question', 'category'); "
            "name the column with --label-column NAME",
        ),
        (
            "question,answer",
            ["--text-column", "body"],
            "test.csv has no column 'body' (its columns: 'question', 'answer'); "
            "name the column with --text-column NAME",
        ),
    ],
)
def test_a_missing_column_names_the_file_and_the_option(
    tiny_bert_classifier: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    header: str,
    options: list[str],
    says: str,
) -> None:
    data = _csv(tmp_path / "test.csv", header)
    assert main(["evaluate", str(tiny_bert_classifier), str(data), *options]) == 2
    err = capsys.readouterr().err
    assert err.startswith("usage: distil-sdk evaluate")
    assert _last_line(err) == f"distil-sdk evaluate: error: {says}"
    assert "task" not in err


def test_unreadable_rows_stop_the_run_with_the_file_named(
    tiny_bert_classifier: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "test.csv"
    data.write_text('question,answer\nmy card,cards\na fee,\n"never closed,billing\n')
    assert main(["evaluate", str(tiny_bert_classifier), str(data)]) == 2
    err = capsys.readouterr().err
    assert "empty_label  test.csv  3" in err and "csv_syntax" in err
    assert _last_line(err) == (
        "error: test.csv is invalid (2 errors, 0 warnings); fix the errors above and try again"
    )
    assert "task" not in err


def test_a_file_without_rows_says_so(
    tiny_bert_classifier: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = _csv(tmp_path / "test.csv", "question,answer", rows=[])
    assert main(["evaluate", str(tiny_bert_classifier), str(data)]) == 2
    assert _last_line(capsys.readouterr().err) == (
        "distil-sdk evaluate: error: test.csv has no rows to evaluate; add labelled rows"
    )


def test_parquet_with_named_columns(
    tiny_bert_classifier: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], want: float
) -> None:
    pd = pytest.importorskip("pandas")
    pytest.importorskip("pyarrow")
    data = tmp_path / "test.parquet"
    pd.DataFrame(ROWS, columns=["body", "cat"]).to_parquet(data)
    options = ["--text-column", "body", "--label-column", "cat"]
    assert _accuracy(capsys, [str(tiny_bert_classifier), str(data), *options])["accuracy"] == want
    assert main(["evaluate", str(tiny_bert_classifier), str(data)]) == 2
    assert "test.parquet has no column 'question' or 'text'" in capsys.readouterr().err
