"""The reads every entity noun (dataset, teacher evaluation, SLM) has: ``list``, ``show``,
``status`` (``--wait``), ``logs``, ``download-metadata``, and ``download-predictions`` (of a
teacher evaluation or an SLM). Each is a factory: the noun in, the command's ``func`` out."""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .._output import UsageError, emit, table
from .._platform import client_from_args
from ._common import (
    NOUNS,
    Func,
    dest,
    exit_for,
    fields,
    interrupted,
    resource,
    status_data,
    status_text,
    write_jsonl,
)

__all__ = [
    "download_metadata",
    "download_predictions",
    "list_entities",
    "logs",
    "show",
    "status",
]


def _entities_table(noun: str, items: Sequence[Any]) -> str:
    if noun == "dataset":
        return table(
            ("ID", "OPERATION", "PARENT", "CREATED"),
            [
                (
                    d.id,
                    d.operation or "upload",
                    d.parent_dataset_id or d.parent_prepared_traces_id or "",
                    d.created_at or "",
                )
                for d in items
            ],
        )
    if noun == "traces":
        return table(
            ("ID", "SOURCE", "CREATED"),
            [(t.id, t.source or "", t.created_at or "") for t in items],
        )
    if noun in ("seed-dataset", "training-dataset"):
        return table(
            ("ID", "FROM", "CREATED"),
            [
                (e.id, getattr(e, "seed_dataset_id", None) or "upload", e.created_at or "")
                for e in items
            ],
        )
    return table(
        ("ID", "DATASET", "CREATED"),
        [(e.id, e.dataset_id or "", e.created_at or "") for e in items],
    )


def list_entities(noun: str) -> Func:
    def run(args: argparse.Namespace) -> int:
        with client_from_args(args) as client:
            items = resource(client, noun).list()
        what = NOUNS[noun][1]
        empty = f"No {what if what.endswith('s') else what + 's'} yet."
        emit(args, items, _entities_table(noun, items) if items else empty)
        return 0

    return run


def show(noun: str) -> Func:
    def run(args: argparse.Namespace) -> int:
        with client_from_args(args) as client:
            entity = resource(client, noun).get(args.id)
        emit(args, entity, fields(entity))
        return exit_for(entity)

    return run


def status(noun: str) -> Func:
    def run(args: argparse.Namespace) -> int:
        with client_from_args(args) as client:
            if args.wait:
                try:
                    found = resource(client, noun).wait(
                        args.id, progress=args.progress, timeout=None
                    )
                except KeyboardInterrupt:
                    return interrupted(client, noun, args.id)
            else:
                found = resource(client, noun).status(args.id)
        emit(args, status_data(args.id, found), status_text(NOUNS[noun][1], args.id, found))
        return exit_for(found)

    return run


def logs(noun: str) -> Func:
    def run(args: argparse.Namespace) -> int:
        with client_from_args(args) as client:
            found = resource(client, noun).logs(args.id)
        emit(args, {"id": args.id, "logs": found.text}, found.text or "(no logs yet)")
        return 0

    return run


def download_metadata(noun: str) -> Func:
    def run(args: argparse.Namespace) -> int:
        import yaml

        folder = dest(args, f"{args.id}-metadata")
        with client_from_args(args) as client:
            entities = resource(client, noun)
            config = entities.config_override(args.id).parent
            job_description = entities.job_description_override(args.id).parent
        folder.mkdir(parents=True, exist_ok=True)
        files = {
            "config": folder / "config.yaml",
            "job_description": folder / "job_description.json",
        }
        files["config"].write_text(
            yaml.safe_dump(config, sort_keys=False, allow_unicode=True), encoding="utf-8"
        )
        files["job_description"].write_text(
            json.dumps(job_description, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
        )
        data = {"id": args.id, "path": str(folder), "files": {k: str(v) for k, v in files.items()}}
        emit(args, data, f"config.yaml and job_description.json of {args.id} saved to {folder}")
        return 0

    return run


def download_predictions(noun: str) -> Func:
    def run(args: argparse.Namespace) -> int:
        default = f"{args.id}-{noun}-predictions.jsonl"
        if args.dest is not None and args.file_name is not None:
            raise UsageError("give DEST or --file-name, not both")
        target = Path(args.dest or args.file_name or default)
        if target.is_dir():
            target = target / default
        with client_from_args(args) as client:
            entities: Any = resource(client, noun)
            rows: list[dict[str, Any]] = entities.predictions(args.id)
        write_jsonl(target, rows)
        data = {"id": args.id, "path": str(target), "rows": len(rows)}
        emit(args, data, f"{len(rows)} predictions of {args.id} saved to {target}")
        return 0

    return run
