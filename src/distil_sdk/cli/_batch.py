"""``distil-sdk predict MODEL --input PATH --out PATH``: a whole file, locally or on Ray."""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

from ._output import UsageError, emit

__all__ = ["add_file_arguments", "predict_file_command"]


def add_file_arguments(parser: argparse.ArgumentParser) -> None:
    """The options that turn ``predict`` from TEXT arguments to a file in, a file out."""
    group = parser.add_argument_group(
        "files", "predict every row of a file instead of TEXT arguments"
    )
    group.add_argument(
        "--input",
        "-i",
        default=None,
        metavar="PATH",
        help="Parquet, CSV or JSONL file (with --engine ray also a folder or s3://... URI)",
    )
    group.add_argument(
        "--out",
        default=None,
        metavar="PATH",
        help="output .parquet or .jsonl file: every input column plus label, score, ... "
        "(with --engine ray also a folder or URI, filled with Parquet files)",
    )
    group.add_argument(
        "--text-column", default="text", help="the column holding the texts (default: text)"
    )
    group.add_argument(
        "--engine",
        choices=("local", "ray"),
        default="local",
        help="local: stream the file through one model here (default); ray: a pool of "
        "model actors on Ray Data (pip install 'distil-sdk[ray]')",
    )
    group.add_argument(
        "--address",
        default=None,
        help="Ray cluster address (e.g. ray://head:10001; default $RAY_ADDRESS, else a Ray "
        "instance on this machine)",
    )
    group.add_argument(
        "--probabilities",
        action="store_true",
        help="add one prob_<label> column per class",
    )
    group.add_argument(
        "--prefix", default="", help="put before the added columns' names (e.g. pred_)"
    )
    group.add_argument(
        "--batch-size", type=int, default=None, help="rows per chunk (local) or actor call (ray)"
    )
    group.add_argument(
        "--concurrency", type=int, default=None, help="ray: actors (default: one per CPU/GPU)"
    )
    group.add_argument(
        "--num-gpus", type=float, default=0, help="ray: GPUs per actor (1 on a GPU cluster)"
    )


def predict_file_command(args: argparse.Namespace) -> int:
    """Run ``predict --input ... --out ...``; prints where the rows went and how fast."""
    if args.texts:
        raise UsageError("give TEXT arguments or --input, not both")
    if args.input is None or args.out is None:
        raise UsageError("--input and --out go together: predict --input PATH --out PATH")
    for name in ("batch_size", "concurrency", "top_k"):
        value = getattr(args, name)
        if value is not None and value < 1:
            raise UsageError(f"--{name.replace('_', '-')} must be >= 1, got {value}")
    if args.engine == "local" and (args.address or args.concurrency or args.num_gpus):
        raise UsageError("--address, --concurrency and --num-gpus need --engine ray")
    from transformers.utils import logging as hf_logging

    from ..batch import predict_file

    hf_logging.disable_progress_bar()  # type: ignore[no-untyped-call]
    options: dict[str, Any] = {}
    if args.engine == "ray":
        options = {
            "address": args.address,
            "concurrency": args.concurrency,
            "num_gpus": args.num_gpus,
        }
    started = time.monotonic()
    rows = predict_file(
        args.model_dir,
        args.input,
        args.out,
        engine=args.engine,
        text_column=args.text_column,
        top_k=args.top_k,
        probabilities=args.probabilities,
        prefix=args.prefix,
        batch_size=args.batch_size,
        **options,
    )
    elapsed = time.monotonic() - started
    summary = {
        "input": str(args.input),
        "out": str(args.out),
        "engine": args.engine,
        "rows": rows,
        "elapsed_s": round(elapsed, 2),
    }
    counted = f"{rows} rows" if rows is not None else "rows"
    sys.stderr.flush()
    emit(args, summary, f"{counted} predicted into {args.out} in {elapsed:.1f}s ({args.engine})")
    return 0
