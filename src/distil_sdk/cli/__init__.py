"""The ``distil-sdk`` command.

Subcommands come from ``register(subparsers)`` of `distil_sdk.cli._current` (today's
routes: ``dataset``, ``teacher-evaluation``, ``slm``, ``deployment``, ``inference-endpoint``,
``api-keys``, ``credits``), `distil_sdk.cli._platform` (``v2``: the ``/models`` generation),
`distil_sdk.cli._train` (``train``, offline or on a platform), `distil_sdk.cli._tools`
and, when installed, `distil_sdk.cli._local` (``serve``, ``predict``). The old top-level
names of the ``/models`` generation (``distil-sdk models ...``) still run, as ``distil-sdk v2
...`` with a one-line deprecation notice on stderr. Every subcommand sets
``func(args) -> int``; errors are turned into exit codes here, in one place:

- 0: success
- 1: a job failed or was stopped, or the platform/network answered with an error
- 2: usage error (bad arguments, missing credentials) or a task that fails validation
- 130: interrupted

``--json`` (anywhere on the line; ``--output json`` is the same) prints the command's result as
JSON on stdout - on failure ``{"ok": false, "error": ..., "exit_code": ..., "findings": [...]}``
- while progress, warnings and findings go to stderr.
"""

from __future__ import annotations

import argparse
import importlib
import json
import logging
import os
import sys
from collections.abc import Sequence
from typing import Any, NoReturn

from .._errors import DataValidationError, DistilError, JobFailedError, JobTimeoutError
from . import _current, _platform, _tools, _train
from ._output import UsageError, json_mode

__all__ = ["build_parser", "main"]


class _Parser(argparse.ArgumentParser):
    """One line per usage error (``distil-sdk predict: error: ...``), never a usage dump."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    from .. import __version__

    parser = _Parser(
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
    parser.add_argument(
        "--json",
        dest="output",
        action="store_const",
        const="json",
        help="machine output: the result as JSON on stdout, progress and findings on stderr "
        "(the same as --output json; accepted anywhere on the line)",
    )
    parser.add_argument("--version", action="version", version=f"distil-sdk {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    _current.register(sub)
    _train.register(sub)
    _tools.register(sub)
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
    line, legacy = _legacy(_json_first(sys.argv[1:] if argv is None else list(argv)))
    if legacy is not None:
        sys.stderr.write(_platform.legacy_notice(legacy) + "\n")
    try:
        args = parser.parse_args(line)
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
        message = (
            f"the task is invalid ({len(report.errors)} errors, "
            f"{len(report.warnings)} warnings); fix the errors above and try again"
        )
        sys.stderr.write(f"error: {message}\n")
        findings = [f.model_dump(mode="json") for f in report.findings]
        return _failed(args, message, 2, findings=findings)
    except UsageError as exc:
        sys.stderr.write(f"error: {exc}\n")
        return _failed(args, str(exc), 2)
    except (JobFailedError, JobTimeoutError) as exc:
        sys.stderr.write(f"error: {exc}\n")
        return _failed(args, str(exc), 1)
    except DistilError as exc:
        sys.stderr.write(f"error: {exc}\n")
        return _failed(args, str(exc), 1)
    except (ValueError, TypeError) as exc:
        # A value the library refused (top_k=0, a bad text, ...): the message says which, a
        # traceback would only bury it. DISTIL_LOG=debug logs the traceback.
        logging.getLogger("distil_sdk").debug("command failed", exc_info=True)
        sys.stderr.write(f"error: {exc}\n")
        return _failed(args, str(exc), 2)
    except KeyboardInterrupt:
        sys.stderr.write("interrupted\n")
        return 130
    except BrokenPipeError:  # `distil-sdk ... | head`
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1


def _json_first(argv: list[str]) -> list[str]:
    """Move every ``--json`` before the subcommand, so the flag works anywhere on the line
    (``distil-sdk models list --json``) for every command, old and new. Arguments after a
    ``--`` are texts, never options."""
    end = argv.index("--") if "--" in argv else len(argv)
    if "--json" not in argv[:end]:
        return argv
    head = [a for a in argv[:end] if a != "--json"]
    return ["--json", *head, *argv[end:]]


# The global options that take a value, to find the command on the line.
_VALUED = ("--base-url", "--api-key", "--output")


def _legacy(argv: list[str]) -> tuple[list[str], str | None]:
    """``distil-sdk models ...`` (an old top-level name of the ``/models`` generation) as
    ``distil-sdk v2 models ...``, and the name, for the deprecation notice.

    ``teacher-evaluation`` is both: followed by one of today's verbs it is today's noun,
    followed by an id it is the old status command."""
    at = 0
    while at < len(argv):
        token = argv[at]
        if token == "--":
            return argv, None
        if token in _VALUED:
            at += 2
        elif token.startswith("-"):
            at += 1
        else:
            break
    else:
        return argv, None
    name = argv[at]
    if name not in _platform.LEGACY:
        return argv, None
    if name == "teacher-evaluation":
        following = argv[at + 1] if at + 1 < len(argv) else None
        if following is None or following.startswith("-"):
            return argv, None
        if following in _current.TEACHER_EVALUATION_VERBS:
            return argv, None
    return [*argv[:at], "v2", *argv[at:]], name


def _failed(
    args: argparse.Namespace, message: str, code: int, *, findings: list[Any] | None = None
) -> int:
    """In JSON mode, the failure as JSON on stdout too, so a script always gets a document."""
    if json_mode(args):
        body: dict[str, Any] = {"ok": False, "error": message, "exit_code": code}
        if findings is not None:
            body["findings"] = findings
        sys.stdout.write(json.dumps(body, indent=2) + "\n")
        sys.stdout.flush()
    return code
