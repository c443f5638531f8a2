"""``traces``: prepared traces, the trace files Datasets are made from (``distil traces``):
``upload --traces FILE``, ``create-from-inference-endpoint NAME``, ``list``, ``show ID`` and
``download ID [DEST]`` (``list`` and ``show`` are every entity noun's, `._reads`).
``dataset create-from-traces`` makes a Dataset of one."""

from __future__ import annotations

import argparse

from .._output import UsageError, emit
from .._platform import client_from_args
from ._common import dest

__all__ = ["traces_download", "traces_from_endpoint", "traces_upload"]


def traces_upload(args: argparse.Namespace) -> int:
    if not args.traces:
        raise UsageError("traces upload needs --traces FILE (one JSON conversation per line)")
    with client_from_args(args) as client:
        traces = client.prepared_traces.create(traces=args.traces)
    emit(args, traces, f"Traces uploaded. ID: {traces.id}")
    return 0


def traces_from_endpoint(args: argparse.Namespace) -> int:
    with client_from_args(args) as client:
        traces = client.prepared_traces.create(inference_endpoint_name=args.name)
    emit(args, traces, f"Traces created from inference endpoint {args.name}. ID: {traces.id}")
    return 0


def traces_download(args: argparse.Namespace) -> int:
    folder = dest(args, f"{args.id}-traces")
    with client_from_args(args) as client:
        path = client.prepared_traces.download_file(args.id, folder)
    emit(args, {"id": args.id, "path": str(path)}, f"traces {args.id}: saved to {path}")
    return 0
