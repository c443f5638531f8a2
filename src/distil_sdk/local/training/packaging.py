"""Writing the trained student as the platform's ``model/`` folder."""

from __future__ import annotations

import csv
import json
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING

from .distill import EpochLog
from .student import Student

if TYPE_CHECKING:
    from ...inference._calibration import Calibration

__all__ = ["LOG_COLUMNS", "save_model_dir"]

LOG_COLUMNS = [
    "stage",
    "epoch",
    "train_loss",
    "eval_loss",
    "eval_accuracy",
    "eval_macro_f1",
    "learning_rate",
    "seconds",
]


def save_model_dir(
    student: Student,
    out_dir: Path,
    logs: Sequence[EpochLog],
    job_description_json: str,
    *,
    calibration: Calibration | None = None,
) -> Path:
    """Save weights (safetensors), config with id2label/label2id, tokenizer, logs, job
    description and, when given, the calibration (``calibration.json``, which
    ``LocalClassifier`` applies to every probability).

    The folder loads with plain ``AutoModelForSequenceClassification.from_pretrained(out_dir)``.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    model = student.model
    model.config.id2label = dict(enumerate(student.labels))
    model.config.label2id = {label: i for i, label in enumerate(student.labels)}
    model.save_pretrained(out_dir, safe_serialization=True)
    # Keep the truncation the student was trained with, so inference matches training.
    student.tokenizer.model_max_length = student.max_length
    student.tokenizer.save_pretrained(out_dir)
    rows = [{k: v for k, v in asdict(log).items() if k in LOG_COLUMNS} for log in logs]
    with (out_dir / "training-logs.csv").open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=LOG_COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    (out_dir / "training-logs.json").write_text(json.dumps(rows, indent=2), encoding="utf-8")
    (out_dir / "job_description.json").write_text(job_description_json, encoding="utf-8")
    if calibration is not None:
        calibration.save(out_dir)
    return out_dir
