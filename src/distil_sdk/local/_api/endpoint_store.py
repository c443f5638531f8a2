"""The local platform's inference endpoints, their key links, recorded calls and traces exports,
kept in the store's database (under its lock, like ``api_keys``).

Tables::

    inference_endpoints       one row per endpoint: its unique name, sample rate, fallback slug
                              and primary (a deployment id, or the URL and key of a server)
    inference_endpoint_keys   which API keys may call which endpoint (many-to-many); a trigger
                              drops a key's links when ``DELETE /api-keys/{name}`` revokes it,
                              so a new key of the same name never inherits them
    endpoint_traces           the recorded calls: the request and the answer as JSON text, the
                              HTTP status the caller got, who answered, when, and how long
    traces_exports            the exports: an endpoint's records in a window, written as JSONL
                              to ``traces-exports/<id>.jsonl`` under the data dir

A primary server's key is stored as given, since every forwarded call sends it (the database is
private to the user, 0600, like the deployments' keys); no answer ever carries it.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import json
import secrets
import sqlite3
import string
import time
import uuid
from pathlib import Path
from typing import Any

from ..._fs import atomic_writer
from .._storage.private import make_private_dir
from .._storage.store import Store
from .api_keys import ApiKeyStore
from .common import iso

__all__ = [
    "EndpointStore",
    "decode_cursor",
    "encode_cursor",
    "parse_time",
    "trace_record",
]

#: The random suffix of a unique endpoint name (``support`` -> ``support-yeOdAS``).
_SUFFIX_CHARS = string.ascii_letters + string.digits
_SUFFIX_LENGTH = 6

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS inference_endpoints ("
    " name TEXT PRIMARY KEY, created_at REAL NOT NULL, trace_sample_rate REAL NOT NULL,"
    " fallback_model TEXT NOT NULL, primary_deployment TEXT, primary_url TEXT,"
    " primary_api_key TEXT)",
    "CREATE TABLE IF NOT EXISTS inference_endpoint_keys ("
    " endpoint_name TEXT NOT NULL, key_name TEXT NOT NULL, linked_at REAL NOT NULL,"
    " PRIMARY KEY (endpoint_name, key_name))",
    "CREATE TRIGGER IF NOT EXISTS api_key_revoked_everywhere AFTER DELETE ON api_keys"
    " BEGIN DELETE FROM inference_endpoint_keys WHERE key_name = OLD.name; END",
    "CREATE TABLE IF NOT EXISTS endpoint_traces ("
    " id INTEGER PRIMARY KEY AUTOINCREMENT, endpoint_name TEXT NOT NULL,"
    " start_time REAL NOT NULL, latency REAL NOT NULL, status INTEGER NOT NULL,"
    " source TEXT NOT NULL, input TEXT NOT NULL, output TEXT NOT NULL)",
    "CREATE INDEX IF NOT EXISTS endpoint_traces_newest"
    " ON endpoint_traces (endpoint_name, start_time DESC, id DESC)",
    "CREATE TABLE IF NOT EXISTS traces_exports ("
    " id TEXT PRIMARY KEY, endpoint_name TEXT NOT NULL, created_at REAL NOT NULL,"
    " from_start_time REAL NOT NULL, to_start_time REAL NOT NULL)",
)
_ENDPOINT_COLUMNS = (
    "name, created_at, trace_sample_rate, fallback_model, primary_deployment, primary_url,"
    " primary_api_key"
)
_TRACE_COLUMNS = "id, start_time, latency, status, source, input, output"


def parse_time(value: str, what: str) -> float:
    """An ISO 8601 time (``Z`` or an offset; a naive one is UTC) as a POSIX timestamp.

    Raises:
        ValueError: naming ``what`` (the query parameter or field) and the form expected.
    """
    text = value.strip()
    try:  # Python 3.10's fromisoformat does not read a trailing Z
        moment = dt.datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith("Z") else text)
    except ValueError:
        raise ValueError(
            f"{what}={value[:64]!r} is not an ISO 8601 time; send e.g. 2026-09-01T00:00:00Z"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.timezone.utc)
    return moment.timestamp()


def encode_cursor(start_time: float, trace_id: int) -> str:
    """The cursor of the page after a record: its sort key, opaque to clients."""
    return base64.urlsafe_b64encode(f"{start_time!r}|{trace_id}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[float, int]:
    """The sort key `encode_cursor` wrote. Raises ``ValueError`` for anything else."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode("ascii")
        start, _, ident = raw.partition("|")
        return float(start), int(ident)
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise ValueError(
            f"pagination-cursor {cursor[:64]!r} is not one this server wrote: send the "
            "pagination_cursor of the previous page as it came, or none for the first page"
        ) from None


def trace_record(row: dict[str, Any]) -> dict[str, Any]:
    """A stored call in the reference's record shape (``data-preparation/traces.md``
    § From an inference endpoint)."""
    return {
        "input": row["input"],
        "output": row["output"],
        "metadata": {"status": row["status"], "source": row["source"]},
        "start_time": iso(row["start_time"]),
        "latency": row["latency"],
    }


class EndpointStore:
    """The endpoint tables of a data dir (see the module docstring)."""

    def __init__(self, store: Store) -> None:
        self.store = store
        ApiKeyStore(store)  # the trigger needs its table; creating it twice is harmless
        with store.transaction() as conn:
            for statement in _SCHEMA:
                conn.execute(statement)

    @property
    def exports_dir(self) -> Path:
        """Folder of the exports' JSONL files."""
        return self.store.data_dir / "traces-exports"

    def export_path(self, export_id: str) -> Path:
        """The file of export ``export_id``."""
        return self.exports_dir / f"{export_id}.jsonl"

    # -- endpoints ----------------------------------------------------------------------------
    def create(
        self,
        prefix: str,
        *,
        fallback_model: str,
        sample_rate: float,
        deployment: str | None = None,
        url: str | None = None,
        api_key: str | None = None,
    ) -> dict[str, Any]:
        """Record a new endpoint named ``prefix`` plus a random suffix; return its row."""
        while True:
            suffix = "".join(secrets.choice(_SUFFIX_CHARS) for _ in range(_SUFFIX_LENGTH))
            name = f"{prefix}-{suffix}"
            try:
                with self.store.transaction() as conn:
                    conn.execute(
                        f"INSERT INTO inference_endpoints ({_ENDPOINT_COLUMNS})"
                        " VALUES (?, ?, ?, ?, ?, ?, ?)",
                        (name, time.time(), sample_rate, fallback_model, deployment, url, api_key),
                    )
            except sqlite3.IntegrityError:  # the suffix was taken: draw another
                continue
            row = self.get(name)
            assert row is not None
            return row

    def get(self, name: str) -> dict[str, Any] | None:
        """The endpoint ``name``, or None."""
        rows = self.store.query(
            f"SELECT {_ENDPOINT_COLUMNS} FROM inference_endpoints WHERE name = ?", (name,)
        )
        return rows[0] if rows else None

    def all(self) -> list[dict[str, Any]]:
        """Every endpoint, newest first."""
        return self.store.query(
            f"SELECT {_ENDPOINT_COLUMNS} FROM inference_endpoints ORDER BY created_at DESC, name"
        )

    # -- keys ---------------------------------------------------------------------------------
    def link(self, name: str, key_name: str) -> None:
        """Let key ``key_name`` call endpoint ``name`` (linking twice is harmless)."""
        with self.store.transaction() as conn:
            conn.execute(
                "INSERT OR IGNORE INTO inference_endpoint_keys (endpoint_name, key_name,"
                " linked_at) VALUES (?, ?, ?)",
                (name, key_name, time.time()),
            )

    def unlink(self, name: str, key_name: str) -> None:
        """Stop key ``key_name`` calling endpoint ``name`` (harmless when it could not)."""
        with self.store.transaction() as conn:
            conn.execute(
                "DELETE FROM inference_endpoint_keys WHERE endpoint_name = ? AND key_name = ?",
                (name, key_name),
            )

    def key_named_by(self, secret: str) -> str | None:
        """The name of the API key whose secret is ``secret``, or None (only its SHA-256 is
        stored, so the secret is compared by digest)."""
        digest = hashlib.sha256(secret.encode("utf-8")).hexdigest()
        rows = self.store.query("SELECT name FROM api_keys WHERE secret_sha256 = ?", (digest,))
        return str(rows[0]["name"]) if rows else None

    def linked(self, name: str, key_name: str) -> bool:
        """Whether key ``key_name`` may call endpoint ``name``."""
        return bool(
            self.store.query(
                "SELECT 1 FROM inference_endpoint_keys WHERE endpoint_name = ? AND key_name = ?",
                (name, key_name),
            )
        )

    # -- records ------------------------------------------------------------------------------
    def record(
        self,
        name: str,
        *,
        start_time: float,
        latency: float,
        status: int,
        source: str,
        request: str,
        answer: str,
    ) -> None:
        """Keep one call of endpoint ``name``."""
        with self.store.transaction() as conn:
            conn.execute(
                "INSERT INTO endpoint_traces (endpoint_name, start_time, latency, status, source,"
                " input, output) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (name, start_time, latency, status, source, request, answer),
            )

    def traces(
        self,
        name: str,
        window: tuple[float | None, float | None],
        after: tuple[float, int] | None = None,
        limit: int | None = None,
    ) -> list[dict[str, Any]]:
        """The calls of ``name`` whose start is within ``window`` (both bounds included, None:
        open), newest first; ``after`` a record's sort key, only those that follow it."""
        sql = f"SELECT {_TRACE_COLUMNS} FROM endpoint_traces WHERE endpoint_name = ?"
        params: list[Any] = [name]
        if window[0] is not None:
            sql, params = sql + " AND start_time >= ?", [*params, window[0]]
        if window[1] is not None:
            sql, params = sql + " AND start_time <= ?", [*params, window[1]]
        if after is not None:
            sql += " AND (start_time < ? OR (start_time = ? AND id < ?))"
            params += [after[0], after[0], after[1]]
        sql += " ORDER BY start_time DESC, id DESC"
        if limit is not None:
            sql, params = sql + " LIMIT ?", [*params, limit]
        return self.store.query(sql, tuple(params))

    # -- exports ------------------------------------------------------------------------------
    def write_records(
        self, name: str, window: tuple[float | None, float | None], target: Path
    ) -> int:
        """Write the calls of ``name`` in ``window`` to ``target`` (one record per line, newest
        first, private); return how many. Written whole, then renamed: a reader never reads
        half a file."""
        count = 0
        with atomic_writer(target, mode=0o600) as out:
            after: tuple[float, int] | None = None
            while batch := self.traces(name, window, after, limit=1000):
                for row in batch:
                    line = json.dumps(trace_record(row), ensure_ascii=False) + "\n"
                    out.write(line.encode("utf-8"))
                after = (batch[-1]["start_time"], batch[-1]["id"])
                count += len(batch)
        return count

    def export(self, name: str, window: tuple[float, float]) -> dict[str, Any]:
        """Write the calls of ``name`` in ``window`` to a new export's file, one record per
        line, newest first; record the export and return its row."""
        export_id = str(uuid.uuid4())
        make_private_dir(self.exports_dir)
        self.write_records(name, window, self.export_path(export_id))
        with self.store.transaction() as conn:
            conn.execute(
                "INSERT INTO traces_exports (id, endpoint_name, created_at, from_start_time,"
                " to_start_time) VALUES (?, ?, ?, ?, ?)",
                (export_id, name, time.time(), window[0], window[1]),
            )
        record = self.get_export(name, export_id)
        assert record is not None
        return record

    def get_export(self, name: str, export_id: str) -> dict[str, Any] | None:
        """Export ``export_id`` of endpoint ``name``, or None."""
        rows = self.store.query(
            "SELECT * FROM traces_exports WHERE endpoint_name = ? AND id = ?", (name, export_id)
        )
        return rows[0] if rows else None

    def exports(self, name: str) -> list[dict[str, Any]]:
        """The exports of endpoint ``name``, newest first."""
        return self.store.query(
            "SELECT * FROM traces_exports WHERE endpoint_name = ? ORDER BY created_at DESC, id",
            (name,),
        )
