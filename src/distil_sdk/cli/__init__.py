"""The ``distil-sdk`` command.

Subcommands come from ``register(subparsers)`` of :mod:`distil_sdk.cli._platform` (the remote
platform) and, when installed, :mod:`distil_sdk.cli._local` (the embedded platform). Every
subcommand sets ``func(args) -> int``; errors are turned into exit codes here, in one place:

- 0: success
- 1: a job failed or was stopped, or the platform/network answered with an error
- 2: usage error (bad arguments, missing credentials) or a task that fails validation
- 130: interrupted
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence

from .._errors import DataValidationError, DistilError, JobFailedError, JobTimeoutError
from . import _platform
from ._output import UsageError

__all__ = ["build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="distil-sdk",
        description="Train small text classifiers by distillation on the distil labs platform.",
    )
    parser.add_argument(
        "--base-url",
        default=None,
        help="API root (env DISTIL_BASE_URL; default https://api.distillabs.ai)",
    )
    parser.add_argument(
        "--api-key",
        default=None,
        help="bearer token (env DISTIL_API_KEY; or DISTIL_USERNAME/DISTIL_PASSWORD)",
    )
    parser.add_argument(
        "--output",
        choices=("table", "json"),
        default="table",
        help="json for scripts, table (default) for people",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    _platform.register(sub)
    try:
        # By name: cli/_local.py belongs to the embedded platform, which is optional.
        local = importlib.import_module("distil_sdk.cli._local")
    except ImportError:
        pass
    else:
        local.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code (see the module docstring)."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse exits 2 on usage errors, 0 for --help
        return exc.code if isinstance(exc.code, int) else 2
    if getattr(args, "func", None) is None:
        parser.print_help(sys.stderr)
        return 2
    try:
        return int(args.func(args) or 0)
    except DataValidationError as exc:
        report = exc.report
        sys.stderr.write(report.to_table() + "\n")
        sys.stderr.write(
            f"error: the task is invalid ({len(report.errors)} errors, "
            f"{len(report.warnings)} warnings); fix the errors above and try again\n"
        )
        return 2
    except UsageError as exc:
        sys.stderr.write(f"error: {exc}\n")
        return 2
    except (JobFailedError, JobTimeoutError) as exc:
        sys.stderr.write(f"error: {exc}\n")
        return 1
    except DistilError as exc:
        sys.stderr.write(f"error: {exc}\n")
        return 1
    except KeyboardInterrupt:
        sys.stderr.write("interrupted\n")
        return 130
    except BrokenPipeError:  # `distil-sdk ... | head`
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
