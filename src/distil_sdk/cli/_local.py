"""The embedded platform's commands: ``serve``, ``train`` (the main job) and ``predict``.

``train`` drives the local platform through the same client and REST API as the hosted one
(``DistilClient.local``), so what it prints is what the platform reports.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

from ._batch import add_file_arguments, predict_file_command
from ._output import UsageError, emit, table, to_jsonable
from ._tools import warn_file_texts

__all__ = ["register"]


def register(subparsers: Any) -> None:
    """Add ``serve``, ``train`` and ``predict`` to the ``distil-sdk`` parser."""
    serve = subparsers.add_parser(
        "serve",
        help="serve the local platform's REST API",
        description="Serve the platform's REST API from this machine (jobs run here). "
        "The token is $DISTIL_API_KEY or the `token` file in the data dir.",
    )
    serve.add_argument("--host", default="127.0.0.1", help="interface to bind (default loopback)")
    serve.add_argument("--port", type=int, default=8700, help="TCP port (default 8700)")
    _data_dir_arg(serve)
    serve.set_defaults(func=_serve)

    train = subparsers.add_parser(
        "train",
        help="train a classifier from a task folder, fully offline",
        description="Validate TASK_DIR, upload it to the local platform, evaluate the teacher, "
        "distil the student, print the results and save the model folder.",
    )
    train.add_argument(
        "task_dir",
        type=Path,
        metavar="TASK_DIR",
        help="folder with job_description.json, train.csv, test.csv, ...",
    )
    _data_dir_arg(train)
    # `--output` names the model folder here (as in the README); for JSON output put the global
    # option before the subcommand: `distil-sdk --output json train ...`.
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
    _output_arg(train)
    train.add_argument("--force", action="store_true", help="replace an existing model folder")
    train.add_argument(
        "--no-progress", dest="progress", action="store_false", help="no progress display"
    )
    train.set_defaults(func=_train)

    predict = subparsers.add_parser(
        "predict",
        help="classify texts, or every row of a file, with a trained model",
        description="Print the label and scores of each TEXT ('-' reads one text per line from "
        "stdin), or, with --input/--out, predict every row of a Parquet/CSV/JSONL file into a "
        "Parquet/JSONL file, here or on a Ray cluster (--engine ray).",
    )
    predict.add_argument("model_dir", type=Path, metavar="MODEL")
    predict.add_argument("texts", nargs="*", metavar="TEXT")
    predict.add_argument("--top-k", type=int, default=None, help="show the K best labels")
    _output_arg(predict)
    add_file_arguments(predict)
    predict.set_defaults(func=_predict)


def _data_dir_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=None,
        help="the local platform's state (env DISTIL_DATA_DIR; default ~/.distil_sdk/local)",
    )


def _output_arg(parser: argparse.ArgumentParser) -> None:
    # SUPPRESS: given after the subcommand it overrides the global --output; absent, it does not
    # reset what was given before the subcommand.
    parser.add_argument(
        "--output",
        choices=("table", "json"),
        default=argparse.SUPPRESS,
        help="json for scripts, table (default) for people",
    )


def _err(text: str) -> None:
    sys.stderr.write(text + "\n")
    sys.stderr.flush()


def _serve(args: argparse.Namespace) -> int:
    from ..local.server import default_data_dir, serve

    data_dir = (args.data_dir or default_data_dir()).expanduser()
    _err(f"distil-sdk local platform: http://{args.host}:{args.port} (data dir {data_dir})")
    _err(f"API token: $DISTIL_API_KEY if set, else the file {data_dir / 'token'}; Ctrl-C stops")
    serve(args.host, args.port, data_dir)
    return 0


def _metric(metrics: Any, name: str) -> float | None:
    value = getattr(metrics, name, None)
    return float(value) if isinstance(value, (int, float)) else None


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def _train(args: argparse.Namespace) -> int:
    from .. import _client
    from ..types.data import TaskBundle
    from ._output import UsageError

    task_dir: Path = args.task_dir
    dest: Path = args.model_dir
    if dest.exists() and any(dest.iterdir()) and not args.force:
        raise UsageError(
            f"{dest} already exists; pass --force to replace it or choose --model-dir DIR"
        )
    show = bool(args.progress) and getattr(args, "output", "table") != "json"
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
        f"{len(bundle.job_description.labels)} classes"
    )

    # The current route generation end to end: dataset -> teacher evaluation -> SLM -> model.
    with _client.DistilClient.local(args.data_dir) as client:
        trained = client.train(
            bundle, dest, force=args.force, progress=progress, timeout=None, on_event=say
        )
    rows = [
        [which, _fmt(_metric(metrics, "accuracy")), _fmt(_metric(metrics, "macro_f1"))]
        for which, metrics in (
            ("teacher", trained.teacher),
            ("student-base", trained.base_model),
            ("student-tuned", trained.tuned_model),
        )
    ]
    summary = {
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


def _predict(args: argparse.Namespace) -> int:
    if args.input is not None or args.out is not None:
        return predict_file_command(args)
    if not args.texts:
        raise UsageError("give TEXT arguments ('-' for stdin) or --input PATH --out PATH")
    if args.top_k is not None and args.top_k < 1:
        raise UsageError(f"--top-k must be >= 1, got {args.top_k}")
    from transformers.utils import logging as hf_logging

    from ..inference import LocalClassifier

    # The CLI prints a table; transformers' per-load progress bars would only clutter it.
    hf_logging.disable_progress_bar()  # type: ignore[no-untyped-call]

    texts: list[str] = []
    for text in args.texts:
        if text == "-":
            texts.extend(line.rstrip("\n") for line in sys.stdin if line.strip())
        else:
            texts.append(text)
    warn_file_texts(args.texts)
    classifier = LocalClassifier.from_pretrained(args.model_dir)
    predictions = classifier.classify(texts, top_k=args.top_k)
    data = [
        {"text": t, "label": p.label, "score": p.score, "scores": p.scores}
        for t, p in zip(texts, predictions, strict=True)
    ]
    rows = [
        [p.label, f"{p.score:.3f}", ", ".join(f"{k}={v:.3f}" for k, v in p.scores.items()), t]
        for t, p in zip(texts, predictions, strict=True)
    ]
    emit(args, data, table(["label", "score", "scores", "text"], rows))
    return 0
