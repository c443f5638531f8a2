"""`distil-sdk predict --input ...`: `--progress` / `--no-progress` and `--ray-log-level`."""

from __future__ import annotations

import csv
import sys
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")

import distil_sdk.batch
from _streams import TtyStream
from distil_sdk.cli import main

TEXTS = ["my card payment was charged a fee", "a cotton shirt with long sleeves"]


@pytest.fixture(autouse=True)
def _progress_rule(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DISTIL_NO_PROGRESS", raising=False)
    monkeypatch.delenv("DISTIL_RAY_LOG_LEVEL", raising=False)
    monkeypatch.delitem(sys.modules, "ipykernel", raising=False)


@pytest.fixture()
def tickets(tmp_path: Path) -> Path:
    path = tmp_path / "tickets.csv"
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "text"])
        writer.writerows(enumerate(TEXTS))
    return path


@pytest.fixture()
def calls(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """What the CLI passes to `predict_file` (replaced: no model loads, no Ray starts)."""
    seen: list[dict[str, Any]] = []

    def record(model: Any, input_path: Any, out_path: Any, **kwargs: Any) -> int:
        seen.append(kwargs)
        return len(TEXTS)

    monkeypatch.setattr(distil_sdk.batch, "predict_file", record)
    return seen


@pytest.mark.parametrize(
    ("flags", "progress"), [([], None), (["--progress"], True), (["--no-progress"], False)]
)
def test_progress_flags_reach_predict_file(
    tiny_bert_classifier: Path,
    tickets: Path,
    tmp_path: Path,
    calls: list[dict[str, Any]],
    flags: list[str],
    progress: bool | None,
) -> None:
    out = tmp_path / "out.jsonl"
    argv = ["predict", str(tiny_bert_classifier), "--input", str(tickets), "--out", str(out)]
    assert main([*argv, *flags]) == 0
    # None: the library's own default (a bar on a terminal or in a notebook only).
    assert calls[-1]["progress"] is progress
    assert "ray_log_level" not in calls[-1]  # the local engine starts no Ray


@pytest.mark.parametrize(("flags", "level"), [([], None), (["--ray-log-level", "INFO"], "INFO")])
def test_ray_log_level_reaches_predict_file_on_ray(
    tiny_bert_classifier: Path,
    tickets: Path,
    tmp_path: Path,
    calls: list[dict[str, Any]],
    flags: list[str],
    level: str | None,
) -> None:
    argv = ["predict", str(tiny_bert_classifier), "--input", str(tickets), "--engine", "ray"]
    assert main([*argv, "--out", str(tmp_path / "o.jsonl"), "--no-progress", *flags]) == 0
    # None: predict_file reads $DISTIL_RAY_LOG_LEVEL, else WARNING.
    assert calls[-1]["ray_log_level"] == level and calls[-1]["progress"] is False


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--ray-log-level", "INFO"], "--ray-log-level need --engine ray"),
        (
            ["--engine", "ray", "--ray-log-level", "loud"],
            "--ray-log-level loud: not a log level; use DEBUG, INFO, WARNING or ERROR",
        ),
    ],
)
def test_ray_log_level_usage_errors_before_anything_runs(
    tiny_bert_classifier: Path,
    tickets: Path,
    tmp_path: Path,
    calls: list[dict[str, Any]],
    capsys: pytest.CaptureFixture[str],
    flags: list[str],
    message: str,
) -> None:
    argv = ["predict", str(tiny_bert_classifier), "--input", str(tickets)]
    assert main([*argv, "--out", str(tmp_path / "o.jsonl"), *flags]) == 2
    assert message in capsys.readouterr().err
    assert calls == []


@pytest.mark.parametrize(
    ("flag", "tty", "shown"), [("--progress", False, True), ("--no-progress", True, False)]
)
def test_progress_flag_decides_the_bar_of_a_real_run(
    tiny_bert_classifier: Path,
    tickets: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    flag: str,
    tty: bool,
    shown: bool,
) -> None:
    stream = TtyStream(tty)
    monkeypatch.setattr(sys, "stderr", stream)
    out = tmp_path / "out.csv"
    argv = ["predict", str(tiny_bert_classifier), "--input", str(tickets), "--out", str(out)]
    assert main([*argv, flag]) == 0
    bar = (
        "tickets.csv: 100%" in stream.getvalue()
        and f"{len(TEXTS)}/{len(TEXTS)}" in stream.getvalue()
    )
    assert bar is shown, stream.getvalue()
    assert out.is_file()
