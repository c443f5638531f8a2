"""A stand-in for ``distil_sdk.local.pipeline`` used by the local server tests.

Selected with ``DISTIL_LOCAL_PIPELINE=_fake_pipeline`` (``tests/`` on ``PYTHONPATH``). It
satisfies the `distil_sdk.local.pipeline.Pipeline` protocol (``tests/test_pipeline_protocol.py``
checks it), predicts the gold label, and writes a real tiny model. It has no ``label_texts``:
relabelling jobs use the real pipeline's teacher. Controls:

- ``FAKE_PIPELINE_GATE``: a file path; each job reports its first stage as running and then
  blocks until that file exists (so tests can stop or restart mid-job deterministically);
- ``FAKE_PIPELINE_FAIL``: a message to raise with instead of succeeding;
- ``FAKE_PIPELINE_PIDFILE``: where to write this process's pid;
- ``FAKE_PIPELINE_EPOCH_GATE``: a file path; a training logs the first of its
  ``FAKE_EPOCHS`` student-base epoch lines, then blocks until that file exists (so a test can
  see the job's log grow while it waits).

The student stages log one line per epoch into the job's log the way the real training loop
does (`distil_sdk.local._jobs.epochs.epoch_line`).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from distil_sdk._metrics import classification_report
from distil_sdk.local._jobs.epochs import epoch_line

# The real pipeline's result types and callback type: the fake must not drift from the contract.
from distil_sdk.local.pipeline import ProgressFn, TeacherEvaluationOutput, TrainingOutput

TEACHER_EVALUATION_STAGES = ["load", "teacher-evaluation"]
TRAINING_STAGES = ["load", "teacher-labelling", "student-base", "student-tuned", "export"]
FAKE_EPOCHS = 2

logger = logging.getLogger("distil_sdk")


def _start(progress: ProgressFn) -> None:
    if pidfile := os.environ.get("FAKE_PIPELINE_PIDFILE"):
        Path(pidfile).write_text(str(os.getpid()))
    progress("load", "JOB_RUNNING", "reading the task")
    gate = os.environ.get("FAKE_PIPELINE_GATE")
    while gate and not Path(gate).exists():
        time.sleep(0.05)
    if message := os.environ.get("FAKE_PIPELINE_FAIL"):
        raise RuntimeError(message)
    progress("load", "JOB_SUCCESS", "")


def _predict(bundle: Any, path: Path) -> dict[str, Any]:
    labels = bundle.job_description.labels
    with path.open("w", encoding="utf-8") as out:
        for text, gold in zip(bundle.test.texts, bundle.test.labels, strict=True):
            scores = {label: float(label == gold) for label in labels}
            row = {"question": text, "answer": gold, "prediction": gold, "scores": scores}
            out.write(json.dumps(row) + "\n")
    return classification_report(bundle.test.labels, bundle.test.labels, labels)


def _epochs(stage: str) -> None:
    durations: list[float] = []
    for epoch in range(1, FAKE_EPOCHS + 1):
        durations.append(2.0)  # made up: the line is what is under test, not the time
        loss = 1.0 / (epoch + 1)
        logger.info("%s", epoch_line(stage, epoch, FAKE_EPOCHS, loss, durations, 1.0))
        gate = os.environ.get("FAKE_PIPELINE_EPOCH_GATE")
        while stage == "student-base" and epoch == 1 and gate and not Path(gate).exists():
            time.sleep(0.05)


def run_teacher_evaluation(
    bundle: Any, work_dir: Path, progress: ProgressFn
) -> TeacherEvaluationOutput:
    _start(progress)
    progress("teacher-evaluation", "JOB_RUNNING", "predicting")
    path = work_dir / "predictions.jsonl"
    results = _predict(bundle, path)
    progress("teacher-evaluation", "JOB_SUCCESS", "done")
    return TeacherEvaluationOutput(results=results, predictions_path=path)


def _tiny_model(path: Path, labels: list[str]) -> Path:
    """A tiny BERT classifier with ``labels`` at ``path``.

    Building one imports torch and transformers (about 5 s of CPU in each job's subprocess), so
    with ``FAKE_PIPELINE_MODEL_CACHE`` set (``conftest.py`` sets it for the session) the first
    job with these labels builds it into the cache and every later one copies it.
    """
    import tiny_models  # build_tiny_bert is looked up at call time: _doc_pipeline swaps it

    cache = os.environ.get("FAKE_PIPELINE_MODEL_CACHE")
    if not cache:
        return tiny_models.build_tiny_bert(path, labels)
    entry = Path(cache) / hashlib.sha256(json.dumps(labels).encode()).hexdigest()[:16]
    if not entry.is_dir():
        Path(cache).mkdir(parents=True, exist_ok=True)
        build = Path(tempfile.mkdtemp(dir=cache, prefix=".build-"))
        try:
            tiny_models.build_tiny_bert(build / "model", labels)
            os.rename(build / "model", entry)  # atomic; a concurrent job's copy may win
        except OSError:
            if not entry.is_dir():
                raise
        finally:
            shutil.rmtree(build, ignore_errors=True)
    shutil.copytree(entry, path)
    return path


def run_training(bundle: Any, work_dir: Path, progress: ProgressFn) -> TrainingOutput:
    _start(progress)
    results: dict[str, dict[str, Any]] = {}
    predictions: dict[str, Path] = {}
    for stage, key in (
        ("teacher-labelling", "teacher"),
        ("student-base", "student-base"),
        ("student-tuned", "student-tuned"),
    ):
        progress(stage, "JOB_RUNNING", "working")
        if stage.startswith("student"):
            _epochs(stage)
        predictions[key] = work_dir / f"{key}.jsonl"
        results[key] = _predict(bundle, predictions[key])
        progress(stage, "JOB_SUCCESS", "done")
    progress("export", "JOB_RUNNING", "saving the model")
    model_dir = _tiny_model(work_dir / "model", bundle.job_description.labels)
    (model_dir / "training-logs.json").write_text("[]")
    (model_dir / "training-logs.csv").write_text("epoch,loss\n")
    (model_dir / "job_description.json").write_text(bundle.job_description.model_dump_json())
    progress("export", "JOB_SUCCESS", "done")
    return TrainingOutput(evaluation_results=results, predictions=predictions, model_dir=model_dir)
