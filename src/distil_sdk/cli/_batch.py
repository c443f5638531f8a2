"""``distil-sdk predict MODEL --input PATH [--out PATH]``: a whole file, locally or on Ray.

Without ``--out`` the rows go to ``STEM-predictions.jsonl`` in the current folder, as the
other commands' default files (``ID-traces.jsonl``...) do.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Any

from ..types._words import plural
from ._output import UsageError, emit

__all__ = ["add_file_arguments", "default_out", "predict_file_command", "require_model"]


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
        help="output .jsonl, .csv or .parquet file: every input column plus label, score, ... "
        "(default: INPUT-predictions.jsonl in the current folder; with --engine ray also a "
        "folder or URI, filled with Parquet files)",
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
    group.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="show a bar of rows done on stderr (default: only on a terminal; "
        "DISTIL_NO_PROGRESS=1 turns it off)",
    )
    group.add_argument(
        "--ray-log-level",
        default=None,
        metavar="LEVEL",
        help="ray: where Ray's console logs start: DEBUG, INFO, WARNING or ERROR (default "
        "$DISTIL_RAY_LOG_LEVEL, else WARNING; INFO shows all of Ray's output)",
    )


def default_out(source: str) -> str:
    """Where ``--input SOURCE`` goes without ``--out``: ``STEM-predictions.jsonl`` here
    (``tickets.csv.gz`` -> ``tickets-predictions.jsonl``)."""
    name = source.rstrip("/").rsplit("/", 1)[-1]
    if name.lower().endswith(".gz"):
        name = name[:-3]
    stem = Path(name).stem if Path(name).suffix else name
    return f"{stem or 'input'}-predictions.jsonl"


def require_model(model: Path) -> None:
    """A MODEL that is not there is a usage error, said before anything loads."""
    if not model.expanduser().exists():
        raise UsageError(
            f"MODEL {model}: no such folder or file; give the folder train saved "
            "(its -o DIR, or DIR/model) or a *-model.tar"
        )


def _check_out(out: str, engine: str) -> None:
    """Refuse an output the writer cannot write, before the model loads."""
    from ..batch._files import output_format

    if output_format(out) is not None:
        return
    suffix = "" if out.endswith(("/", os.sep)) else Path(out).suffix
    if "://" not in out and suffix:
        raise UsageError(
            f"--out {out}: predict writes JSON Lines (.jsonl), CSV (.csv, .tsv) or Parquet "
            f"(.parquet), not {suffix}; use --out {Path(out).with_suffix('.csv')} for a "
            f"spreadsheet, or --out {Path(out).with_suffix('.jsonl')}"
        )
    if engine == "local":
        raise UsageError(
            f"--out {out}: the local engine writes one .jsonl, .csv or .parquet file; a folder "
            "or URI needs --engine ray"
        )


def _check_options(args: argparse.Namespace) -> None:
    if args.texts:
        raise UsageError("give TEXT arguments or --input, not both")
    if args.input is None:
        raise UsageError("--out needs --input PATH, the file whose rows to predict")
    if args.engine == "local" and not Path(args.input).expanduser().is_file():
        raise UsageError(f"--input {args.input}: no such file (a .csv, .jsonl or .parquet file)")
    for name in ("batch_size", "concurrency", "top_k"):
        value = getattr(args, name)
        if value is not None and value < 1:
            raise UsageError(f"--{name.replace('_', '-')} must be >= 1, got {value}")
    if args.engine == "local" and (
        args.address or args.concurrency or args.num_gpus or args.ray_log_level
    ):
        raise UsageError(
            "--address, --concurrency, --num-gpus and --ray-log-level need --engine ray"
        )
    if args.ray_log_level is not None:
        from ..batch._ray import ray_log_level

        try:
            ray_log_level(args.ray_log_level)
        except ValueError:
            raise UsageError(
                f"--ray-log-level {args.ray_log_level}: not a log level; use DEBUG, INFO, "
                "WARNING or ERROR"
            ) from None


def predict_file_command(args: argparse.Namespace) -> int:
    """Run ``predict --input ... [--out ...]``; prints where the rows went and how fast."""
    _check_options(args)
    out = args.out if args.out is not None else default_out(args.input)
    _check_out(out, args.engine)
    if args.engine == "local":  # a Ray cluster may see paths this machine does not
        require_model(args.model_dir)
    from transformers.utils import logging as hf_logging

    from ..batch import predict_file

    hf_logging.disable_progress_bar()  # type: ignore[no-untyped-call]
    options: dict[str, Any] = {}
    if args.engine == "ray":
        options = {
            "address": args.address,
            "concurrency": args.concurrency,
            "num_gpus": args.num_gpus,
            "ray_log_level": args.ray_log_level,
        }
    started = time.monotonic()
    rows = predict_file(
        args.model_dir,
        args.input,
        out,
        engine=args.engine,
        text_column=args.text_column,
        top_k=args.top_k,
        probabilities=args.probabilities,
        prefix=args.prefix,
        batch_size=args.batch_size,
        progress=args.progress,
        **options,
    )
    elapsed = time.monotonic() - started
    summary = {
        "input": str(args.input),
        "out": str(out),
        "engine": args.engine,
        "rows": rows,
        "elapsed_s": round(elapsed, 2),
    }
    counted = plural(rows, "row") if rows is not None else "rows"
    sys.stderr.flush()
    emit(args, summary, f"{counted} predicted into {out} in {elapsed:.1f}s ({args.engine})")
    return 0
