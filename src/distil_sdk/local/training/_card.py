"""The model card of a trained ``model/`` folder: ``README.md`` and ``confusion_matrix.png``.

Written at training time from what the pipeline already has (the job description, the config,
the three models' test-set metrics and the tuned student's test predictions), so a folder handed
to someone else explains itself. A card is a courtesy: failing to write it never fails a
training, it is logged instead.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ...types.task import JobDescription, TaskConfig

__all__ = ["CARD_FILE", "CONFUSION_MATRIX_FILE", "write_model_card"]

logger = logging.getLogger("distil_sdk")

CARD_FILE = "README.md"
CONFUSION_MATRIX_FILE = "confusion_matrix.png"
MODELS = (
    ("teacher", "the teacher the student learned from"),
    ("student-base", "the student fine-tuned on the labelled rows only"),
    ("student-tuned", "the student distilled from the teacher (this model)"),
)


def write_model_card(
    model_dir: Path,
    *,
    job: JobDescription,
    config: TaskConfig,
    results: Mapping[str, Mapping[str, Any]],
    predictions: Path | None,
    notes: Sequence[str] = (),
) -> Path | None:
    """Write ``README.md`` (and ``confusion_matrix.png`` when matplotlib is installed) into
    ``model_dir``; returns the card's path, or ``None`` when it could not be written."""
    try:
        gold, predicted = _read_predictions(predictions) if predictions else ([], [])
        has_plot = bool(gold) and _plot(model_dir, job.labels, gold, predicted)
        text = render_card(job, config, results, n_test=len(gold), with_plot=has_plot, notes=notes)
        path = Path(model_dir) / CARD_FILE
        path.write_text(text, encoding="utf-8")
        return path
    except Exception as exc:  # the trained weights matter more than their description
        logger.warning("could not write the model card in %s: %s", model_dir, exc)
        return None


def _read_predictions(path: Path) -> tuple[list[str], list[str]]:
    gold, predicted = [], []
    with Path(path).open(encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                row = json.loads(line)
                gold.append(str(row["answer"]))
                predicted.append(str(row["prediction"]))
    return gold, predicted


def _plot(model_dir: Path, labels: Sequence[str], gold: list[str], predicted: list[str]) -> bool:
    try:
        from matplotlib.figure import Figure
    except ImportError:
        logger.info(
            "matplotlib is not installed: no %s in the model folder "
            "(pip install 'distil-sdk[plot]')",
            CONFUSION_MATRIX_FILE,
        )
        return False
    from ...inference._report import EvaluationReport

    report = EvaluationReport.from_predictions(gold, predicted, labels)
    # A bare Figure, not pyplot: no global state and no display backend in the worker.
    size = max(4.0, 0.6 * len(labels) + 2.0)
    figure = Figure(figsize=(size + 1.0, size))
    report.plot(
        figure.subplots(),
        path=Path(model_dir) / CONFUSION_MATRIX_FILE,
        title=f"student-tuned on the test set: accuracy {report.accuracy:.3f}",
    )
    return True


def _cell(text: str) -> str:
    return " ".join(str(text).split()).replace("|", "\\|")


def _fmt(metrics: Mapping[str, Any] | None, key: str) -> str:
    if not metrics:
        return "-"
    value = metrics.get(key)
    if isinstance(value, Mapping):
        value = value.get("f1-score")
    return f"{value:.3f}" if isinstance(value, (int, float)) else "-"


def render_card(
    job: JobDescription,
    config: TaskConfig,
    results: Mapping[str, Mapping[str, Any]],
    *,
    n_test: int,
    with_plot: bool,
    notes: Sequence[str] = (),
) -> str:
    """The card's Markdown (YAML front matter the Hugging Face hub reads, then the sections)."""
    labels = job.labels
    student = config.base.student_model_name or "distil-sdk's default encoder (all-MiniLM-L6-v2)"
    teacher = config.base.teacher_model_name or "distil-sdk's embedded encoder teacher"
    lines = [
        "---",
        "library_name: transformers",
        "pipeline_tag: text-classification",
        "tags: [distil-sdk, text-classification, distillation]",
        "---",
        "",
        "# Text classifier",
        "",
        job.task_description.strip(),
        "",
        f"A sequence classifier over **{len(labels)} labels**, trained offline by "
        f"distil-sdk's local platform: student `{student}`, "
        f"distilled from teacher `{teacher}`.",
        "",
        "## Labels",
        "",
        "| label | description |",
        "| --- | --- |",
        *(f"| `{_cell(label)}` | {_cell(job.classes[label])} |" for label in labels),
        "",
        "## Results on the test set" + (f" ({n_test} texts)" if n_test else ""),
        "",
        "| model | accuracy | macro-F1 | what it is |",
        "| --- | --- | --- | --- |",
    ]
    for name, what in MODELS:
        metrics = results.get(name)
        lines.append(
            f"| {name} | {_fmt(metrics, 'accuracy')} | {_fmt(metrics, 'macro avg')} | {what} |"
        )
    tuned = results.get("student-tuned") or {}
    if all(isinstance(tuned.get(label), Mapping) for label in labels):
        lines += [
            "",
            "Per label (student-tuned):",
            "",
            "| label | precision | recall | F1 | support |",
            "| --- | --- | --- | --- | --- |",
        ]
        for label in labels:
            row = tuned[label]
            lines.append(
                f"| `{_cell(label)}` | {row['precision']:.3f} | {row['recall']:.3f} | "
                f"{row['f1-score']:.3f} | {int(row['support'])} |"
            )
    if with_plot:
        lines += ["", f"![confusion matrix of student-tuned]({CONFUSION_MATRIX_FILE})"]
    if notes:
        lines += ["", "## Training notes", "", *(f"- {note}" for note in notes)]
    lines += [
        "",
        "## How to use it",
        "",
        "With distil-sdk (`pip install 'distil-sdk[local]'`), from the folder holding `model/` "
        "(or give the path of this folder or of its tarball):",
        "",
        "```python",
        "from distil_sdk import LocalClassifier",
        "",
        'clf = LocalClassifier.from_pretrained("model")',
        'clf.predict(["some text"])          # array of labels',
        'clf.predict_proba(["some text"])    # one column per label, in clf.labels order',
        "```",
        "",
        "With transformers alone:",
        "",
        "```python",
        "from transformers import pipeline",
        "",
        'classify = pipeline("text-classification", model="model")',
        'classify("some text")',
        "```",
        "",
        "## Training configuration",
        "",
        "```yaml",
        config.to_yaml(full=True).rstrip(),
        "```",
        "",
        "`training-logs.csv` holds the per-epoch losses and validation scores; "
        "`job_description.json` the task definition above.",
        "",
    ]
    return "\n".join(lines)
