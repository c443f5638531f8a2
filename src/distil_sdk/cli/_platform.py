"""What every platform command shares (the client from ``--base-url`` / ``--api-key`` and the
environment, the results table, the global options after the command), and the ``/models``
generation's commands under ``distil-sdk v2`` (``v2 models``, ``v2 upload-data``,
``v2 run-training``...). Today's routes are `._current`'s nouns; the old top-level names
(``distil-sdk models ...``) are aliases of ``v2`` that `distil_sdk.cli.main` rewrites
with a deprecation notice on stderr.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from typing import Any

from .._client import DistilClient
from .._errors import DistilError
from ..types.jobs import (
    EvaluationResults,
    JobStatus,
    Metrics,
    Model,
    TeacherEvaluationStatus,
    TrainingStatus,
    TrainingTask,
)
from ._output import UsageError, emit, table

__all__ = [
    "LEGACY",
    "client_from_args",
    "common_options",
    "fmt",
    "legacy_notice",
    "platform_options",
    "register",
    "results_table",
    "stage_rows",
]


def client_from_args(args: argparse.Namespace) -> DistilClient:
    """A client from ``--base-url`` / ``--api-key`` and the environment."""
    try:
        return DistilClient(base_url=args.base_url, api_key=args.api_key)
    except DistilError as exc:
        raise UsageError(str(exc)) from exc


def fmt(value: float | None) -> str:
    """A score with three decimals; ``-`` for one not computed."""
    return "-" if value is None else f"{value:.3f}"


def _models_table(models: list[Model]) -> str:
    return table(("ID", "NAME", "CREATED"), [(m.id, m.name, m.created_at) for m in models])


# Columns for the metrics the platform reports: classification, and those of other tasks.
_METRIC_COLUMNS: tuple[tuple[str, Callable[[Metrics], float | None]], ...] = (
    ("ACCURACY", lambda m: m.accuracy),
    ("MACRO F1", lambda m: m.macro_f1),
    ("WEIGHTED F1", lambda m: m.weighted_avg.f1_score if m.weighted_avg else None),
    ("LLM-AS-A-JUDGE-REFERENCE-FREE", lambda m: m.llm_as_a_judge_reference_free),
    ("LLM-AS-A-JUDGE", lambda m: m.llm_as_a_judge),
    ("TOOL_CALL_EQUIVALENCE", lambda m: m.tool_call_equivalence),
    ("BINARY_TOOL_CALL", lambda m: m.binary_tool_call),
    ("STAGED_TOOL_CALL", lambda m: m.staged_tool_call),
    ("ROUGE", lambda m: m.rouge),
    ("METEOR", lambda m: m.meteor),
    ("BINARY", lambda m: m.binary),
)


def results_table(results: dict[str, Metrics]) -> str:
    """``MODEL`` and one column per metric some row has (accuracy and F1 for classification,
    the judge / ROUGE / tool-call scores of the other tasks)."""
    columns = [
        (name, get)
        for name, get in _METRIC_COLUMNS
        if any(get(m) is not None for m in results.values())
    ] or [  # nothing computed (e.g. no test split): the primary metric's column, all "-"
        (next(iter(results.values()), Metrics()).primary_metric.upper(), lambda m: m.primary)
    ]
    rows = [(name, *(fmt(get(m)) for _, get in columns)) for name, m in results.items()]
    return table(("MODEL", *(name for name, _ in columns)), rows)


def stage_rows(tasks: Sequence[TrainingTask]) -> str:
    """The ``STAGE  STATUS  MESSAGE`` table of a job's stages."""
    return table(
        ("STAGE", "STATUS", "MESSAGE"),
        [(str(t.name), t.status.value if t.status else "", t.message or "") for t in tasks],
    )


def _status_lines(kind: str, record: TeacherEvaluationStatus | TrainingStatus) -> list[str]:
    lines = [f"{kind} {record.id}: {record.status.value}"]
    message = record.failure_message
    if message:
        lines.append(f"message: {message}")
    if record.tasks:
        lines.append(stage_rows(record.tasks))
    return lines


def _logs_text(logs: object) -> str:
    if isinstance(logs, list):
        return "\n".join(str(line) for line in logs)
    return str(logs or "")


def _record_json(
    record: TeacherEvaluationStatus | TrainingStatus, with_logs: bool
) -> dict[str, Any]:
    """A status record for scripts: ``status`` always a ``JOB_*`` string, stages as
    ``{name, status, message}``; the (long) logs only when asked for with ``--logs``."""
    data: dict[str, Any] = {
        "id": record.id,
        "status": record.status.value,
        "message": record.message,
        "tasks": [
            {
                "name": str(t.name),
                "status": t.status.value if t.status else None,
                "message": t.message,
            }
            for t in record.tasks
        ],
    }
    if isinstance(record, TeacherEvaluationStatus):
        data["results"] = record.results.to_report() if record.results else None
        data["evaluation_predictions_download_url"] = (
            record.evaluation_predictions_download_url or None
        )
    else:
        data["start_time"], data["end_time"] = record.start_time, record.end_time
    if with_logs:
        data["logs"] = _logs_text(record.logs)
    return data


def _with_logs(
    args: argparse.Namespace, record: TeacherEvaluationStatus | TrainingStatus, lines: list[str]
) -> list[str]:
    if getattr(args, "logs", False):
        lines.append("logs:\n" + (_logs_text(record.logs) or "(none)"))
    return lines


def _exit_for(status: JobStatus) -> int:
    return 1 if status.is_failure else 0


# ------------------------------------------------------------------------------------ commands


def _models_create(args: argparse.Namespace) -> int:
    with client_from_args(args) as client:
        model = client.v2.models.create(args.name)
    emit(args, model, _models_table([model]))
    return 0


def _models_list(args: argparse.Namespace) -> int:
    with client_from_args(args) as client:
        models = client.v2.models.list()
    emit(
        args,
        models,
        _models_table(models)
        if models
        else "No models yet: create one with `distil-sdk v2 models create NAME`.",
    )
    return 0


def _models_show(args: argparse.Namespace) -> int:
    with client_from_args(args) as client:
        model = client.v2.models.get(args.model_id)
    extra = "\n".join(f"{k}: {v}" for k, v in (model.model_extra or {}).items())
    emit(args, model, _models_table([model]) + ("\n" + extra if extra else ""))
    return 0


def _upload_data(args: argparse.Namespace) -> int:
    from ..types.data import TaskBundle

    bundle = TaskBundle.from_dir(args.data)  # DataValidationError -> exit 2 with the report
    report = bundle.validate()
    report.raise_for_errors()  # main() prints the findings table and exits 2
    if report.warnings:
        sys.stderr.write(report.to_table() + "\n")
    with client_from_args(args) as client:
        upload = client.v2.uploads.create(args.model_id, bundle)
    emit(args, upload, f"upload {upload.id} created for model {args.model_id}")
    return 0


def _run_teacher_evaluation(args: argparse.Namespace) -> int:
    with client_from_args(args) as client:
        evaluation = client.v2.teacher_evaluations.create(args.model_id, args.upload_id)
        if not args.wait:
            emit(
                args,
                evaluation,
                f"teacher evaluation {evaluation.id} started; follow it with "
                f"`distil-sdk v2 teacher-evaluation {evaluation.id}`",
            )
            return 0
        record = client.v2.teacher_evaluations.wait(evaluation.id, progress=True)
    return _show_teacher_evaluation(args, record)


def _teacher_evaluation(args: argparse.Namespace) -> int:
    with client_from_args(args) as client:
        record = client.v2.teacher_evaluations.get(args.evaluation_id)
    return _show_teacher_evaluation(args, record)


def _show_teacher_evaluation(args: argparse.Namespace, record: TeacherEvaluationStatus) -> int:
    lines = _status_lines("teacher evaluation", record)
    if record.results is not None:
        lines.append(results_table({"teacher": record.results}))
    data = _record_json(record, getattr(args, "logs", False))
    emit(args, data, "\n".join(_with_logs(args, record, lines)))
    return _exit_for(record.status)


def _run_training(args: argparse.Namespace) -> int:
    with client_from_args(args) as client:
        training = client.v2.trainings.create(args.model_id, args.upload_id)
        if not args.wait:
            emit(
                args,
                training,
                f"training {training.id} started; follow it with "
                f"`distil-sdk v2 training {training.id}`",
            )
            return 0
        record = client.v2.trainings.wait(training.id, progress=True)
        return _show_training(args, client, record)


def _training(args: argparse.Namespace) -> int:
    with client_from_args(args) as client:
        return _show_training(args, client, client.v2.trainings.get(args.training_id))


def _show_training(args: argparse.Namespace, client: DistilClient, record: TrainingStatus) -> int:
    results: EvaluationResults | None = None
    if record.status is JobStatus.SUCCESS:
        results = client.v2.trainings.evaluation_results(record.id)
    lines = _status_lines("training", record)
    if results is not None and results.evaluation_results:
        lines.append(results_table(results.evaluation_results))
    data = _record_json(record, getattr(args, "logs", False))
    data["evaluation_results"] = (
        {k: m.to_report() for k, m in results.evaluation_results.items()}
        if results is not None and results.evaluation_results
        else None
    )
    emit(args, data, "\n".join(_with_logs(args, record, lines)))
    return _exit_for(record.status)


def _download(args: argparse.Namespace) -> int:
    with client_from_args(args) as client:
        path = client.v2.trainings.download_model(args.training_id, args.dest, progress=None)
    emit(args, {"training_id": args.training_id, "path": str(path)}, f"model saved to {path}")
    return 0


def platform_options(parser: argparse.ArgumentParser, *, shown: bool = False) -> None:
    """``--base-url`` / ``--api-key`` after the command too (``dataset list --api-key K``);
    absent, they leave what was given before the command. ``shown``: listed in the help."""
    parser.add_argument(
        "--base-url",
        default=argparse.SUPPRESS,
        metavar="URL",
        help="the platform's API root (env DISTIL_BASE_URL)" if shown else argparse.SUPPRESS,
    )
    parser.add_argument(
        "--api-key",
        default=argparse.SUPPRESS,
        metavar="KEY",
        help="its bearer token (env DISTIL_API_KEY)" if shown else argparse.SUPPRESS,
    )


def common_options() -> argparse.ArgumentParser:
    """The global options again, so they also work after the command (``slm status S1 --json``)."""
    parent = argparse.ArgumentParser(add_help=False)
    platform_options(parent)
    parent.add_argument(
        "--output", choices=("table", "json"), default=argparse.SUPPRESS, help="json or table"
    )
    return parent


def register(sub: Any) -> None:
    """Add ``v2``, the ``/models`` generation's commands, to ``sub`` (the parser's subparsers)."""
    common = [common_options()]
    v2 = sub.add_parser(
        "v2",
        help="the /models generation: models, upload-data, run-teacher-evaluation, "
        "run-training, training, download",
        description="The platform's /models generation (client.v2). Today's routes are the "
        "dataset, teacher-evaluation, slm, deployment and inference-endpoint commands.",
        parents=common,
    )
    old = v2.add_subparsers(dest="v2_command", metavar="COMMAND", required=True)
    models = old.add_parser("models", help="create, list and show models", parents=common)
    msub = models.add_subparsers(dest="models_command", metavar="ACTION", required=True)
    p = msub.add_parser("create", help="create a model", parents=common)
    p.add_argument("name")
    p.set_defaults(func=_models_create)
    p = msub.add_parser("list", help="list your models", parents=common)
    p.set_defaults(func=_models_list)
    p = msub.add_parser("show", help="show one model", parents=common)
    p.add_argument("model_id", metavar="ID")
    p.set_defaults(func=_models_show)

    p = old.add_parser(
        "upload-data", help="validate a task folder locally, then upload it", parents=common
    )
    p.add_argument("model_id", metavar="MODEL_ID")
    p.add_argument(
        "--data",
        required=True,
        metavar="DIR",
        help="folder with job_description.json, train.csv, test.csv ...",
    )
    p.set_defaults(func=_upload_data)

    for name, func, what in (
        ("run-teacher-evaluation", _run_teacher_evaluation, "start a teacher evaluation"),
        ("run-training", _run_training, "start a training"),
    ):
        p = old.add_parser(name, help=what, parents=common)
        p.add_argument("model_id", metavar="MODEL_ID")
        p.add_argument("upload_id", metavar="UPLOAD_ID")
        p.add_argument(
            "--wait", action="store_true", help="block until it finishes, showing progress"
        )
        p.set_defaults(func=func)

    p = old.add_parser(
        "teacher-evaluation", help="status and results of a teacher evaluation", parents=common
    )
    p.add_argument("evaluation_id", metavar="EVAL_ID")
    p.add_argument("--logs", action="store_true", help="also print the job's log")
    p.set_defaults(func=_teacher_evaluation)
    p = old.add_parser(
        "training", help="status of a training, and its results once done", parents=common
    )
    p.add_argument("training_id", metavar="TRAINING_ID")
    p.add_argument("--logs", action="store_true", help="also print the job's log")
    p.set_defaults(func=_training)
    p = old.add_parser("download", help="download and extract a trained model", parents=common)
    p.add_argument("training_id", metavar="TRAINING_ID")
    p.add_argument(
        "--dest",
        default=".",
        metavar="DIR",
        help="folder to save model.tar and model/ in (default: .)",
    )
    p.set_defaults(func=_download)


#: The old top-level names (``distil-sdk models ...``): each is ``distil-sdk v2 NAME`` now, and
#: the command of today's routes that replaces it.
LEGACY = {
    "models": "dataset create DIR",
    "upload-data": "dataset create DIR",
    "run-teacher-evaluation": "teacher-evaluation create DATASET_ID",
    "teacher-evaluation": "teacher-evaluation show ID",
    "run-training": "slm create DATASET_ID",
    "training": "slm status ID",
    "download": "slm download SLM_ID DEST",
}


def legacy_notice(name: str) -> str:
    """The one-line deprecation notice of an old top-level command."""
    return (
        f"distil-sdk {name}: deprecated - this is the old /models generation, now "
        f"`distil-sdk v2 {name}`; today's platform: `distil-sdk {LEGACY[name]}`"
    )
