"""The model card (README.md + confusion_matrix.png) written into a trained ``model/`` folder."""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path

import pytest

from distil_sdk.local import pipeline
from distil_sdk.local.training._card import write_model_card
from distil_sdk.types.task import JobDescription, TaskConfig
from test_pipeline import FAST, TEST, Recorder, _bundle


@pytest.fixture(autouse=True)
def _one_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DISTIL_TEACHER_BASE_URL", raising=False)
    monkeypatch.setenv("DISTIL_NUM_THREADS", "1")


def test_training_writes_a_model_card_and_confusion_matrix(
    tiny_bert_encoder: Path, tmp_path: Path
) -> None:
    pytest.importorskip("matplotlib")
    bundle = _bundle(tiny_bert_encoder)
    out = pipeline.run_training(bundle, tmp_path, Recorder(), options=FAST)
    card = (out.model_dir / "README.md").read_text(encoding="utf-8")
    assert card.startswith("---\nlibrary_name: transformers\n")
    assert bundle.job_description.task_description in card
    for label, description in bundle.job_description.classes_description.items():
        assert f"| `{label}` | {description} |" in card
    for name in ("teacher", "student-base", "student-tuned"):
        metrics = out.evaluation_results[name]
        row = f"| {name} | {metrics['accuracy']:.3f} | {metrics['macro avg']['f1-score']:.3f} |"
        assert row in card
    assert f"({len(TEST)} texts)" in card
    assert "LocalClassifier.from_pretrained" in card and 'pipeline("text-classification"' in card
    assert bundle.config.to_yaml(full=True).strip() in card
    assert "![confusion matrix of student-tuned](confusion_matrix.png)" in card
    png = (out.model_dir / "confusion_matrix.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 1000


def _inputs(tmp_path: Path) -> tuple[JobDescription, TaskConfig, dict[str, dict], Path]:
    job = JobDescription(
        task_description="Route bank requests.",
        classes_description={"cards": "Card issues | lost cards", "fees": "Fees"},
    )
    predictions = tmp_path / "student-tuned-predictions.jsonl"
    rows = [("cards", "cards"), ("fees", "cards"), ("fees", "fees")]
    predictions.write_text(
        "".join(json.dumps({"question": "t", "answer": g, "prediction": p}) + "\n" for g, p in rows)
    )
    tuned = {
        "accuracy": 2 / 3,
        "macro avg": {"f1-score": 0.667},
        "cards": {"precision": 0.5, "recall": 1.0, "f1-score": 0.667, "support": 1},
        "fees": {"precision": 1.0, "recall": 0.5, "f1-score": 0.667, "support": 2},
    }
    return job, TaskConfig(), {"student-tuned": tuned}, predictions


def test_without_matplotlib_the_png_is_skipped_with_a_log_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib -> ImportError
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    job, config, results, predictions = _inputs(tmp_path)
    with caplog.at_level(logging.INFO, logger="distil_sdk"):
        path = write_model_card(
            tmp_path, job=job, config=config, results=results, predictions=predictions
        )
    assert path == tmp_path / "README.md"
    card = path.read_text()
    assert not (tmp_path / "confusion_matrix.png").exists() and "confusion_matrix.png" not in card
    assert "distil-sdk[plot]" in caplog.text
    # Missing models show a dash; a '|' inside a description cannot break the table.
    assert "| teacher | - | - |" in card and "Card issues \\| lost cards" in card
    assert "| `fees` | 1.000 | 0.500 | 0.667 | 2 |" in card and "(3 texts)" in card


def test_a_card_that_cannot_be_written_never_fails_training(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    job, config, results, _ = _inputs(tmp_path)
    with caplog.at_level(logging.WARNING, logger="distil_sdk"):
        assert (
            write_model_card(
                tmp_path / "missing-dir",
                job=job,
                config=config,
                results=results,
                predictions=tmp_path / "no-such-predictions.jsonl",
            )
            is None
        )
    assert "could not write the model card" in caplog.text
