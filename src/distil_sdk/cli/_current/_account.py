"""``api-keys`` (the inference API keys an application calls an endpoint with: create, whose
secret goes to ``NAME.json`` once; list; delete) and ``credits`` (the calls left on each metered
route) commands."""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

from .._output import UsageError, emit, table
from .._platform import client_from_args

__all__ = ["credits_balance", "key_create", "key_delete", "key_list"]


# ------------------------------------------------------------------------------------ API keys


def key_create(args: argparse.Namespace) -> int:
    file = None if args.no_file else Path(f"{args.name}.json")
    if file is not None and file.exists():
        raise UsageError(
            f"{file} already exists; move it away, or pass --no-file (nothing was created)"
        )
    with client_from_args(args) as client:
        key = client.api_keys.create(args.name)
    secret = key.secret.get_secret_value()
    record = {"name": key.name, "created_at": key.created_at}
    if file is None:
        # The secret is in this answer and nowhere else: without a file, stdout is its only copy.
        emit(
            args,
            {**record, "secret": secret},
            f"API key {key.name} created; its secret (shown once, store it now):\n{secret}",
        )
        return 0
    fd = os.open(file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        json.dump({**record, "secret": secret}, out, indent=2)
        out.write("\n")
    emit(
        args,
        {**record, "file": str(file)},
        f"API key {key.name} created; its secret is in {file} (only there: the platform never "
        "shows it again)",
    )
    return 0


def key_list(args: argparse.Namespace) -> int:
    with client_from_args(args) as client:
        keys = client.api_keys.list()
    text = (
        table(("NAME", "CREATED"), [(k.name, k.created_at or "") for k in keys])
        if keys
        else "No API keys yet."
    )
    emit(args, keys, text)
    return 0


def key_delete(args: argparse.Namespace) -> int:
    with client_from_args(args) as client:
        client.api_keys.delete(args.name)
    emit(
        args,
        {"name": args.name, "deleted": True},
        f"API key {args.name} revoked (every endpoint it was linked to stops accepting it)",
    )
    return 0


# ------------------------------------------------------------------------------------ credits


def credits_balance(args: argparse.Namespace) -> int:
    with client_from_args(args) as client:
        balances = client.credits.balances()
    rows = sorted(balances.balances.items())
    text = table(("ROUTE", "CALLS LEFT"), rows) if rows else "No metered endpoints."
    emit(args, {"balances": dict(rows)}, text)
    return 0
