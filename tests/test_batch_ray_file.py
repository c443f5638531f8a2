"""``distil_sdk.batch.predict_file(engine="ray")`` and ``distil-sdk predict --engine ray`` on a
local Ray instance (2 CPUs) of this module's own: output files in input order, errors, quiet logs.

`test_batch_ray_dataset.py` has ``predict_dataset``; the two run side by side under
``pytest -n 2 --dist loadfile``.
"""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")

from _ray_batch_support import TEXTS
from distil_sdk.batch import BatchInputError, predict_file
from distil_sdk.cli import main

pytest_plugins = ["_ray_batch_support"]
pytestmark = pytest.mark.slow  # starts Ray: collected first (conftest)


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
    assert main([*argv, "--out", str(folder), "--engine", "ray", "--concurrency", "1"]) == 0
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
    assert main([*argv, "--engine", "ray", "--concurrency", "1"]) == 1
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
