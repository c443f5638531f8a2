"""``distil-sdk`` commands over the platform client, mirroring the platform's own CLI."""

from __future__ import annotations

import argparse
import sys
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
)
from ._output import UsageError, emit, table

__all__ = ["client_from_args", "common_options", "register"]


def client_from_args(args: argparse.Namespace) -> DistilClient:
    """A client from ``--base-url`` / ``--api-key`` and the environment."""
    try:
        return DistilClient(base_url=args.base_url, api_key=args.api_key)
    except DistilError as exc:
        raise UsageError(str(exc)) from exc


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def _models_table(models: list[Model]) -> str:
    return table(("ID", "NAME", "CREATED"), [(m.id, m.name, m.created_at) for m in models])


def _results_table(results: dict[str, Metrics]) -> str:
    rows = [
        (
            name,
            _fmt(m.accuracy),
            _fmt(m.macro_f1),
            _fmt(m.weighted_avg.f1_score if m.weighted_avg else None),
        )
        for name, m in results.items()
    ]
    return table(("MODEL", "ACCURACY", "MACRO F1", "WEIGHTED F1"), rows)


def _status_lines(kind: str, record: TeacherEvaluationStatus | TrainingStatus) -> list[str]:
    lines = [f"{kind} {record.id}: {record.status.value}"]
    message = getattr(record, "failure_message", None) or record.message
    if message:
        lines.append(f"message: {message}")
    tasks = getattr(record, "tasks", None)
    if tasks:
        lines.append(
            table(
                ("STAGE", "STATUS", "MESSAGE"),
                [(t.name, t.status.value if t.status else "", t.message or "") for t in tasks],
            )
        )
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
        else "No models yet: create one with `distil-sdk models create NAME`.",
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
                f"`distil-sdk teacher-evaluation {evaluation.id}`",
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
        lines.append(_results_table({"teacher": record.results}))
    emit(args, record, "\n".join(lines))
    return _exit_for(record.status)


def _run_training(args: argparse.Namespace) -> int:
    with client_from_args(args) as client:
        training = client.v2.trainings.create(args.model_id, args.upload_id)
        if not args.wait:
            emit(
                args,
                training,
                f"training {training.id} started; follow it with `distil-sdk training {training.id}`",
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
        lines.append(_results_table(results.evaluation_results))
    data: dict[str, Any] = {"status": record, "evaluation_results": results}
    emit(args, data, "\n".join(lines))
    return _exit_for(record.status)


def _download(args: argparse.Namespace) -> int:
    with client_from_args(args) as client:
        path = client.v2.trainings.download_model(args.training_id, args.dest, progress=None)
    emit(args, {"training_id": args.training_id, "path": str(path)}, f"model saved to {path}")
    return 0


def common_options() -> argparse.ArgumentParser:
    """The global options again, so they also work after the command (``training T1 --output json``)."""
    parent = argparse.ArgumentParser(add_help=False)
    parent.add_argument("--base-url", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    parent.add_argument("--api-key", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    parent.add_argument(
        "--output", choices=("table", "json"), default=argparse.SUPPRESS, help="json or table"
    )
    return parent


def register(sub: Any) -> None:
    """Add the platform commands to ``sub`` (the parser's subparsers action)."""
    common = [common_options()]
    models = sub.add_parser("models", help="create, list and show models", parents=common)
    msub = models.add_subparsers(dest="models_command", metavar="ACTION", required=True)
    p = msub.add_parser("create", help="create a model", parents=common)
    p.add_argument("name")
    p.set_defaults(func=_models_create)
    p = msub.add_parser("list", help="list your models", parents=common)
    p.set_defaults(func=_models_list)
    p = msub.add_parser("show", help="show one model", parents=common)
    p.add_argument("model_id", metavar="ID")
    p.set_defaults(func=_models_show)

    p = sub.add_parser(
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
        p = sub.add_parser(name, help=what, parents=common)
        p.add_argument("model_id", metavar="MODEL_ID")
        p.add_argument("upload_id", metavar="UPLOAD_ID")
        p.add_argument(
            "--wait", action="store_true", help="block until it finishes, showing progress"
        )
        p.set_defaults(func=func)

    p = sub.add_parser(
        "teacher-evaluation", help="status and results of a teacher evaluation", parents=common
    )
    p.add_argument("evaluation_id", metavar="EVAL_ID")
    p.set_defaults(func=_teacher_evaluation)
    p = sub.add_parser(
        "training", help="status of a training, and its results once done", parents=common
    )
    p.add_argument("training_id", metavar="TRAINING_ID")
    p.set_defaults(func=_training)
    p = sub.add_parser("download", help="download and extract a trained model", parents=common)
    p.add_argument("training_id", metavar="TRAINING_ID")
    p.add_argument(
        "--dest",
        default=".",
        metavar="DIR",
        help="folder to save model.tar and model/ in (default: .)",
    )
    p.set_defaults(func=_download)
