"""What every noun of today's routes shares: the nouns' names, the stderr line, the command that
follows a job (and what Ctrl-C says), the ``--config`` / ``--job-description`` / ``DEST`` reads,
a record and a job status as text, a JSONL file written whole, and what a created job prints
(its id, or with ``--wait`` its outcome and scores)."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..._config import DEFAULT_BASE_URL
from ..._fs import write_text_atomic
from ...types.jobs import JobStatus, Metrics
from .._output import UsageError, emit, to_jsonable
from .._platform import results_table, stage_rows

if TYPE_CHECKING:
    from ..._client import DistilClient
    from ...resources._entity import SyncEntityResource

__all__ = [
    "NOUNS",
    "Func",
    "base_flag",
    "created",
    "dest",
    "exit_for",
    "fields",
    "follow_command",
    "interrupted",
    "overrides",
    "resource",
    "say",
    "slm_scores",
    "status_data",
    "status_text",
    "write_jsonl",
]

Func = Callable[[argparse.Namespace], int]

#: What each noun's ``client`` attribute is, and how a person calls one of its entities.
NOUNS = {
    "dataset": ("datasets", "dataset"),
    "teacher-evaluation": ("teacher_evaluations", "teacher evaluation"),
    "slm": ("slms", "SLM"),
    "traces": ("prepared_traces", "prepared traces"),
    "seed-dataset": ("seed_datasets", "seed dataset"),
    "training-dataset": ("training_datasets", "training dataset"),
}


def say(text: str) -> None:
    sys.stderr.write(text + "\n")
    sys.stderr.flush()


def resource(client: DistilClient, noun: str) -> SyncEntityResource[Any, Any, Any]:
    found: SyncEntityResource[Any, Any, Any] = getattr(client, NOUNS[noun][0])
    return found


def base_flag(base_url: str) -> str:
    """`` --base-url URL`` for a command to print, unless ``URL`` is the hosted default."""
    return "" if base_url.rstrip("/") == DEFAULT_BASE_URL.rstrip("/") else f" --base-url {base_url}"


def follow_command(base_url: str, noun: str, entity_id: str) -> str:
    """The command that follows a job to its end (``distil-sdk slm status ID --wait``), with
    ``--base-url`` when the platform is not the hosted default."""
    return f"distil-sdk{base_flag(base_url)} {noun} status {entity_id} --wait"


def interrupted(client: DistilClient, noun: str, entity_id: str) -> int:
    """Ctrl-C while waiting: the job goes on (there is no cancel route); say how to follow it."""
    what = NOUNS[noun][1] if noun in NOUNS else noun
    say(
        f"interrupted: {what} {entity_id} keeps running on {client.base_url} (the platform has "
        f"no cancel route); follow it with `{follow_command(client.base_url, noun, entity_id)}`"
    )
    return 130


# ------------------------------------------------------------------------------ files given


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


def overrides(args: argparse.Namespace) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    """The ``--config`` and ``--job-description`` files, each ``None`` when not given."""
    return _read_override(args.config, "config"), _read_override(
        args.job_description, "job_description"
    )


def dest(args: argparse.Namespace, default: str) -> Path:
    """The positional ``DEST`` or ``--destination``/``-d`` (not both), else ``default``."""
    if args.dest is not None and args.destination is not None:
        raise UsageError("give DEST or --destination, not both")
    return Path(args.dest or args.destination or default)


def write_jsonl(target: Path, rows: Iterable[Any]) -> None:
    """``rows`` as JSONL at ``target``, whole or not at all (written aside, then moved)."""
    write_text_atomic(
        target, "".join(json.dumps(to_jsonable(row), ensure_ascii=False) + "\n" for row in rows)
    )


# ------------------------------------------------------------------------------ text of records


def fields(record: Any, omit: str | None = None) -> str:
    """``key: value`` lines of a record (an entity, a status), JSON values as JSON; ``omit``: a
    key left out."""
    data = to_jsonable(record)
    return "\n".join(
        f"{k}: {v if isinstance(v, str) else json.dumps(v)}"
        for k, v in data.items()
        if v is not None and k != omit
    )


def _job_status(status: Any) -> JobStatus | None:
    value = getattr(status, "status", None)
    return value if isinstance(value, JobStatus) else None


def exit_for(status: Any) -> int:
    """1 when ``status`` shows a failed job, else 0."""
    state = _job_status(status)
    return 1 if state is not None and state.is_failure else 0


def status_data(entity_id: str, status: Any) -> dict[str, Any]:
    return {"id": entity_id, **to_jsonable(status)}


def status_text(what: str, entity_id: str, status: Any) -> str:
    state = _job_status(status)
    lines = [f"{what} {entity_id}: {state.value if state else '?'}"]
    if getattr(status, "message", None):
        lines.append(f"message: {status.message}")
    tasks = getattr(status, "tasks", None)
    if tasks:
        lines.append(stage_rows(tasks))
    return "\n".join(lines)


def slm_scores(metrics: Any) -> dict[str, Metrics]:
    """The base and tuned students' scores an SLM has so far."""
    scores = {
        "student-base": metrics.base_model_performance,
        "student-tuned": metrics.tuned_model_performance,
    }
    return {k: v for k, v in scores.items() if v is not None}


# ------------------------------------------------------------------------------ a created job


def created(args: argparse.Namespace, client: DistilClient, noun: str, entity: Any) -> int:
    """A job was created: its id (and how to follow it), or with ``--wait`` its outcome."""
    what = NOUNS[noun][1]
    if not getattr(args, "wait", False):
        emit(
            args,
            entity,
            f"{what} {entity.id} created; follow it with "
            f"`{follow_command(client.base_url, noun, entity.id)}`",
        )
        return 0
    say(f"{what} {entity.id} created; waiting for it (Ctrl-C stops waiting, not the job)")
    status = _wait(client, noun, entity.id, args)
    if status is None:
        return interrupted(client, noun, entity.id)
    return _outcome(args, client, noun, entity.id, status)


def _wait(client: DistilClient, noun: str, entity_id: str, args: argparse.Namespace) -> Any:
    """``wait()`` with the progress line on stderr; ``None`` when Ctrl-C stopped the wait."""
    try:
        return resource(client, noun).wait(entity_id, progress=args.progress, timeout=None)
    except KeyboardInterrupt:
        return None


def _outcome(
    args: argparse.Namespace, client: DistilClient, noun: str, entity_id: str, status: Any
) -> int:
    """A finished job: its status and, for a teacher evaluation or an SLM, its scores."""
    data = status_data(entity_id, status)
    text = status_text(NOUNS[noun][1], entity_id, status)
    if noun == "teacher-evaluation":
        te = client.teacher_evaluations.metrics(entity_id)
        data["metrics"] = to_jsonable(te)
        if te.teacher_performance is not None:
            text += "\n" + results_table({"teacher": te.teacher_performance})
    elif noun == "slm":
        slm = client.slms.metrics(entity_id)
        data["metrics"] = to_jsonable(slm)
        scores = slm_scores(slm)
        if scores:
            text += "\n" + results_table(scores)
    emit(args, data, text)
    return exit_for(status)
