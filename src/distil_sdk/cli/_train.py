"""``distil-sdk train TASK_DIR``: the whole run in one command, here or on a platform.

Offline by default, on the embedded local platform (``DistilClient.local``). Given a platform -
``--base-url`` or ``--api-key`` on the line, ``DISTIL_BASE_URL`` in the environment, or
``--remote`` (the configured platform, ``https://api.distillabs.ai`` by default) - it trains
there instead. Either way it is ``client.train()`` (dataset -> teacher evaluation -> SLM ->
download), with the same output folder and results table. ``DISTIL_API_KEY`` alone does not
send a run to the hosted platform (it would spend credits): add ``--remote``.

Ctrl-C during a remote run stops waiting, not the job: the platform has no cancel route. The
command says which job was running, that it goes on, and how to follow it (exit 130).
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
import time
from pathlib import Path
from typing import Any

from ..types._words import plural
from ._output import UsageError, emit, json_mode, table, to_jsonable
from ._platform import client_from_args, platform_options

__all__ = ["register"]


def register(subparsers: Any) -> None:
    """Add ``train`` to the ``distil-sdk`` parser."""
    train = subparsers.add_parser(
        "train",
        help="train a model from a task folder: offline, or on a platform",
        description="Validate TASK_DIR, create a dataset, evaluate the teacher, distil the "
        "student, print the results and save the model folder. Offline on the embedded local "
        "platform by default; on a platform with --base-url / --api-key, DISTIL_BASE_URL, or "
        "--remote.",
    )
    train.add_argument(
        "task_dir",
        type=Path,
        metavar="TASK_DIR",
        help="folder with job_description.json, train.csv, test.csv, ...",
    )
    where = train.add_mutually_exclusive_group()
    where.add_argument(
        "--local",
        dest="where",
        action="store_const",
        const="local",
        help="train offline on the embedded platform even when DISTIL_BASE_URL is set",
    )
    where.add_argument(
        "--remote",
        dest="where",
        action="store_const",
        const="remote",
        help="train on the configured platform (DISTIL_BASE_URL, default "
        "https://api.distillabs.ai, with DISTIL_API_KEY or DISTIL_USERNAME/DISTIL_PASSWORD)",
    )
    train.set_defaults(where=None)
    train.add_argument(
        "--data-dir",
        type=Path,
        default=None,
        help="the local platform's state (env DISTIL_DATA_DIR; default ~/.distil_sdk/local)",
    )
    # `--base-url URL` / `--api-key KEY` after the command: train on that platform.
    platform_options(train, shown=True)
    train.add_argument(
        "--model-dir",
        "-o",
        dest="model_dir",
        type=Path,
        default=Path("model"),
        metavar="DIR",
        help="where to save the trained model (default ./model): DIR/model is the folder "
        "LocalClassifier loads, beside README.md and model_client.py",
    )
    # SUPPRESS: given after the subcommand it overrides the global --output; absent, it does not
    # reset what was given before the subcommand.
    train.add_argument(
        "--output",
        choices=("table", "json"),
        default=argparse.SUPPRESS,
        help="json for scripts, table (default) for people",
    )
    train.add_argument("--force", action="store_true", help="replace an existing model folder")
    train.add_argument(
        "--no-progress", dest="progress", action="store_false", help="no progress display"
    )
    train.set_defaults(func=_train)


def _err(text: str) -> None:
    sys.stderr.write(text + "\n")
    sys.stderr.flush()


def _remote(args: argparse.Namespace) -> bool:
    """Whether this run goes to a platform (see the module docstring)."""
    named = getattr(args, "base_url", None) or getattr(args, "api_key", None)
    if args.where == "local":
        if named:
            raise UsageError("--local trains offline; drop --base-url / --api-key, or --local")
        return False
    remote = bool(named) or args.where == "remote" or bool(os.environ.get("DISTIL_BASE_URL"))
    if remote and args.data_dir is not None:
        raise UsageError(
            "--data-dir is the local platform's folder, and this run trains on a platform "
            "(--base-url / --api-key / DISTIL_BASE_URL / --remote); pass --local to train "
            "offline"
        )
    return remote


def _metric(metrics: Any, name: str) -> float | None:
    value = getattr(metrics, name, None)
    return float(value) if isinstance(value, (int, float)) else None


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def _train(args: argparse.Namespace) -> int:
    from .. import _client
    from ..resources._train import TrainInterrupted
    from ..types.data import TaskBundle

    task_dir: Path = args.task_dir
    dest: Path = args.model_dir
    remote = _remote(args)
    if dest.exists() and any(dest.iterdir()) and not args.force:
        raise UsageError(
            f"{dest} already exists; pass --force to replace it or choose --model-dir DIR"
        )
    show = bool(args.progress) and not json_mode(args)
    say = _err if show else (lambda text: None)
    # The waits' display (status line, the job log's new lines such as each epoch) is on stderr,
    # so it stays on in JSON mode: stdout carries only the result.
    progress = bool(args.progress)
    started = time.monotonic()

    bundle = TaskBundle.from_dir(task_dir)
    report = bundle.validate()
    report.raise_for_errors()  # main() prints the findings table and exits 2
    if report.warnings and show:
        _err(report.to_table())
    say(
        f"validated {task_dir}: {len(bundle.train)} train / {len(bundle.test)} test rows, "
        f"{plural(len(bundle.job_description.labels), 'class', 'classes')}"
    )

    # The current route generation end to end: dataset -> teacher evaluation -> SLM -> model.
    client = client_from_args(args) if remote else _client.DistilClient.local(args.data_dir)
    with client:
        if remote:
            _err(
                f"training on {client.base_url}: the jobs run and spend credits there; "
                "Ctrl-C stops waiting, not the jobs"
            )
        try:
            trained = client.train(
                bundle, dest, force=args.force, progress=progress, timeout=None, on_event=say
            )
        except TrainInterrupted as exc:
            if not remote:
                raise
            return _interrupted(args, exc)
    rows = [
        [which, _fmt(_metric(metrics, "accuracy")), _fmt(_metric(metrics, "macro_f1"))]
        for which, metrics in (
            ("teacher", trained.teacher),
            ("student-base", trained.base_model),
            ("student-tuned", trained.tuned_model),
        )
    ]
    summary = {
        "platform": client.base_url if remote else "local",
        "dataset_id": trained.dataset_id,
        "teacher_evaluation_id": trained.teacher_evaluation_id,
        "slm_id": trained.slm_id,
        "model_dir": str(dest),
        "evaluation_results": to_jsonable(
            {
                "teacher": trained.teacher,
                "student-base": trained.base_model,
                "student-tuned": trained.tuned_model,
            }
        ),
        "elapsed_s": round(time.monotonic() - started, 1),
    }
    text = (
        table(["model", "accuracy", "macro-F1"], rows)
        + f"\n\nmodel saved to {dest}/ in {summary['elapsed_s']}s"
        + f'\ntry: distil-sdk predict {dest} "some text"'
    )
    emit(args, summary, text)
    return 0


def _interrupted(args: argparse.Namespace, exc: Any) -> int:
    """Ctrl-C during a remote run: what became of the job, its id, how to follow it; 130."""
    from ._current import base_flag, follow_command

    run = exc.progress
    kind, job_id = run.job
    dest = shlex.quote(str(args.model_dir))
    lines = [f"interrupted: {run.describe()}."]
    follow: str | None = None
    if run.step == "download":
        follow = f"distil-sdk{base_flag(run.base_url)} slm download {run.slm_id} {dest}"
        lines.append(f"download it again with: {follow}")
    elif job_id is not None:
        follow = follow_command(run.base_url, kind, job_id)
        lines.append(f"follow it with: {follow}")
        if kind == "slm":
            lines.append(
                f"then download it: distil-sdk{base_flag(run.base_url)} slm download {job_id} {dest}"
            )
    else:
        lines.append(
            f"`distil-sdk{base_flag(run.base_url)} {kind} list` shows it if it was created"
        )
    _err("\n".join(lines))
    if json_mode(args):
        body = {
            "ok": False,
            "error": "interrupted",
            "exit_code": 130,
            "message": run.describe(),
            "step": run.step,
            "job": {"kind": kind, "id": job_id},
            "dataset_id": run.dataset_id,
            "teacher_evaluation_id": run.teacher_evaluation_id,
            "slm_id": run.slm_id,
            "follow": follow,
        }
        sys.stdout.write(json.dumps(body, indent=2) + "\n")
        sys.stdout.flush()
    return 130
