"""``distil-sdk serve-model MODEL`` and ``python -m distil_sdk.serving MODEL``: serve a trained
model over HTTP with dynamic micro-batching (`distil_sdk.serving`)."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence
from typing import Any

from .._errors import DistilError
from ._output import port

__all__ = ["add_arguments", "main", "register"]

DESCRIPTION = (
    "Serve a trained model over HTTP: TEI's POST /predict, vLLM's POST /v1/classify, OpenAI's "
    "POST /v1/chat/completions and GET /v1/models (the label is the answer), /health, /info "
    "and Prometheus /metrics. Concurrent requests share forward passes (dynamic batching). "
    "API keys: --api-key or $DISTIL_SERVE_API_KEYS (comma-separated); without one the server "
    "is open. Ctrl-C or SIGTERM stop it after answering queued requests. --engine ray "
    "--replicas N runs N copies of the model on Ray Serve, behind its HTTP proxy."
)


def _at_least_one(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"a whole number >= 1, got {value!r}") from None
    if number < 1:
        raise argparse.ArgumentTypeError(f"a whole number >= 1, got {number}")
    return number


def _wait_ms(value: str) -> float | None:
    if value == "auto":
        return None
    try:
        number = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"milliseconds >= 0 or 'auto', got {value!r}") from None
    if not number >= 0:
        raise argparse.ArgumentTypeError(f"milliseconds >= 0 or 'auto', got {value}")
    return number


def _workers(value: str) -> int | None:
    return None if value == "auto" else _at_least_one(value)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``serve-model`` (shared by ``python -m distil_sdk.serving``)."""
    parser.add_argument(
        "model", metavar="MODEL", help="model folder, .tar/.tar.gz, .gguf or cached hub id"
    )
    parser.add_argument(
        "--generate",
        action="store_true",
        help="serve a chat LLM (a causal LM with a chat template): /v1/chat/completions "
        "generates text, one request at a time; /predict and /v1/classify answer 400",
    )
    parser.add_argument("--host", default="127.0.0.1", help="interface to bind (default loopback)")
    parser.add_argument(
        "--port", type=port, default=11434, help="TCP port (default 11434; 0 picks a free one)"
    )
    parser.add_argument(
        "--api-key",
        dest="api_keys",
        action="append",
        default=None,
        metavar="KEY",
        help="a Bearer key clients must send (repeat for several; default "
        "$DISTIL_SERVE_API_KEYS, else none: open)",
    )
    parser.add_argument(
        "--model-name", default=None, help="the model's name in /v1 answers (default: folder name)"
    )
    parser.add_argument(
        "--max-batch-size", type=_at_least_one, default=64, help="most texts per forward pass"
    )
    parser.add_argument(
        "--max-wait-ms",
        type=_wait_ms,
        default=None,
        metavar="MS",
        help="how long a batch is held open for more texts (default auto: only while the "
        "clients of the last batch come back, at most a quarter of its run time; 0: never)",
    )
    parser.add_argument(
        "--max-queue",
        type=_at_least_one,
        default=1024,
        help="most texts waiting; more get 429 (default 1024)",
    )
    parser.add_argument(
        "--max-request-texts",
        type=_at_least_one,
        default=1024,
        help="most texts in one request; more get 413 (default 1024)",
    )
    parser.add_argument(
        "--workers",
        type=_workers,
        default=None,
        metavar="N|auto",
        help="batches running at once, each on its share of the CPU threads (default auto: 2 "
        "for a classifier on a CPU with 2 or more threads, except an int8 one; else 1)",
    )
    parser.add_argument("--device", default="auto", help="auto (default), cpu, cuda:0, ...")
    _add_ray_arguments(parser)


def _add_ray_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group(
        "ray",
        "serve on Ray Serve: N replicas behind its HTTP proxy (pip install 'distil-sdk[ray]')",
    )
    group.add_argument(
        "--engine",
        choices=("local", "ray"),
        default="local",
        help="local: one process here (default); ray: a Ray Serve deployment",
    )
    group.add_argument(
        "--replicas", type=_at_least_one, default=None, help="ray: copies of the model (default 1)"
    )
    group.add_argument(
        "--num-cpus",
        type=_non_negative,
        default=None,
        help="ray: CPUs per replica, also its torch threads (default 1)",
    )
    group.add_argument(
        "--num-gpus", type=_non_negative, default=None, help="ray: GPUs per replica (default 0)"
    )
    group.add_argument(
        "--address",
        default=None,
        help="ray: the cluster to join (e.g. ray://head:10001; default $RAY_ADDRESS, else a "
        "Ray instance on this machine)",
    )


def _non_negative(value: str) -> float:
    try:
        number = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"a number >= 0, got {value!r}") from None
    if not number >= 0:
        raise argparse.ArgumentTypeError(f"a number >= 0, got {value}")
    return number


def _engine_options(args: argparse.Namespace) -> dict[str, Any]:
    """``engine`` and the Ray options given; Ray options without ``--engine ray`` are refused."""
    names = ("replicas", "num_cpus", "num_gpus", "address")
    given = {name: getattr(args, name) for name in names if getattr(args, name) is not None}
    if args.engine != "ray" and given:
        flags = ", ".join("--" + name.replace("_", "-") for name in given)
        raise DistilError(f"{flags}: only with --engine ray")
    return {"engine": args.engine, **given}


def register(subparsers: Any) -> None:
    """Add ``serve-model`` to the ``distil-sdk`` parser."""
    parser = subparsers.add_parser(
        "serve-model", help="serve a trained model over HTTP", description=DESCRIPTION
    )
    add_arguments(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Serve until interrupted; 0 after a graceful stop."""
    if "torch" not in sys.modules:
        # The event loop shares the cores with torch's threads, whose idle OpenMP workers spin
        # by default: passive ones cut the CPU per request by a fifth (docs/serving.md).
        os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    try:
        import fastapi  # noqa: F401  # the server's packages: name the extra when absent
        import uvicorn  # noqa: F401

        from ..serving import serve_model
        from ..serving._server import keys_from_env
    except ImportError as exc:
        raise DistilError(
            f"serving needs the local extra ({exc.name} is missing): "
            "pip install 'distil-sdk[local]'"
        ) from exc
    keys = args.api_keys if args.api_keys else keys_from_env()
    engine = _engine_options(args)
    if args.generate:
        engine["generate"] = True
    try:
        serve_model(
            args.model,
            **engine,
            host=args.host,
            port=args.port,
            api_keys=keys,
            model_name=args.model_name,
            max_batch_size=args.max_batch_size,
            max_wait_ms=args.max_wait_ms,
            max_queue=args.max_queue,
            max_request_texts=args.max_request_texts,
            workers=args.workers,
            device=args.device,
        )
    except KeyboardInterrupt:  # a second Ctrl-C while draining
        return 130
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m distil_sdk.serving``: the exit code (errors as one ``error:`` line)."""
    parser = argparse.ArgumentParser(prog="python -m distil_sdk.serving", description=DESCRIPTION)
    add_arguments(parser)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s: %(message)s")
    try:
        return run(args)
    except (DistilError, ValueError, TypeError) as exc:
        sys.stderr.write(f"error: {exc}\n")
        return 1
