"""The embedded platform's commands: ``serve`` and ``predict``.

``train`` (the main job, offline by default) is `._train`'s: it drives the local platform
through the same client and REST API as the hosted one (``DistilClient.local``), or a platform.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from ._batch import add_file_arguments, predict_file_command, require_model
from ._output import UsageError, emit, port, table
from ._tools import warn_file_texts

__all__ = ["register"]

#: The table's label for a TEXT below ``--min-confidence`` (JSON gives ``null``).
NO_ANSWER = "(no answer)"


def register(subparsers: Any) -> None:
    """Add ``serve`` and ``predict`` to the ``distil-sdk`` parser."""
    serve = subparsers.add_parser(
        "serve",
        help="serve the local platform's REST API",
        description="Serve the platform's REST API from this machine (jobs run here). "
        "The token is $DISTIL_API_KEY or the `token` file in the data dir.",
    )
    serve.add_argument("--host", default="127.0.0.1", help="interface to bind (default loopback)")
    serve.add_argument("--port", type=port, default=8700, help="TCP port (default 8700)")
    _data_dir_arg(serve)
    serve.set_defaults(func=_serve)

    predict = subparsers.add_parser(
        "predict",
        help="classify texts, or every row of a file, with a trained model",
        description="Print the label and scores of each TEXT ('-' reads one text per line from "
        "stdin), or, with --input, predict every row of a Parquet/CSV/JSONL file into a "
        "JSONL, CSV or Parquet file (--out; default INPUT-predictions.jsonl here), on this "
        "machine or on a Ray cluster (--engine ray).",
    )
    predict.add_argument(
        "model_dir", type=Path, metavar="MODEL", help="model folder (train's -o DIR) or .tar"
    )
    # default=[]: TEXT is optional, so argparse does not list it as a missing argument.
    predict.add_argument("texts", nargs="*", default=[], metavar="TEXT")
    predict.add_argument("--top-k", type=int, default=None, help="show the K best labels")
    predict.add_argument(
        "--min-confidence",
        type=float,
        default=None,
        metavar="P",
        help="give no answer (label null) to a TEXT whose top probability is below P, in "
        "[0, 1]; `evaluate` shows the accuracy each threshold keeps",
    )
    predict.add_argument(
        "--no-calibration",
        action="store_true",
        help="show the model's raw probabilities, not the ones its calibration.json calibrates",
    )
    _output_arg(predict)
    add_file_arguments(predict)
    # TEXTs after an option (predict MODEL --top-k 2 TEXT) are TEXTs too: see cli.main.
    predict.set_defaults(func=_predict, _more_positionals="texts")


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


def _predict(args: argparse.Namespace) -> int:
    if args.input is not None or args.out is not None:
        if args.min_confidence is not None or args.no_calibration:
            raise UsageError(
                "--min-confidence and --no-calibration apply to TEXT arguments; a file's "
                "rows get calibrated scores (add --probabilities for every label's), to "
                "threshold as you need"
            )
        return predict_file_command(args)
    if not args.texts:
        raise UsageError("give TEXT arguments ('-' for stdin) or --input PATH [--out PATH]")
    if args.top_k is not None and args.top_k < 1:
        raise UsageError(f"--top-k must be >= 1, got {args.top_k}")
    if args.min_confidence is not None and not 0.0 <= args.min_confidence <= 1.0:
        raise UsageError(
            f"--min-confidence must be a probability in [0, 1] (e.g. 0.8, not 80), got "
            f"{args.min_confidence:g}"
        )
    require_model(args.model_dir)
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
    classifier = LocalClassifier.from_pretrained(args.model_dir, calibrate=not args.no_calibration)
    predictions = classifier.classify(texts, top_k=args.top_k, min_confidence=args.min_confidence)
    data = [
        {"text": t, "label": p.label, "score": p.score, "scores": p.scores}
        | ({"abstained": p.abstained} if args.min_confidence is not None else {})
        for t, p in zip(texts, predictions, strict=True)
    ]
    rows = [
        [
            NO_ANSWER if p.label is None else p.label,
            f"{p.score:.3f}",
            ", ".join(f"{k}={v:.3f}" for k, v in p.scores.items()),
            t,
        ]
        for t, p in zip(texts, predictions, strict=True)
    ]
    emit(args, data, table(["label", "score", "scores", "text"], rows))
    return 0
