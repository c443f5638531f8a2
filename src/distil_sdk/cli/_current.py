"""``distil-sdk`` commands of today's routes, with the distil CLI's nouns and verbs.

``dataset``, ``teacher-evaluation``, ``slm``, ``deployment``, ``inference-endpoint``,
``api-keys`` and ``credits`` (alias ``credits-balance``), over ``client.datasets``,
``client.teacher_evaluations``, ``client.slms``, ``client.deployments``,
``client.inference_endpoints``, ``client.api_keys`` and ``client.credits``.
The verbs and flags are the platform CLI's (its reference: repository
``distil-labs/distil-cli-skill``, ``skills/distil-cli/references/execution/cli.md``), with the
short forms the SDK adds: ``create`` for ``create-from-dataset`` / ``create-from-slm``, a
positional ``DEST`` for ``--destination``, ``--wait`` on the creates and on ``status``.

Every command takes ``--json`` (the result alone on stdout) and the global options after the
command; the exit codes are :mod:`distil_sdk.cli`'s: a command that shows a failed job (``status``,
``show``, ``--wait``) exits 1.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .._config import DEFAULT_BASE_URL
from ..types.jobs import JobStatus, Metrics
from ._output import UsageError, emit, json_mode, table, to_jsonable
from ._platform import client_from_args, common_options, results_table, stage_rows

if TYPE_CHECKING:
    from .._client import DistilClient
    from ..resources._entity import SyncEntityResource

__all__ = ["TEACHER_EVALUATION_VERBS", "base_flag", "follow_command", "register"]

Func = Callable[[argparse.Namespace], int]

#: What each noun's ``client`` attribute is, and how a person calls one of its entities.
_NOUNS = {
    "dataset": ("datasets", "dataset"),
    "teacher-evaluation": ("teacher_evaluations", "teacher evaluation"),
    "slm": ("slms", "SLM"),
}
_DATASET_OPERATIONS = {
    "relabel-traces-train": "relabel_traces_train",
    "relabel-traces-test": "relabel_traces_test",
    "generate-synthetic-data-train": "generate_synthetic_data_train",
    "generate-synthetic-data-test": "generate_synthetic_data_test",
}


# ------------------------------------------------------------------------------------ helpers


def _say(text: str) -> None:
    sys.stderr.write(text + "\n")
    sys.stderr.flush()


def _resource(client: DistilClient, noun: str) -> SyncEntityResource[Any, Any, Any]:
    resource: SyncEntityResource[Any, Any, Any] = getattr(client, _NOUNS[noun][0])
    return resource


def base_flag(base_url: str) -> str:
    """`` --base-url URL`` for a command to print, unless ``URL`` is the hosted default."""
    return "" if base_url.rstrip("/") == DEFAULT_BASE_URL.rstrip("/") else f" --base-url {base_url}"


def follow_command(base_url: str, noun: str, entity_id: str) -> str:
    """The command that follows a job to its end (``distil-sdk slm status ID --wait``), with
    ``--base-url`` when the platform is not the hosted default."""
    return f"distil-sdk{base_flag(base_url)} {noun} status {entity_id} --wait"


def _interrupted(client: DistilClient, noun: str, entity_id: str) -> int:
    """Ctrl-C while waiting: the job goes on (there is no cancel route); say how to follow it."""
    what = _NOUNS[noun][1] if noun in _NOUNS else noun
    _say(
        f"interrupted: {what} {entity_id} keeps running on {client.base_url} (the platform has "
        f"no cancel route); follow it with `{follow_command(client.base_url, noun, entity_id)}`"
    )
    return 130


def _read_override(path: str | None, kind: str) -> dict[str, Any] | None:
    """A ``--config`` (YAML) or ``--job-description`` (JSON) file: the whole file to send."""
    if path is None:
        return None
    import yaml

    file = Path(path)
    if not file.is_file():
        raise UsageError(f"--{kind.replace('_', '-')} {path}: no such file")
    try:
        text = file.read_text(encoding="utf-8")
        data = yaml.safe_load(text) if kind == "config" else json.loads(text)
    except (OSError, ValueError, yaml.YAMLError) as exc:
        raise UsageError(f"--{kind.replace('_', '-')} {path} could not be read: {exc}") from exc
    if not isinstance(data, dict):
        raise UsageError(f"--{kind.replace('_', '-')} {path}: the file is not a mapping")
    return data


def _overrides(args: argparse.Namespace) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    return _read_override(args.config, "config"), _read_override(
        args.job_description, "job_description"
    )


def _dest(args: argparse.Namespace, default: str) -> Path:
    """The positional ``DEST`` or ``--destination``/``-d`` (not both), else ``default``."""
    if args.dest is not None and args.destination is not None:
        raise UsageError("give DEST or --destination, not both")
    return Path(args.dest or args.destination or default)


def _fields(record: Any) -> str:
    """``key: value`` lines of a record (an entity, a status), JSON values as JSON."""
    data = to_jsonable(record)
    return "\n".join(
        f"{k}: {v if isinstance(v, str) else json.dumps(v)}"
        for k, v in data.items()
        if v is not None
    )


def _job_status(status: Any) -> JobStatus | None:
    value = getattr(status, "status", None)
    return value if isinstance(value, JobStatus) else None


def _exit_for(status: Any) -> int:
    state = _job_status(status)
    return 1 if state is not None and state.is_failure else 0


def _status_data(entity_id: str, status: Any) -> dict[str, Any]:
    return {"id": entity_id, **to_jsonable(status)}


def _status_text(what: str, entity_id: str, status: Any) -> str:
    state = _job_status(status)
    lines = [f"{what} {entity_id}: {state.value if state else '?'}"]
    if getattr(status, "message", None):
        lines.append(f"message: {status.message}")
    tasks = getattr(status, "tasks", None)
    if tasks:
        lines.append(stage_rows(tasks))
    return "\n".join(lines)


def _entities_table(noun: str, items: Sequence[Any]) -> str:
    if noun == "dataset":
        return table(
            ("ID", "OPERATION", "PARENT", "CREATED"),
            [
                (
                    d.id,
                    d.operation or "upload",
                    d.parent_dataset_id or d.parent_prepared_traces_id or "",
                    d.created_at or "",
                )
                for d in items
            ],
        )
    return table(
        ("ID", "DATASET", "CREATED"),
        [(e.id, e.dataset_id or "", e.created_at or "") for e in items],
    )


def _wait(client: DistilClient, noun: str, entity_id: str, args: argparse.Namespace) -> Any:
    """``wait()`` with the progress line on stderr; ``None`` when Ctrl-C stopped the wait."""
    try:
        return _resource(client, noun).wait(entity_id, progress=args.progress, timeout=None)
    except KeyboardInterrupt:
        return None


# --------------------------------------------------------------------- reads shared by the nouns


def _list(noun: str) -> Func:
    def run(args: argparse.Namespace) -> int:
        with client_from_args(args) as client:
            items = _resource(client, noun).list()
        empty = f"No {_NOUNS[noun][1]}s yet."
        emit(args, items, _entities_table(noun, items) if items else empty)
        return 0

    return run


def _show(noun: str) -> Func:
    def run(args: argparse.Namespace) -> int:
        with client_from_args(args) as client:
            entity = _resource(client, noun).get(args.id)
        emit(args, entity, _fields(entity))
        return _exit_for(entity)

    return run


def _status(noun: str) -> Func:
    def run(args: argparse.Namespace) -> int:
        with client_from_args(args) as client:
            if args.wait:
                try:
                    status = _resource(client, noun).wait(
                        args.id, progress=args.progress, timeout=None
                    )
                except KeyboardInterrupt:
                    return _interrupted(client, noun, args.id)
            else:
                status = _resource(client, noun).status(args.id)
        emit(args, _status_data(args.id, status), _status_text(_NOUNS[noun][1], args.id, status))
        return _exit_for(status)

    return run


def _logs(noun: str) -> Func:
    def run(args: argparse.Namespace) -> int:
        with client_from_args(args) as client:
            logs = _resource(client, noun).logs(args.id)
        emit(args, {"id": args.id, "logs": logs.text}, logs.text or "(no logs yet)")
        return 0

    return run


def _download_metadata(noun: str) -> Func:
    def run(args: argparse.Namespace) -> int:
        import yaml

        dest = _dest(args, f"{args.id}-metadata")
        with client_from_args(args) as client:
            resource = _resource(client, noun)
            config = resource.config_override(args.id).parent
            job_description = resource.job_description_override(args.id).parent
        dest.mkdir(parents=True, exist_ok=True)
        files = {
            "config": dest / "config.yaml",
            "job_description": dest / "job_description.json",
        }
        files["config"].write_text(
            yaml.safe_dump(config, sort_keys=False, allow_unicode=True), encoding="utf-8"
        )
        files["job_description"].write_text(
            json.dumps(job_description, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
        )
        data = {"id": args.id, "path": str(dest), "files": {k: str(v) for k, v in files.items()}}
        emit(args, data, f"config.yaml and job_description.json of {args.id} saved to {dest}")
        return 0

    return run


def _download_predictions(noun: str) -> Func:
    def run(args: argparse.Namespace) -> int:
        default = f"{args.id}-{noun}-predictions.jsonl"
        if args.dest is not None and args.file_name is not None:
            raise UsageError("give DEST or --file-name, not both")
        target = Path(args.dest or args.file_name or default)
        if target.is_dir():
            target = target / default
        with client_from_args(args) as client:
            resource: Any = _resource(client, noun)
            rows: list[dict[str, Any]] = resource.predictions(args.id)
        target.parent.mkdir(parents=True, exist_ok=True)
        part = target.with_name(f".{target.name}.part")
        part.write_text(
            "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows), encoding="utf-8"
        )
        os.replace(part, target)
        data = {"id": args.id, "path": str(target), "rows": len(rows)}
        emit(args, data, f"{len(rows)} predictions of {args.id} saved to {target}")
        return 0

    return run


# ------------------------------------------------------------------------------------ dataset


def _dataset_files(args: argparse.Namespace) -> Any:
    """The task to create a Dataset from: ``DIR`` / ``--data DIR`` (validated here, its warnings
    on stderr), or the per-file flags as the files themselves."""
    per_file = {
        "config": args.config,
        "job_description": args.job_description,
        "train_data": args.train,
        "test_data": args.test,
        "traces": args.traces,
    }
    given = {k: v for k, v in per_file.items() if v is not None}
    folder = args.data or args.dir
    if args.data and args.dir:
        raise UsageError("give the folder once: DIR or --data DIR")
    if folder and given:
        raise UsageError("--data DIR and the per-file flags (--config, --train...) do not combine")
    if given:
        missing = [
            f"--{k.replace('_', '-')}" for k in ("config", "job_description") if k not in given
        ]
        if missing or len(given) < 3:
            raise UsageError(
                "with per-file flags, dataset create needs --config and --job-description and "
                "at least one of --train, --test, --traces"
                + (f" (missing: {', '.join(missing)})" if missing else "")
            )
        files: dict[str, bytes] = {}
        for field, path in given.items():
            file = Path(path)
            if not file.is_file():
                raise UsageError(f"{path}: no such file (nothing was uploaded)")
            files[field] = file.read_bytes()
        return files
    if not folder:
        raise UsageError("give the task folder: dataset create DIR (or --data DIR)")
    from ..types.data import TaskBundle

    bundle = TaskBundle.from_dir(Path(folder))  # DataValidationError -> exit 2 with the report
    report = bundle.validate()
    report.raise_for_errors()  # main() prints the findings table and exits 2
    if report.warnings and not json_mode(args):
        _say(report.to_table())
    return bundle


def _dataset_create(args: argparse.Namespace) -> int:
    task = _dataset_files(args)
    with client_from_args(args) as client:
        dataset = client.datasets.create(task)
    emit(args, dataset, f"Upload successful. Dataset ID: {dataset.id}")
    return 0


def _dataset_derive(operation: str) -> Func:
    def run(args: argparse.Namespace) -> int:
        config, job_description = _overrides(args)
        with client_from_args(args) as client:
            dataset = client.datasets.derive(
                args.id,
                operation,  # type: ignore[arg-type]  # one of DATASET_OPERATIONS
                config,
                job_description,
                smoke=args.smoke,
            )
            return _created(args, client, "dataset", dataset)

    return run


def _dataset_from_traces(args: argparse.Namespace) -> int:
    config, job_description = _overrides(args)
    if config is None or job_description is None:
        raise UsageError("dataset create-from-traces needs --config and --job-description")
    with client_from_args(args) as client:
        dataset = client.datasets.from_prepared_traces(args.id, config, job_description)
    emit(args, dataset, f"Dataset created. ID: {dataset.id}")
    return 0


def _dataset_metrics(args: argparse.Namespace) -> int:
    with client_from_args(args) as client:
        metrics = client.datasets.metrics(args.id)
    rows = [
        ("train", metrics.train_data_size_bytes),
        ("test", metrics.test_data_size_bytes),
        ("traces", metrics.traces_size_bytes),
    ]
    text = table(("SPLIT", "BYTES"), [(k, "-" if v is None else v) for k, v in rows])
    emit(args, metrics, text)
    return 0


def _dataset_download(args: argparse.Namespace) -> int:
    dest = _dest(args, f"{args.id}-data")
    with client_from_args(args) as client:
        files = client.datasets.download_files(args.id, dest)
    data = {"id": args.id, "path": str(dest), "files": {k: str(v) for k, v in files.items()}}
    names = ", ".join(sorted(p.name for p in files.values()))
    emit(args, data, f"dataset {args.id}: {len(files)} files saved to {dest} ({names})")
    return 0


# ------------------------------------------------------------------ teacher evaluation and SLM


def _created(args: argparse.Namespace, client: DistilClient, noun: str, entity: Any) -> int:
    """A job was created: its id (and how to follow it), or with ``--wait`` its outcome."""
    what = _NOUNS[noun][1]
    if not getattr(args, "wait", False):
        emit(
            args,
            entity,
            f"{what} {entity.id} created; follow it with "
            f"`{follow_command(client.base_url, noun, entity.id)}`",
        )
        return 0
    _say(f"{what} {entity.id} created; waiting for it (Ctrl-C stops waiting, not the job)")
    status = _wait(client, noun, entity.id, args)
    if status is None:
        return _interrupted(client, noun, entity.id)
    return _outcome(args, client, noun, entity.id, status)


def _outcome(
    args: argparse.Namespace, client: DistilClient, noun: str, entity_id: str, status: Any
) -> int:
    """A finished job: its status and, for a teacher evaluation or an SLM, its scores."""
    data = _status_data(entity_id, status)
    text = _status_text(_NOUNS[noun][1], entity_id, status)
    if noun == "teacher-evaluation":
        te = client.teacher_evaluations.metrics(entity_id)
        data["metrics"] = to_jsonable(te)
        if te.teacher_performance is not None:
            text += "\n" + results_table({"teacher": te.teacher_performance})
    elif noun == "slm":
        slm = client.slms.metrics(entity_id)
        data["metrics"] = to_jsonable(slm)
        scores = _slm_scores(slm)
        if scores:
            text += "\n" + results_table(scores)
    emit(args, data, text)
    return _exit_for(status)


def _slm_scores(metrics: Any) -> dict[str, Metrics]:
    scores = {
        "student-base": metrics.base_model_performance,
        "student-tuned": metrics.tuned_model_performance,
    }
    return {k: v for k, v in scores.items() if v is not None}


def _teacher_evaluation_create(args: argparse.Namespace) -> int:
    config, job_description = _overrides(args)
    with client_from_args(args) as client:
        evaluation = client.teacher_evaluations.create(args.dataset_id, config, job_description)
        return _created(args, client, "teacher-evaluation", evaluation)


def _teacher_evaluation_metrics(args: argparse.Namespace) -> int:
    with client_from_args(args) as client:
        metrics = client.teacher_evaluations.metrics(args.id)
    perf = metrics.teacher_performance
    text = (
        results_table({"teacher": perf})
        if perf is not None
        else f"teacher evaluation {args.id} has no metrics yet"
    )
    emit(args, metrics, text)
    return 0


def _slm_create(args: argparse.Namespace) -> int:
    if (args.dataset_id is None) == (args.data is None):
        raise UsageError(
            "give DATASET_ID to train an SLM on a dataset, or --data DIR (model.tar and "
            "config.yaml) to register an existing model"
        )
    with client_from_args(args) as client:
        if args.data is not None:
            if args.smoke or args.config or args.job_description:
                raise UsageError("--data DIR registers a model: --smoke and overrides do not apply")
            folder = Path(args.data)
            config = next(
                (folder / n for n in ("config.yaml", "config.yml") if (folder / n).is_file()), None
            )
            if not (folder / "model.tar").is_file() or config is None:
                raise UsageError(f"{folder} needs model.tar and config.yaml (nothing was uploaded)")
            slm = client.slms.upload(folder / "model.tar", config)
        else:
            cfg, job_description = _overrides(args)
            slm = client.slms.create(args.dataset_id, cfg, job_description, smoke=args.smoke)
        return _created(args, client, "slm", slm)


def _slm_metrics(args: argparse.Namespace) -> int:
    with client_from_args(args) as client:
        metrics = client.slms.metrics(args.id)
    scores = _slm_scores(metrics)
    text = results_table(scores) if scores else f"SLM {args.id} has no metrics yet"
    emit(args, metrics, text)
    return 0


def _slm_download(args: argparse.Namespace) -> int:
    dest = _dest(args, f"{args.id}-slm")
    with client_from_args(args) as client:
        model_dir = client.slms.download_model(args.id, dest, progress=None)
    data = {"id": args.id, "path": str(dest), "model_dir": str(model_dir)}
    emit(args, data, f"model saved to {model_dir}")
    return 0


# --------------------------------------------------------------------------------- deployment


def _deployment_text(deployment_id: str, status: Any) -> str:
    endpoint = status.endpoint_status or "-"
    return f"deployment {deployment_id}: {status.deployment_status.value} (endpoint {endpoint})"


def _deployment_create(args: argparse.Namespace) -> int:
    with client_from_args(args) as client:
        deployment = client.deployments.create(args.slm_id)
        if not args.wait:
            emit(
                args,
                deployment,
                f"deployment {deployment.id} created; follow it with "
                f"`{follow_command(client.base_url, 'deployment', deployment.id)}` "
                "(it bills until deleted)",
            )
            return 0
        _say(f"deployment {deployment.id} created; waiting for it to serve")
        try:
            status = client.deployments.wait(deployment.id, progress=args.progress, timeout=None)
        except KeyboardInterrupt:
            return _interrupted(client, "deployment", deployment.id)
    emit(args, _status_data(deployment.id, status), _deployment_text(deployment.id, status))
    return _exit_for(status)


def _deployment_status(args: argparse.Namespace) -> int:
    with client_from_args(args) as client:
        if args.wait:
            try:
                status = client.deployments.wait(args.id, progress=args.progress, timeout=None)
            except KeyboardInterrupt:
                return _interrupted(client, "deployment", args.id)
        else:
            status = client.deployments.status(args.id)
    emit(args, _status_data(args.id, status), _deployment_text(args.id, status))
    return _exit_for(status)


def _deployment_endpoint(args: argparse.Namespace) -> int:
    with client_from_args(args) as client:
        endpoint = client.deployments.endpoint(args.id)
    key = endpoint.api_key.get_secret_value() if endpoint.api_key is not None else None
    shown = key if args.show_key else ("********" if key else None)
    data: dict[str, Any] = {"id": args.id, "url": endpoint.url}
    if args.show_key:
        data["api_key"] = key
    hint = "" if args.show_key or not key else "  (--show-key prints it)"
    emit(args, data, f"url: {endpoint.url or '-'}\napi_key: {shown or '-'}{hint}")
    return 0


def _deployment_logs(args: argparse.Namespace) -> int:
    with client_from_args(args) as client:
        logs = client.deployments.logs(args.id)
    emit(args, {"id": args.id, "logs": logs.text}, logs.text or "(no logs yet)")
    return 0


def _deployment_delete(args: argparse.Namespace) -> int:
    with client_from_args(args) as client:
        client.deployments.delete(args.id)
        status = client.deployments.status(args.id)
    emit(
        args,
        {"id": args.id, "deleted": True, **to_jsonable(status)},
        f"deployment {args.id} deleted; endpoint_status: {status.endpoint_status or '-'}",
    )
    return 0


# ------------------------------------------------------------------------- inference endpoint


def _endpoint_text(endpoint: Any) -> str:
    lines = [f"Endpoint Name:   {endpoint.id}"]
    extra = to_jsonable(endpoint)
    extra.pop("unique_endpoint_name", None)
    lines += [
        f"{k}: {v if isinstance(v, str) else json.dumps(v)}"
        for k, v in extra.items()
        if v is not None
    ]
    return "\n".join(lines)


def _endpoint_create(args: argparse.Namespace) -> int:
    primary: str | dict[str, str] | None = getattr(args, "deployment_id", None)
    url, key = getattr(args, "primary_url", None), getattr(args, "primary_api_key", None)
    if (url is None) != (key is None):
        raise UsageError("--primary-url and --primary-api-key go together")
    if url is not None and key is not None:
        primary = {"url": url, "api-key": key}
    with client_from_args(args) as client:
        endpoint = client.inference_endpoints.create(
            args.name,
            args.fallback_model,
            primary=primary,
            trace_sample_rate=args.trace_sample_rate,
        )
    emit(args, endpoint, _endpoint_text(endpoint))
    return 0


def _endpoint_list(args: argparse.Namespace) -> int:
    with client_from_args(args) as client:
        endpoints = client.inference_endpoints.list()
    text = (
        table(
            ("NAME", "TRACE SAMPLING", "CREATED"),
            [
                (
                    e.id,
                    "-" if e.trace_sampling_rate is None else e.trace_sampling_rate,
                    e.created_at or "",
                )
                for e in endpoints
            ],
        )
        if endpoints
        else "No inference endpoints yet."
    )
    emit(args, endpoints, text)
    return 0


def _endpoint_show(args: argparse.Namespace) -> int:
    with client_from_args(args) as client:
        endpoint = client.inference_endpoints.get(args.name)
    emit(args, endpoint, _endpoint_text(endpoint))
    return 0


def _window(args: argparse.Namespace) -> dict[str, Any]:
    """``since`` / ``until`` / ``limit`` of a traces read: ``--count N`` (default 1000) or
    ``--all``, not both."""
    if args.all and args.count is not None:
        raise UsageError("give --count N or --all, not both")
    if args.count is not None and args.count < 1:
        raise UsageError(f"--count must be at least 1, got {args.count}")
    limit = None if args.all else (args.count if args.count is not None else 1000)
    return {"since": args.from_start_time, "until": args.to_start_time, "limit": limit}


def _endpoint_traces(args: argparse.Namespace) -> int:
    with client_from_args(args) as client:
        records = list(client.inference_endpoints.traces(args.name, **_window(args)))
    rows = []
    for record in records:
        meta = record.metadata
        request = record.request or {}
        messages = request.get("messages") or [{}]
        last = messages[-1] if isinstance(messages[-1], dict) else {}
        text = str(last.get("content") or "").replace("\n", " ")
        rows.append(
            (
                record.start_time or "",
                meta.status if meta and meta.status is not None else "",
                meta.source if meta and meta.source else "",
                "" if record.latency is None else f"{record.latency:.2f}",
                text[:60] + ("..." if len(text) > 60 else ""),
            )
        )
    text = (
        table(("START TIME", "STATUS", "SOURCE", "LATENCY", "LAST MESSAGE"), rows)
        if rows
        else f"No records of {args.name} in the window."
    )
    emit(args, records, text)
    return 0


def _endpoint_download_traces(args: argparse.Namespace) -> int:
    target = Path(args.file_name or f"{args.name}-traces.jsonl")
    with client_from_args(args) as client:
        records = list(client.inference_endpoints.traces(args.name, **_window(args)))
    data: dict[str, Any] = {"name": args.name, "records": len(records), "path": None}
    if not records:  # as the distil CLI: no file for an empty window
        emit(args, data, f"No records of {args.name} in the window; no file written.")
        return 0
    target.parent.mkdir(parents=True, exist_ok=True)
    part = target.with_name(f".{target.name}.part")
    part.write_text(
        "".join(json.dumps(to_jsonable(r), ensure_ascii=False) + "\n" for r in records),
        encoding="utf-8",
    )
    os.replace(part, target)
    data["path"] = str(target)
    emit(args, data, f"{len(records)} records of {args.name} saved to {target}")
    return 0


def _endpoint_link(link: bool) -> Func:
    def run(args: argparse.Namespace) -> int:
        with client_from_args(args) as client:
            if link:
                client.inference_endpoints.link_api_key(args.name, args.key_name)
            else:
                client.inference_endpoints.unlink_api_key(args.name, args.key_name)
        done = "linked to" if link else "unlinked from"
        data = {"name": args.name, "key_name": args.key_name, "linked": link}
        emit(args, data, f"API key {args.key_name} {done} endpoint {args.name}")
        return 0

    return run


# ------------------------------------------------------------------------------------ API keys


def _key_create(args: argparse.Namespace) -> int:
    file = None if args.no_file else Path(f"{args.name}.json")
    if file is not None and file.exists():
        raise UsageError(
            f"{file} already exists; move it away, or pass --no-file (nothing was created)"
        )
    with client_from_args(args) as client:
        key = client.api_keys.create(args.name)
    secret = key.secret.get_secret_value()
    record = {"name": key.name, "created_at": key.created_at}
    if file is None:
        # The secret is in this answer and nowhere else: without a file, stdout is its only copy.
        emit(
            args,
            {**record, "secret": secret},
            f"API key {key.name} created; its secret (shown once, store it now):\n{secret}",
        )
        return 0
    fd = os.open(file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        json.dump({**record, "secret": secret}, out, indent=2)
        out.write("\n")
    emit(
        args,
        {**record, "file": str(file)},
        f"API key {key.name} created; its secret is in {file} (only there: the platform never "
        "shows it again)",
    )
    return 0


def _key_list(args: argparse.Namespace) -> int:
    with client_from_args(args) as client:
        keys = client.api_keys.list()
    text = (
        table(("NAME", "CREATED"), [(k.name, k.created_at or "") for k in keys])
        if keys
        else "No API keys yet."
    )
    emit(args, keys, text)
    return 0


def _key_delete(args: argparse.Namespace) -> int:
    with client_from_args(args) as client:
        client.api_keys.delete(args.name)
    emit(
        args,
        {"name": args.name, "deleted": True},
        f"API key {args.name} revoked (every endpoint it was linked to stops accepting it)",
    )
    return 0


# ------------------------------------------------------------------------------------ credits


def _credits(args: argparse.Namespace) -> int:
    with client_from_args(args) as client:
        balances = client.credits.balances()
    rows = sorted(balances.balances.items())
    text = table(("ROUTE", "CALLS LEFT"), rows) if rows else "No metered endpoints."
    emit(args, {"balances": dict(rows)}, text)
    return 0


# ---------------------------------------------------------------------------------- the parser

TEACHER_EVALUATION_VERBS = frozenset(
    {
        "create",
        "create-from-dataset",
        "list",
        "show",
        "status",
        "logs",
        "metrics",
        "download-metadata",
        "download-predictions",
    }
)


class _Noun:
    """One noun's parser and its verbs, each with the global options after it."""

    def __init__(self, sub: Any, name: str, help: str, aliases: Sequence[str] = ()) -> None:
        self.common = [common_options()]
        parser = sub.add_parser(
            name, help=help, description=help, aliases=list(aliases), parents=self.common
        )
        self.verbs = parser.add_subparsers(
            dest=f"{name.replace('-', '_')}_verb", metavar="VERB", required=True
        )

    def verb(
        self, name: str, func: Func, help: str, aliases: Sequence[str] = ()
    ) -> argparse.ArgumentParser:
        parser: argparse.ArgumentParser = self.verbs.add_parser(
            name, help=help, description=help, aliases=list(aliases), parents=self.common
        )
        parser.set_defaults(func=func)
        return parser


def _wait_flags(parser: argparse.ArgumentParser, what: str = "finishes") -> None:
    parser.add_argument(
        "--wait",
        action="store_true",
        help=f"block until it {what}, with a status line on stderr; Ctrl-C stops the wait, "
        "not the job",
    )
    parser.add_argument(
        "--no-progress", dest="progress", action="store_false", help="no status line while waiting"
    )


def _override_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config",
        "-c",
        metavar="FILE",
        help="a whole config.yaml replacing the parent's (download-metadata gives it to edit)",
    )
    parser.add_argument(
        "--job-description",
        metavar="FILE",
        help="a whole job_description.json replacing the parent's",
    )


def _dest_args(parser: argparse.ArgumentParser, default: str) -> None:
    parser.add_argument("dest", nargs="?", metavar="DEST", help=f"folder (default {default})")
    parser.add_argument("--destination", "-d", metavar="DIR", default=None, help="the same as DEST")


def _reads(noun: _Noun, name: str, what: str) -> None:
    """``list``, ``show``, ``status``, ``logs``, ``download-metadata`` of an entity noun."""
    noun.verb("list", _list(name), f"every {what}, newest first")
    noun.verb("show", _show(name), f"one {what}, with its status").add_argument("id", metavar="ID")
    p = noun.verb("status", _status(name), f"the job status of a {what}")
    p.add_argument("id", metavar="ID")
    _wait_flags(p)
    noun.verb("logs", _logs(name), f"the job log of a {what}").add_argument("id", metavar="ID")
    p = noun.verb(
        "download-metadata",
        _download_metadata(name),
        f"the {what}'s config.yaml and job_description.json (free; edit them for an override)",
    )
    p.add_argument("id", metavar="ID")
    _dest_args(p, "ID-metadata")


def _predictions(noun: _Noun, name: str, what: str) -> None:
    p = noun.verb(
        "download-predictions",
        _download_predictions(name),
        f"the {what}'s per-row predictions on the test split, as JSONL",
    )
    p.add_argument("id", metavar="ID")
    p.add_argument(
        "dest",
        nargs="?",
        metavar="DEST",
        help=f"file, or folder to write ID-{name}-predictions.jsonl in (default: that file here)",
    )
    p.add_argument("--file-name", metavar="FILE", default=None, help="the same as DEST")


def register(sub: Any) -> None:
    """Add today's nouns to ``sub`` (the ``distil-sdk`` parser's subparsers)."""
    # -- dataset
    noun = _Noun(sub, "dataset", "datasets: the job input every teacher evaluation and SLM uses")
    p = noun.verb(
        "create",
        _dataset_create,
        "validate a task folder here (findings on stderr), upload it and create a dataset",
    )
    p.add_argument("dir", nargs="?", metavar="DIR", help="the task folder")
    p.add_argument("--data", metavar="DIR", help="the same as DIR (the distil CLI's flag)")
    p.add_argument("--config", metavar="FILE", help="per-file: config.yaml")
    p.add_argument("--job-description", metavar="FILE", help="per-file: job_description.json")
    p.add_argument("--train", metavar="FILE", help="per-file: train.jsonl")
    p.add_argument("--test", metavar="FILE", help="per-file: test.jsonl")
    p.add_argument("--traces", metavar="FILE", help="per-file: traces.jsonl")
    p = noun.verb(
        "create-from-traces",
        _dataset_from_traces,
        "a dataset from prepared traces (needs --config and --job-description)",
    )
    p.add_argument("id", metavar="TRACES_ID")
    _override_flags(p)
    for verb, operation in _DATASET_OPERATIONS.items():
        p = noun.verb(
            verb,
            _dataset_derive(operation),
            f"a new dataset by {verb.replace('-', ' ')} of DATASET_ID",
        )
        p.add_argument("id", metavar="DATASET_ID")
        p.add_argument("--smoke", action="store_true", help="a 128-row smoke run (its own credit)")
        _override_flags(p)
        _wait_flags(p)
    _reads(noun, "dataset", "dataset")
    p = noun.verb("metrics", _dataset_metrics, "the sizes of the splits in bytes")
    p.add_argument("id", metavar="ID")
    p = noun.verb("download", _dataset_download, "download every file of a dataset (free)")
    p.add_argument("id", metavar="ID")
    _dest_args(p, "ID-data")

    # -- teacher-evaluation
    noun = _Noun(
        sub, "teacher-evaluation", "teacher evaluations: how well the teacher does the task"
    )
    p = noun.verb(
        "create",
        _teacher_evaluation_create,
        "start a teacher evaluation on a dataset",
        aliases=["create-from-dataset"],
    )
    p.add_argument("dataset_id", metavar="DATASET_ID")
    _override_flags(p)
    _wait_flags(p)
    _reads(noun, "teacher-evaluation", "teacher evaluation")
    noun.verb(
        "metrics", _teacher_evaluation_metrics, "the teacher's scores on the test split"
    ).add_argument("id", metavar="ID")
    _predictions(noun, "teacher-evaluation", "teacher")

    # -- slm
    noun = _Noun(sub, "slm", "SLMs: small models trained (distilled) from a dataset")
    p = noun.verb(
        "create",
        _slm_create,
        "train an SLM on a dataset (or, with --data DIR, register an existing model.tar)",
        aliases=["create-from-dataset"],
    )
    p.add_argument("dataset_id", nargs="?", metavar="DATASET_ID")
    p.add_argument("--data", metavar="DIR", help="register DIR/model.tar and DIR/config.yaml")
    p.add_argument("--smoke", action="store_true", help="a one-epoch memory check (its own credit)")
    _override_flags(p)
    _wait_flags(p)
    _reads(noun, "slm", "SLM")
    noun.verb("metrics", _slm_metrics, "the base and tuned students' scores").add_argument(
        "id", metavar="ID"
    )
    p = noun.verb("download", _slm_download, "download and extract the trained model")
    p.add_argument("id", metavar="ID")
    _dest_args(p, "ID-slm")
    _predictions(noun, "slm", "tuned model")

    # -- deployment
    noun = _Noun(
        sub, "deployment", "deployments: an SLM served on the platform (bills until deleted)"
    )
    p = noun.verb("create", _deployment_create, "deploy an SLM", aliases=["create-from-slm"])
    p.add_argument("slm_id", metavar="SLM_ID")
    _wait_flags(p, "serves")
    p = noun.verb("status", _deployment_status, "deployment_status and endpoint_status")
    p.add_argument("id", metavar="ID")
    _wait_flags(p, "serves")
    p = noun.verb("endpoint", _deployment_endpoint, "the URL (and key) to call")
    p.add_argument("id", metavar="ID")
    p.add_argument("--show-key", action="store_true", help="print the endpoint's API key")
    noun.verb("logs", _deployment_logs, "the deployment's log").add_argument("id", metavar="ID")
    noun.verb(
        "delete", _deployment_delete, "stop it (endpoint_status then reads stopped)"
    ).add_argument("id", metavar="ID")

    # -- inference-endpoint
    noun = _Noun(
        sub,
        "inference-endpoint",
        "inference endpoints: OpenAI-compatible gateways that record traces",
    )
    for verb, help_text in (
        ("create", "a collecting endpoint (a fallback model, or your own server as primary)"),
        ("create-from-deployment", "a serving endpoint: DEPLOYMENT_ID first, the fallback behind"),
    ):
        p = noun.verb(verb, _endpoint_create, help_text)
        if verb == "create-from-deployment":
            p.add_argument("deployment_id", metavar="DEPLOYMENT_ID")
        p.add_argument("--name", required=True, metavar="PREFIX", help="the name's prefix")
        p.add_argument(
            "--fallback-model", required=True, metavar="OWNER/MODEL", help="an OpenRouter slug"
        )
        p.add_argument(
            "--trace-sample-rate", type=float, metavar="RATE", help="0-1: calls recorded"
        )
        if verb == "create":
            p.add_argument("--primary-url", metavar="URL", help="a model served elsewhere")
            p.add_argument("--primary-api-key", metavar="KEY", help="its key")
    noun.verb("list", _endpoint_list, "every inference endpoint")
    noun.verb("show", _endpoint_show, "one endpoint by its unique name").add_argument(
        "name", metavar="NAME"
    )
    for verb, func, help_text in (
        ("traces", _endpoint_traces, "the endpoint's recorded calls, newest first"),
        (
            "download-traces",
            _endpoint_download_traces,
            "the endpoint's recorded calls as JSONL (NAME-traces.jsonl; none: no file)",
        ),
    ):
        p = noun.verb(verb, func, help_text)
        p.add_argument("name", metavar="NAME")
        p.add_argument("--from-start-time", metavar="TIME", help="ISO 8601 (default: a day ago)")
        p.add_argument("--to-start-time", metavar="TIME", help="ISO 8601 (default: now)")
        p.add_argument("--count", "-c", type=int, metavar="N", help="at most N (default 1000)")
        p.add_argument("--all", action="store_true", help="every record of the window")
        if verb == "download-traces":
            p.add_argument("--file-name", metavar="FILE", help="default NAME-traces.jsonl")
    for verb, link in (("link-api-key", True), ("unlink-api-key", False)):
        p = noun.verb(
            verb,
            _endpoint_link(link),
            f"{'let' if link else 'stop'} an API key {'call' if link else 'calling'} the endpoint",
        )
        p.add_argument("name", metavar="NAME")
        p.add_argument("key_name", metavar="KEY_NAME")

    # -- api-keys
    noun = _Noun(sub, "api-keys", "inference API keys: what an application calls an endpoint with")
    p = noun.verb(
        "create", _key_create, "create a key; its secret goes to NAME.json (mode 600), once"
    )
    p.add_argument("name", metavar="NAME")
    p.add_argument(
        "--no-file", action="store_true", help="print the secret instead of writing NAME.json"
    )
    noun.verb("list", _key_list, "the keys' names and creation dates (never secrets)")
    noun.verb("delete", _key_delete, "revoke a key everywhere").add_argument("name", metavar="NAME")

    # -- credits
    p = sub.add_parser(
        "credits",
        aliases=["credits-balance"],
        help="the calls left on each metered route",
        description="The calls left on each metered route (free).",
        parents=[common_options()],
    )
    p.set_defaults(func=_credits)
