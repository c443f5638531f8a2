"""`distil-sdk validate`, `evaluate`, `--version`, `--json` and argparse-style usage errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import TINY_LABELS
from distil_sdk import __version__
from distil_sdk.cli import _json_first, main

ROWS = [
    ("my card payment was charged a fee", "billing"),
    ("where is my new card", "cards"),
    ("a cotton shirt with long sleeves", "shopping"),
    ("why was I charged twice", "billing"),
    ("my card does not work abroad", "cards"),
    ("the novel tells the story of a family", "shopping"),
]


def _task(root: Path, *, bad: bool = False) -> Path:
    root.mkdir()
    (root / "job_description.json").write_text(
        json.dumps(
            {
                "task_description": "Classify shop and bank messages",
                "classes_description": {
                    "billing": "charges and fees",
                    "cards": "bank cards",
                    "shopping": "things to buy",
                },
            }
        )
    )
    rows = [*ROWS, ("what is the weather", "weather")] if bad else ROWS
    (root / "train.csv").write_text("question,answer\n" + "".join(f'"{q}",{a}\n' for q, a in rows))
    (root / "test.csv").write_text(
        "question,answer\n" + "".join(f'"{q} please",{a}\n' for q, a in ROWS)
    )
    return root


def _one_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert "Traceback" not in err
    return lines[0]


def _usage_error(err: str, command: str) -> str:
    """argparse's form: the command's usage, then ``distil-sdk COMMAND: error: MESSAGE``."""
    prog = f"distil-sdk {command}".strip()
    assert "Traceback" not in err
    assert err.startswith(f"usage: {prog} "), err
    last = err.rstrip("\n").splitlines()[-1]
    assert last.startswith(f"{prog}: error: "), err
    return last.removeprefix(f"{prog}: error: ")


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"distil-sdk {__version__}"


def test_validate_a_valid_task(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    task = _task(tmp_path / "task")
    assert main(["validate", str(task)]) == 0
    out = capsys.readouterr().out
    assert f"{task}: valid (6 train / 6 test / 0 unlabelled rows, 3 classes)" in out


def test_validate_an_invalid_task_lists_findings_and_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    task = _task(tmp_path / "task", bad=True)
    assert main(["validate", str(task)]) == 2
    out = capsys.readouterr().out
    assert "error" in out and "weather" in out and "train.csv" in out
    assert "invalid - fix the errors above" in out


@pytest.mark.parametrize(
    "argv",
    [
        ["validate", "{task}", "--json"],
        ["--json", "validate", "{task}"],
        ["--output", "json", "validate", "{task}"],
    ],
)
def test_validate_json_puts_the_result_on_stdout_and_findings_on_stderr(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str]
) -> None:
    task = _task(tmp_path / "task", bad=True)
    assert main([a.format(task=task) for a in argv]) == 2
    captured = capsys.readouterr()
    data = json.loads(captured.out)  # stdout is exactly one JSON document
    assert data["ok"] is False and data["errors"] >= 1
    assert data["labels"] == TINY_LABELS and data["train_rows"] == 7
    finding = next(f for f in data["findings"] if f["severity"] == "error")
    assert finding["file"] == "train.csv" and "weather" in finding["message"]
    assert "weather" in captured.err  # the findings table, for the person watching


def test_unreadable_task_in_json_mode_still_prints_a_json_document(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    task = _task(tmp_path / "task")
    (task / "job_description.json").unlink()
    assert main(["validate", str(task), "--json"]) == 2
    captured = capsys.readouterr()
    data = json.loads(captured.out)
    assert data["ok"] is False and data["exit_code"] == 2
    assert any(f["file"] == "job_description.json" for f in data["findings"])
    assert "job_description.json" in captured.err


def test_usage_errors_print_the_usage_and_the_message(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["validate", str(tmp_path / "nowhere")]) == 2
    assert "not a folder" in _usage_error(capsys.readouterr().err, "validate")
    assert main(["validate"]) == 2
    assert "TASK_DIR" in _usage_error(capsys.readouterr().err, "validate")
    assert main(["--json", "validate", str(tmp_path / "nowhere")]) == 2
    captured = capsys.readouterr()
    assert json.loads(captured.out)["error"].endswith("not a folder (expected a task folder)")
    assert "not a folder" in _usage_error(captured.err, "validate")


def test_json_flag_moves_before_the_command_but_never_past_a_double_dash() -> None:
    assert _json_first(["models", "list", "--json"]) == ["--json", "models", "list"]
    assert _json_first(["predict", "m", "--", "--json"]) == ["predict", "m", "--", "--json"]
    assert _json_first(["validate", "x"]) == ["validate", "x"]


# -- commands that load a model -----------------------------------------------------------

pytest.importorskip("torch")


def _labelled(path: Path) -> Path:
    path.write_text("question,answer\n" + "".join(f'"{q}",{a}\n' for q, a in ROWS))
    return path


def test_evaluate_prints_the_report_and_the_confusion_matrix(
    tiny_bert_classifier: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from distil_sdk.inference import LocalClassifier

    data = _labelled(tmp_path / "test.csv")
    want = LocalClassifier.from_pretrained(tiny_bert_classifier).evaluate(data)
    assert main(["evaluate", str(tiny_bert_classifier), str(data)]) == 0
    out = capsys.readouterr().out
    assert f"accuracy: {want.accuracy:.3f} on 6 texts" in out
    assert "confusion matrix (rows: gold, columns: predicted)" in out
    first = want.confusion_matrix[0]
    assert any(line.split() == ["billing", *map(str, first)] for line in out.splitlines())

    assert main(["evaluate", str(tiny_bert_classifier), str(data), "--json"]) == 0
    got = json.loads(capsys.readouterr().out)
    assert got["accuracy"] == want.accuracy
    assert got["confusion_matrix"] == want.confusion_matrix and got["labels"] == TINY_LABELS


def test_evaluate_plot_draws_a_png(
    tiny_bert_classifier: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("matplotlib")
    data = _labelled(tmp_path / "test.csv")
    png = tmp_path / "plots" / "cm.png"
    assert main(["evaluate", str(tiny_bert_classifier), str(data), "--plot", str(png)]) == 0
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert f"drawn into {png}" in capsys.readouterr().err
    assert main(["evaluate", str(tiny_bert_classifier), str(data), "--plot", "cm.txt"]) == 2
    assert ".png" in _usage_error(capsys.readouterr().err, "evaluate")
    assert main(["evaluate", str(tiny_bert_classifier), str(tmp_path / "none.csv")]) == 2
    assert "no such file" in _usage_error(capsys.readouterr().err, "evaluate")


def test_predict_top_k_zero_is_a_usage_error(
    tiny_bert_classifier: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["predict", str(tiny_bert_classifier), "a text", "--top-k", "0"]) == 2
    line = _usage_error(capsys.readouterr().err, "predict")
    assert "--top-k must be >= 1, got 0" in line
    assert main(["predict", str(tiny_bert_classifier), "a text", "--top-k", "two"]) == 2
    assert "invalid int value: 'two'" in _usage_error(capsys.readouterr().err, "predict")


def test_predict_warns_when_a_text_is_an_existing_file(
    tiny_bert_classifier: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = _labelled(tmp_path / "test.csv")
    assert main(["--json", "predict", str(tiny_bert_classifier), str(data), "a shirt"]) == 0
    captured = capsys.readouterr()
    assert f"--input {data}" in captured.err and "classified here as a text" in captured.err
    rows = json.loads(captured.out)
    assert [r["text"] for r in rows] == [str(data), "a shirt"]
    assert "a shirt" not in captured.err  # only the path is warned about


def test_evaluate_plot_without_matplotlib_fails_before_loading(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib -> ImportError
    data = _labelled(tmp_path / "test.csv")
    # The model path does not exist: the missing extra is reported first, in one line.
    code = main(["evaluate", str(tmp_path / "no-model"), str(data), "--plot", "cm.png"])
    assert code == 1
    assert "pip install 'distil-sdk[plot]'" in _one_line(capsys.readouterr().err)
