"""``seed-dataset`` and ``training-dataset``: the entities the Dataset replaced, readable only
(``list``, ``show``, ``download``, ``download-metadata``), as the migration guide keeps them."""

from __future__ import annotations

import argparse

from ...types._words import plural
from .._output import emit
from .._platform import client_from_args
from ._common import NOUNS, Func, dest, resource

__all__ = ["legacy_download", "legacy_download_metadata"]


def legacy_download(noun: str) -> Func:
    """``download ID [DEST]``: every file the old entity has, for a Dataset of today."""

    def run(args: argparse.Namespace) -> int:
        folder = dest(args, f"{args.id}-data")
        with client_from_args(args) as client:
            files = resource(client, noun).download_files(args.id, folder)  # type: ignore[attr-defined]
        names = ", ".join(sorted(p.name for p in files.values()))
        data = {"id": args.id, "path": str(folder), "files": {k: str(v) for k, v in files.items()}}
        what = NOUNS[noun][1]
        emit(
            args,
            data,
            f"{what} {args.id}: {plural(len(files), 'file')} saved to {folder} ({names})",
        )
        return 0

    return run


def legacy_download_metadata(noun: str) -> Func:
    """``download-metadata ID``: the presigned URLs of its config and job description."""

    def run(args: argparse.Namespace) -> int:
        with client_from_args(args) as client:
            urls = resource(client, noun).download_metadata(args.id)
        emit(args, urls, "\n".join(f"{k}: {v}" for k, v in urls.model_dump().items() if v))
        return 0

    return run
