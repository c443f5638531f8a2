"""The argparse builder of today's nouns: `Noun` (a noun's parser and its verbs, each
with the global options after it), the flags several verbs share (``--wait``, the overrides,
``DEST``), and the verbs of the reads every entity noun has."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any

from ...types._words import with_article
from .._platform import common_options
from ._common import Func
from ._reads import download_metadata, download_predictions, list_entities, logs, show, status

__all__ = ["Noun", "dest_args", "entity_reads", "override_flags", "predictions_verb", "wait_flags"]


class Noun:
    """One noun's parser and its verbs, each with the global options after it."""

    def __init__(self, sub: Any, name: str, help: str, aliases: Sequence[str] = ()) -> None:
        self.common = [common_options()]
        parser = sub.add_parser(
            name, help=help, description=help, aliases=list(aliases), parents=self.common
        )
        self.verbs = parser.add_subparsers(
            dest=f"{name.replace('-', '_')}_verb", metavar="VERB", required=True
        )

    def verb(
        self, name: str, func: Func, help: str, aliases: Sequence[str] = ()
    ) -> argparse.ArgumentParser:
        parser: argparse.ArgumentParser = self.verbs.add_parser(
            name, help=help, description=help, aliases=list(aliases), parents=self.common
        )
        parser.set_defaults(func=func)
        return parser


# ------------------------------------------------------------------------------ shared flags


def wait_flags(parser: argparse.ArgumentParser, what: str = "finishes") -> None:
    """``--wait`` and ``--no-progress``."""
    parser.add_argument(
        "--wait",
        action="store_true",
        help=f"block until it {what}, with a status line on stderr; Ctrl-C stops the wait, "
        "not the job",
    )
    parser.add_argument(
        "--no-progress", dest="progress", action="store_false", help="no status line while waiting"
    )


def override_flags(parser: argparse.ArgumentParser) -> None:
    """``--config`` / ``-c`` and ``--job-description``: whole files replacing the parent's."""
    parser.add_argument(
        "--config",
        "-c",
        metavar="FILE",
        help="a whole config.yaml replacing the parent's (download-metadata gives it to edit)",
    )
    parser.add_argument(
        "--job-description",
        metavar="FILE",
        help="a whole job_description.json replacing the parent's",
    )


def dest_args(parser: argparse.ArgumentParser, default: str) -> None:
    """The positional ``DEST`` and its flag form ``--destination`` / ``-d``."""
    parser.add_argument("dest", nargs="?", metavar="DEST", help=f"folder (default {default})")
    parser.add_argument("--destination", "-d", metavar="DIR", default=None, help="the same as DEST")


def entity_reads(noun: Noun, name: str, what: str) -> None:
    """``list``, ``show``, ``status``, ``logs``, ``download-metadata`` of an entity noun."""
    noun.verb("list", list_entities(name), f"every {what}, newest first")
    noun.verb("show", show(name), f"one {what}, with its status").add_argument("id", metavar="ID")
    p = noun.verb("status", status(name), f"the job status of {with_article(what)}")
    p.add_argument("id", metavar="ID")
    wait_flags(p)
    noun.verb("logs", logs(name), f"the job log of {with_article(what)}").add_argument(
        "id", metavar="ID"
    )
    p = noun.verb(
        "download-metadata",
        download_metadata(name),
        f"the {what}'s config.yaml and job_description.json (free; edit them for an override)",
    )
    p.add_argument("id", metavar="ID")
    dest_args(p, "ID-metadata")


def predictions_verb(noun: Noun, name: str, what: str) -> None:
    """``download-predictions ID [DEST]`` of a teacher evaluation or an SLM."""
    p = noun.verb(
        "download-predictions",
        download_predictions(name),
        f"the {what}'s per-row predictions on the test split, as JSONL",
    )
    p.add_argument("id", metavar="ID")
    p.add_argument(
        "dest",
        nargs="?",
        metavar="DEST",
        help=f"file, or folder to write ID-{name}-predictions.jsonl in (default: that file here)",
    )
    p.add_argument("--file-name", metavar="FILE", default=None, help="the same as DEST")
