"""The ``distil-sdk`` command.

Subcommands come from ``register(subparsers)`` of `distil_sdk.cli._current` (today's
routes: ``dataset``, ``teacher-evaluation``, ``slm``, ``deployment``, ``inference-endpoint``,
``api-keys``, ``credits``), `distil_sdk.cli._platform` (``v2``: the ``/models`` generation),
`distil_sdk.cli._train` (``train``, offline or on a platform), `distil_sdk.cli._tools`,
`distil_sdk.cli._suggest` (``suggest``), `distil_sdk.cli._compare` (``compare``),
`distil_sdk.cli._serve_model` (``serve-model``) and, when installed, `distil_sdk.cli._local`
(``serve``, ``predict``). The old top-level names of the ``/models`` generation
(``distil-sdk models ...``) still run, as ``distil-sdk v2 ...`` with a one-line deprecation
notice on stderr. Every subcommand sets
``func(args) -> int``; errors are turned into exit codes here, in one place:

- 0: success
- 1: a job failed or was stopped, or the platform/network answered with an error
- 2: usage error (bad arguments, missing credentials) or a task that fails validation
- 130: interrupted

A usage error prints argparse's form on stderr, whether argparse or the command found it: the
usage of the command at fault, then ``distil-sdk COMMAND: error: MESSAGE``.

``--json`` (anywhere on the line; ``--output json`` is the same) prints the command's result as
JSON on stdout - on failure ``{"ok": false, "error": ..., "exit_code": ..., "findings": [...]}``
- while progress, warnings and findings go to stderr.
"""

from __future__ import annotations

import argparse
import importlib
import itertools
import json
import logging
import os
import sys
import warnings
from collections.abc import Sequence
from typing import Any, NoReturn, TextIO

from .._errors import DataValidationError, DistilError, JobFailedError, JobTimeoutError
from ..types._words import plural
from . import _compare, _current, _platform, _serve_model, _suggest, _tools, _train
from ._output import UsageError, json_mode

__all__ = ["build_parser", "main"]


class _ArgumentsRefused(Exception):
    """argparse refused the line; `main` prints it, as it prints a command's `UsageError`."""

    def __init__(self, parser: argparse.ArgumentParser, message: str) -> None:
        super().__init__(message)
        self.parser = parser


class _Parser(argparse.ArgumentParser):
    """Usage errors go to `main` (not ``sys.exit``), which also writes the JSON document."""

    def error(self, message: str) -> NoReturn:
        raise _ArgumentsRefused(self, message)


def _own_parsers(parser: argparse.ArgumentParser) -> None:
    """Give every (sub)command's namespace its parser (``args._parser``): a usage error found
    after parsing prints the usage of the command at fault, not the top-level one."""
    parser.set_defaults(_parser=parser)
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                _own_parsers(sub)


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
    _suggest.register(sub)
    _compare.register(sub)
    _platform.register(sub)
    try:
        # By name: cli/_local.py belongs to the embedded platform, which is optional.
        local = importlib.import_module("distil_sdk.cli._local")
    except ImportError:
        pass
    else:
        local.register(sub)
    _serve_model.register(sub)
    _own_parsers(parser)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code (see the module docstring)."""
    parser = build_parser()
    line, legacy = _legacy(_json_first(sys.argv[1:] if argv is None else list(argv)))
    if legacy is not None:
        sys.stderr.write(_platform.legacy_notice(legacy) + "\n")
    try:
        args = _parse(parser, line)
    except _ArgumentsRefused as exc:
        return _usage_failed(exc.parser, str(exc), json=_json_wanted(line))
    except SystemExit as exc:  # --help and --version exit 0
        return exc.code if isinstance(exc.code, int) else 2
    if getattr(args, "func", None) is None:
        parser.print_help(sys.stderr)
        return 2
    return _run(args, parser)


def _parse(parser: argparse.ArgumentParser, line: list[str]) -> argparse.Namespace:
    """Parse ``line``; words argparse left over go to a command that takes any number of them
    (``predict MODEL --top-k 2 TEXT...``), else they are refused by the command they follow."""
    args, extras = parser.parse_known_args(line)
    if extras:
        more = getattr(args, "_more_positionals", None)
        if more is not None and not any(e.startswith("-") and e != "-" for e in extras):
            getattr(args, more).extend(extras)
        else:
            owner: argparse.ArgumentParser = getattr(args, "_parser", parser)
            owner.error(f"unrecognized arguments: {' '.join(extras)}")
    return args


def _show_warning(
    message: Warning | str,
    category: type[Warning],
    filename: str,
    lineno: int,
    file: TextIO | None = None,
    line: str | None = None,
) -> None:
    """A warning as one ``warning: MESSAGE`` line, like the command's own messages: Python's
    default shows the file and line that warned (the console script) and its source line."""
    (file or sys.stderr).write(f"warning: {message}\n")


def _run(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    """The command's exit code, its exceptions turned into codes (module docstring)."""
    with warnings.catch_warnings():
        warnings.showwarning = _show_warning
        return _run_command(args, parser)


def _run_command(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    try:
        return int(args.func(args) or 0)
    except DataValidationError as exc:
        report = exc.report
        sys.stderr.write(report.to_table() + "\n")
        subject = getattr(exc, "subject", None) or "the task"
        message = (
            f"{subject} is invalid ({plural(len(report.errors), 'error')}, "
            f"{plural(len(report.warnings), 'warning')}); fix the errors above and try again"
        )
        sys.stderr.write(f"error: {message}\n")
        findings = [f.model_dump(mode="json") for f in report.findings]
        return _failed(args, message, 2, findings=findings)
    except UsageError as exc:
        return _usage_failed(getattr(args, "_parser", parser), str(exc), json=json_mode(args))
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


def _usage_failed(parser: argparse.ArgumentParser, message: str, *, json: bool) -> int:
    """argparse's form on stderr (the usage, then ``PROG: error: MESSAGE``); exit code 2."""
    sys.stderr.write(parser.format_usage())
    sys.stderr.write(f"{parser.prog}: error: {message}\n")
    if json:
        _document(message, 2)
    return 2


def _json_wanted(line: list[str]) -> bool:
    """``--json`` / ``--output json`` on a line argparse refused (there is no namespace)."""
    end = line.index("--") if "--" in line else len(line)
    head = line[:end]
    pairs = itertools.pairwise(head)
    return "--json" in head or "--output=json" in head or ("--output", "json") in pairs


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
        _document(message, code, findings=findings)
    return code


def _document(message: str, code: int, *, findings: list[Any] | None = None) -> None:
    body: dict[str, Any] = {"ok": False, "error": message, "exit_code": code}
    if findings is not None:
        body["findings"] = findings
    sys.stdout.write(json.dumps(body, indent=2) + "\n")
    sys.stdout.flush()
