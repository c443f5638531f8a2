"""``_fake_pipeline`` with a prebuilt model, for the documentation snippets (``test_doc_snippets``).

Selected with ``DISTIL_LOCAL_PIPELINE=_doc_pipeline``. The docs train about ten times; building
the tiny model in each job's subprocess imports transformers every time (15 s on a busy 2-core
machine), so the trainings copy the folder named by ``DOC_PIPELINE_MODEL`` instead, built once
by the test with the task's labels. A task with other labels gets a freshly built model, as
``_fake_pipeline`` does.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import _fake_pipeline
import tiny_models
from _fake_pipeline import TEACHER_EVALUATION_STAGES, TRAINING_STAGES, run_teacher_evaluation
from distil_sdk.local.pipeline import ProgressFn, TrainingOutput

__all__ = ["TEACHER_EVALUATION_STAGES", "TRAINING_STAGES", "run_teacher_evaluation", "run_training"]

_build_tiny_bert = tiny_models.build_tiny_bert


def _copy_or_build(path: Path, labels: list[str] | None = None, **kwargs: Any) -> Path:
    prebuilt = os.environ.get("DOC_PIPELINE_MODEL")
    if prebuilt and labels is not None:
        config = json.loads((Path(prebuilt) / "config.json").read_text(encoding="utf-8"))
        id2label = config.get("id2label", {})
        if [id2label[str(i)] for i in range(len(id2label))] == list(labels):
            shutil.copytree(prebuilt, path)
            return path
    return _build_tiny_bert(path, labels, **kwargs)


def run_training(bundle: Any, work_dir: Path, progress: ProgressFn) -> TrainingOutput:
    """``_fake_pipeline.run_training``, whose model build (a call-time import) copies instead."""
    tiny_models.build_tiny_bert = _copy_or_build
    return _fake_pipeline.run_training(bundle, work_dir, progress)
