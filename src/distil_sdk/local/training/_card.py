"""The model card of a trained ``model/`` folder: ``README.md``, ``confusion_matrix.png`` and
``reliability.png``.

Written at training time from what the pipeline already has (the job description, the config,
the three models' test-set metrics and the tuned student's test predictions), so a folder handed
to someone else explains itself. A card is a courtesy: failing to write it never fails a
training, it is logged instead.

The card says what this run used and nothing else: the settings the local trainer applied
(`RunFacts`, when the pipeline passes them) and the keys of ``config.yaml`` that were set,
split into those the run read and those it ignored. Platform defaults the local run never
looked at (``use_lora``, ``train_generation_target``...) are not written at all.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from ..._titles import card_title

if TYPE_CHECKING:
    from ...inference._calibration import Calibration
    from ...types.task import JobDescription, TaskConfig
    from .distill import TrainSettings
    from .student import Student

__all__ = [
    "CARD_FILE",
    "CONFUSION_MATRIX_FILE",
    "RELIABILITY_FILE",
    "TRAINER_CONFIG_KEYS",
    "RunFacts",
    "card_title",
    "render_card",
    "run_facts",
    "write_model_card",
]

logger = logging.getLogger("distil_sdk")

CARD_FILE = "README.md"
CONFUSION_MATRIX_FILE = "confusion_matrix.png"
RELIABILITY_FILE = "reliability.png"
MODELS = (
    ("teacher", "the teacher the student learned from"),
    ("student-base", "the student fine-tuned on the labelled rows only"),
    ("student-tuned", "the student distilled from the teacher (this model)"),
)
DEFAULT_STUDENT = "all-MiniLM-L6-v2 (bundled with distil-sdk)"

#: The ``config.yaml`` keys the local student training reads (``pipeline.train_settings``,
#: ``split_gold``, ``build_student``, the seeds); the teacher's keys come from the teacher
#: (`distil_sdk.local.teachers.teacher_config_keys`). Everything else is ignored locally.
TRAINER_CONFIG_KEYS: frozenset[str] = frozenset(
    {
        "base.task",
        "base.student_model_name",
        "base.random_seed",
        "tuning.learning_rate",
        "tuning.learning_rate_scheduler",
        "tuning.weight_decay",
        "tuning.warmup_ratio",
        "tuning.per_device_train_batch_size",
        "tuning.num_train_epochs",
        "tuning.train_eval_split",
    }
)


@dataclass(frozen=True)
class RunFacts:
    """What one local training run actually used, as its model card reports it.

    Attributes:
        student_model: The encoder the student was built on (``base.student_model_name`` or
            the bundled default).
        max_length: The student's truncation, in word pieces.
        teacher: The teacher, as `distil_sdk.local.teachers.teacher_description` names it.
        stages: The `TrainSettings` each stage trained with, as applied (epochs cut, learning
            rate scaled), keyed by stage: ``"student-base"``, ``"student-tuned"``.
        gold_rows: Labelled rows trained on.
        held_out_rows: Labelled rows held out to pick each stage's best epoch.
        unlabelled_rows: Unlabelled texts the teacher labelled for the distillation.
        synthetic_rows: Texts the teacher wrote (and labelled) for the distillation.
        seed: The run's random seed.
        config_keys: The dotted ``config.yaml`` keys the run read (trainer and teacher).
    """

    student_model: str
    max_length: int
    teacher: str
    stages: Mapping[str, TrainSettings]
    gold_rows: int
    held_out_rows: int
    unlabelled_rows: int
    synthetic_rows: int
    seed: int
    config_keys: frozenset[str] = field(default=TRAINER_CONFIG_KEYS)


def run_facts(
    *,
    config: TaskConfig,
    student: Student,
    teacher: object,
    stages: Mapping[str, TrainSettings],
    gold_rows: int,
    held_out_rows: int,
    unlabelled_rows: int,
    synthetic_rows: int,
) -> RunFacts:
    """`RunFacts` from the objects the pipeline holds at the end of a training.

    Args:
        config: The task's config.
        student: The saved (tuned) student; its truncation is reported.
        teacher: The teacher (may be closed already: only its attributes are read).
        stages: The `TrainSettings` objects each stage trained with, after every change the
            pipeline made to them, keyed by stage name.
        gold_rows: Labelled rows trained on.
        held_out_rows: Labelled rows held out for choosing the best epoch.
        unlabelled_rows: Unlabelled texts the teacher labelled for the distillation.
        synthetic_rows: Texts the teacher wrote for the distillation.

    Returns:
        The facts to pass to `write_model_card` as ``run``.
    """
    from ..teachers import teacher_config_keys, teacher_description

    seeds = [settings.seed for settings in stages.values()]
    return RunFacts(
        student_model=config.base.student_model_name or DEFAULT_STUDENT,
        max_length=int(student.max_length),
        teacher=teacher_description(teacher),
        stages=dict(stages),
        gold_rows=gold_rows,
        held_out_rows=held_out_rows,
        unlabelled_rows=unlabelled_rows,
        synthetic_rows=synthetic_rows,
        seed=seeds[0] if seeds else int(config.base.random_seed or 0),
        config_keys=TRAINER_CONFIG_KEYS | teacher_config_keys(teacher, config),
    )


def write_model_card(
    model_dir: Path,
    *,
    job: JobDescription,
    config: TaskConfig,
    results: Mapping[str, Mapping[str, Any]],
    predictions: Path | None,
    notes: Sequence[str] = (),
    run: RunFacts | None = None,
    name: str | None = None,
    calibration: Calibration | None = None,
) -> Path | None:
    """Write ``README.md`` (and ``confusion_matrix.png`` and ``reliability.png`` when
    matplotlib is installed).

    Args:
        model_dir: The ``model/`` folder.
        job: The task's job description.
        config: The task's config.
        results: Test-set metrics per model (``"teacher"``, ``"student-base"``,
            ``"student-tuned"``).
        predictions: The tuned student's test predictions (JSONL), for the confusion matrix.
        notes: Findings of the training, one bullet each.
        run: What the run used (see `run_facts`); without it the card states only what the
            config and the job description say.
        name: A human name for the title (a model's or dataset's name); a bare id is ignored.
        calibration: The calibration saved with the model (``calibration.json``): the card
            compares the test set's raw and calibrated probabilities.

    Returns:
        The card's path, or ``None`` when it could not be written.
    """
    try:
        gold, predicted, scores = _read_predictions(predictions) if predictions else ([], [], [])
        has_plot = bool(gold) and _plot(model_dir, job.labels, gold, predicted)
        figures = _calibration_figures(job.labels, gold, scores, calibration)
        if figures is not None and _plot_reliability(model_dir, figures):
            figures["plot"] = True
        text = render_card(
            job,
            config,
            results,
            n_test=len(gold),
            with_plot=has_plot,
            notes=notes,
            run=run,
            name=name,
            calibration=figures,
        )
        path = Path(model_dir) / CARD_FILE
        path.write_text(text, encoding="utf-8")
        return path
    except Exception as exc:  # the trained weights matter more than their description
        logger.warning("could not write the model card in %s: %s", model_dir, exc)
        return None


def _read_predictions(path: Path) -> tuple[list[str], list[str], list[dict[str, float]]]:
    gold, predicted, scores = [], [], []
    with Path(path).open(encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                row = json.loads(line)
                gold.append(str(row["answer"]))
                predicted.append(str(row["prediction"]))
                scores.append(dict(row.get("scores") or {}))
    return gold, predicted, scores


def _calibration_figures(
    labels: Sequence[str],
    gold: Sequence[str],
    scores: Sequence[Mapping[str, float]],
    calibration: Calibration | None,
) -> dict[str, Any] | None:
    """The test set's ECE, mean confidence and reliability bins, raw and calibrated; ``None``
    without a calibration or without every label's score on every row."""
    if calibration is None or not gold or any(set(labels) - set(row) for row in scores):
        return None
    import numpy as np

    from ...inference._calibration import reliability_bins

    index = {label: i for i, label in enumerate(labels)}
    known = [i for i, label in enumerate(gold) if label in index]
    raw = np.array([[float(scores[i][label]) for label in labels] for i in known])
    y = [index[gold[i]] for i in known]
    out: dict[str, Any] = {"calibration": calibration, "rows": len(known), "plot": False}
    for name, probs in (("raw", raw), ("calibrated", calibration.apply(raw))):
        bins = reliability_bins(probs, y)
        out[name] = {
            "bins": bins,
            "ece": sum(b.count * abs(b.accuracy - b.confidence) for b in bins) / len(known),
            "confidence": float(probs.max(axis=1).mean()),
            "accuracy": float((probs.argmax(axis=1) == np.array(y)).mean()),
        }
    return out


def _plot_reliability(model_dir: Path, figures: Mapping[str, Any]) -> bool:
    try:
        from matplotlib.figure import Figure
    except ImportError:
        return False  # _plot said already that matplotlib is missing
    from ...inference._report import plot_reliability

    after = figures["calibrated"]
    plot_reliability(
        after["bins"],
        ax=Figure(figsize=(5.0, 5.0)).subplots(),
        path=Path(model_dir) / RELIABILITY_FILE,
        title=f"student-tuned on the test set, calibrated: ECE {after['ece']:.3f}",
    )
    return True


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
    run: RunFacts | None = None,
    name: str | None = None,
    calibration: Mapping[str, Any] | None = None,
) -> str:
    """The card's Markdown (YAML front matter the Hugging Face hub reads, then the sections).

    Args:
        job: The task's job description (title, description, labels).
        config: The task's config; only the keys that were set are written.
        results: Test-set metrics per model.
        n_test: Test rows behind the metrics (``0``: unknown).
        with_plot: Link ``confusion_matrix.png``.
        notes: Findings of the training.
        run: What the run used (see `run_facts`).
        name: A human name for the title (see `card_title`).
        calibration: The test set's calibration figures (see `write_model_card`).

    Returns:
        The Markdown text.
    """
    lines = [
        "---",
        "library_name: transformers",
        "pipeline_tag: text-classification",
        "tags: [distil-sdk, text-classification, distillation]",
        "---",
        "",
        f"# {card_title(job, name)}",
        "",
        job.task_description.strip(),
        "",
        _summary(job, config, run),
        "",
        *_labels_section(job),
        *_results_section(job.labels, results, n_test, with_plot),
        *_calibration_section(calibration),
    ]
    if notes:
        lines += ["", "## Training notes", "", *(f"- {note}" for note in notes)]
    lines += _usage_section()
    lines += _training_section(run, config)
    lines += _config_section(config, run.config_keys if run else None)
    lines += [
        "",
        "`training-logs.csv` holds the per-epoch losses and validation scores; "
        "`job_description.json` the task definition above.",
        "",
    ]
    return "\n".join(lines)


def _summary(job: JobDescription, config: TaskConfig, run: RunFacts | None) -> str:
    student = run.student_model if run else config.base.student_model_name or DEFAULT_STUDENT
    if run:
        teacher = run.teacher
    elif config.base.teacher_model_name:
        teacher = f"the teacher `{config.base.teacher_model_name}`"
    else:
        teacher = "the local platform's default teacher"
    return (
        f"A sequence classifier over **{len(job.labels)} labels**, trained offline by "
        f"distil-sdk's local platform: the student `{student}` with a classification head, "
        f"its encoder layers and head fine-tuned (no LoRA adapter), distilled from {teacher}."
    )


def _labels_section(job: JobDescription) -> list[str]:
    return [
        "## Labels",
        "",
        "| label | description |",
        "| --- | --- |",
        *(f"| `{_cell(label)}` | {_cell(job.classes[label])} |" for label in job.labels),
        "",
    ]


def _results_section(
    labels: Sequence[str],
    results: Mapping[str, Mapping[str, Any]],
    n_test: int,
    with_plot: bool,
) -> list[str]:
    lines = [
        "## Results on the test set" + (f" ({n_test} texts)" if n_test else ""),
        "",
        "| model | accuracy | macro-F1 | what it is |",
        "| --- | --- | --- | --- |",
    ]
    for model, what in MODELS:
        metrics = results.get(model)
        lines.append(
            f"| {model} | {_fmt(metrics, 'accuracy')} | {_fmt(metrics, 'macro avg')} | {what} |"
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
    return lines


def _calibration_section(figures: Mapping[str, Any] | None) -> list[str]:
    """The test set's ECE before and after the saved calibration, and the diagram."""
    if figures is None:
        return []
    calibration: Calibration = figures["calibration"]
    applied = (
        "leaves the probabilities as the model gives them"
        if calibration.is_identity
        else f"divides the logits by the temperature {calibration.temperature:.3f}"
    )
    lines = [
        "",
        "## Calibration",
        "",
        f"`calibration.json` {applied}; `LocalClassifier` applies it to every probability "
        "(`calibrate=False` gives the raw ones). "
        + (f"Fitted on {_cell(calibration.source)}: " if calibration.source else "")
        + f"{_cell(calibration.reason)}.",
        "",
        f"On the test set ({figures['rows']} texts; ECE over 10 equal-width bins of the top "
        "probability):",
        "",
        "| probabilities | ECE | mean confidence | accuracy |",
        "| --- | --- | --- | --- |",
    ]
    for name in ("raw", "calibrated"):
        row = figures[name]
        lines.append(
            f"| {name} | {row['ece']:.3f} | {row['confidence']:.3f} | {row['accuracy']:.3f} |"
        )
    if figures.get("plot"):
        lines += ["", f"![reliability diagram, calibrated]({RELIABILITY_FILE})"]
    return lines


def _usage_section() -> list[str]:
    return [
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
    ]


def _training_section(run: RunFacts | None, config: TaskConfig) -> list[str]:
    """What the run trained with: the facts and one column of settings per stage."""
    lines = ["", "## How it was trained", ""]
    if run is None:
        seed = config.base.random_seed or 0
        return [
            *lines,
            f"- Seed: {seed}.",
            "- The settings each stage applied were not recorded with this card; "
            "`training-logs.csv` lists the epochs that ran.",
        ]
    held_out = (
        f" ({run.held_out_rows} more held out to keep each stage's best epoch)"
        if run.held_out_rows
        else ""
    )
    lines += [
        f"- Student: `{run.student_model}`, texts truncated to {run.max_length} word pieces.",
        f"- Teacher: {run.teacher}.",
        f"- Training rows: {run.gold_rows} labelled rows{held_out}, "
        f"{run.unlabelled_rows} unlabelled texts labelled by the teacher, "
        f"{run.synthetic_rows} synthetic texts written by the teacher.",
        f"- Seed: {run.seed}.",
    ]
    if run.stages:
        lines += ["", *_settings_table(run.stages)]
    return lines


def _settings_table(stages: Mapping[str, TrainSettings]) -> list[str]:
    def row(what: str, values: Iterable[str]) -> str:
        return f"| {what} | " + " | ".join(values) + " |"

    names = list(stages)
    settings = list(stages.values())
    return [
        row("setting", names),
        row("---", ["---"] * len(names)),
        row("epochs", (str(s.epochs) for s in settings)),
        row("learning rate", (f"{s.learning_rate:g}" for s in settings)),
        row(
            "head learning rate", (f"{s.learning_rate * s.head_lr_multiplier:g}" for s in settings)
        ),
        row("schedule", (f"{s.scheduler}, warmup {s.warmup_ratio:g}" for s in settings)),
        row("weight decay", (f"{s.weight_decay:g}" for s in settings)),
        row("batch size", (str(s.batch_size) for s in settings)),
        row("steps per epoch at most", (str(s.max_steps_per_epoch or "-") for s in settings)),
        row("soft-target temperature", (f"{s.temperature:g}" for s in settings)),
    ]


def _any_teacher_keys() -> frozenset[str]:
    """Every key some local teacher reads: without `RunFacts` the teacher is unknown, so the
    card may call a key read that this run's teacher skipped, never the reverse."""
    from ..teachers._synthgen import SYNTHGEN_KEYS

    return SYNTHGEN_KEYS | {"base.teacher_model_name", "evaluation.num_few_shot_examples"}


def _config_section(config: TaskConfig, read: frozenset[str] | None) -> list[str]:
    """The keys ``config.yaml`` set, split into those the run read and those it ignored."""
    how = "the settings above are what the local trainer derived from them"
    if read is None:
        read, how = TRAINER_CONFIG_KEYS | _any_teacher_keys(), "the local trainer derives its own"
    used: dict[str, dict[str, Any]] = {}
    ignored: list[str] = []
    for section, values in config.to_dict().items():
        for key, value in (values if isinstance(values, dict) else {"": values}).items():
            dotted = f"{section}.{key}" if key else section
            if dotted in read:
                used.setdefault(section, {})[key] = value
            else:
                ignored.append(f"`{dotted}`")
    lines = ["", "## config.yaml", ""]
    if used:
        lines += [
            f"Set in `config.yaml` and read by this run ({how}):",
            "",
            "```yaml",
            yaml.safe_dump(used, sort_keys=False, allow_unicode=True).rstrip(),
            "```",
        ]
    if ignored:
        lines += [
            "",
            "Set in `config.yaml` but not used by the local trainer: " + ", ".join(ignored) + ".",
        ]
    return lines
