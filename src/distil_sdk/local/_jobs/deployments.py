"""Deployments of the local platform: one model server process per deployment.

A deployment runs ``python -m distil_sdk.serving MODEL --port 0`` in its own process group
(so a signal to the platform's terminal does not reach it, and stopping it stops whatever it
started), with its output in ``deployments/<id>/server.log`` under the data dir. Its API key
travels in ``$DISTIL_SERVE_API_KEYS`` rather than on the command line, which other users of
the machine can read. The server prints ``serving NAME at http://HOST:PORT`` once bound; the
port is read from that line.

States, in the platform's vocabulary (``execution/backend-api.md`` § Deploy an SLM):

- ``deployment_status`` is the job that brings the server up: ``JOB_RUNNING`` until
  ``/health`` answers 200, then ``JOB_SUCCESS`` (serving), ``JOB_FAILURE`` when the process
  exited before that, ``JOB_STOPPED`` when deleted before that. After a delete of a serving
  deployment it stays ``JOB_SUCCESS``, as on the platform.
- ``endpoint_status`` is the server itself: ``starting``, ``running``, ``failed`` (the process
  exited on its own) or ``stopped`` (deleted, or the local platform closed).

State is settled when read (`DeploymentSupervisor.get`): no thread watches the processes.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import secrets
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any

from .._storage.private import make_private_dir
from .._storage.store import JOB_FAILURE, JOB_RUNNING, JOB_STOPPED, JOB_SUCCESS, Store

__all__ = [
    "FAILED",
    "RUNNING",
    "STARTING",
    "STOPPED",
    "DeploymentSupervisor",
]

logger = logging.getLogger("distil_sdk.local")

STARTING, RUNNING, FAILED, STOPPED = "starting", "running", "failed", "stopped"
#: The model server's entry point (``distil_sdk.serving``); tests may point it elsewhere.
SERVING_MODULE_ENV = "DISTIL_LOCAL_SERVING_MODULE"
SERVING_MODULE = "distil_sdk.serving"
#: How long a stopped server may drain before it is killed.
STOP_TIMEOUT_S = 15.0
#: Marks a server process as this deployment's, so a recycled pid is never signalled.
_ID_ENV = "DISTIL_DEPLOYMENT_ID"
_KEYS_ENV = "DISTIL_SERVE_API_KEYS"
_BOUND = re.compile(r"^serving .+ at http://[^\s/]+:(\d+)\s*$", re.MULTILINE)
_LOG_LIMIT_BYTES = 256 * 1024

_SCHEMA = """
CREATE TABLE IF NOT EXISTS deployments (
    id TEXT PRIMARY KEY, slm_id TEXT NOT NULL, created_at REAL NOT NULL, pid INTEGER,
    port INTEGER, api_key TEXT NOT NULL, deployment_status TEXT NOT NULL,
    endpoint_status TEXT NOT NULL, message TEXT NOT NULL DEFAULT ''
)
"""


class DeploymentSupervisor:
    """The ``deployments`` table of a data dir and the server processes behind it."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.root = store.data_dir / "deployments"
        make_private_dir(self.root)
        with store.transaction() as conn:
            conn.execute(_SCHEMA)
        self._procs: dict[str, subprocess.Popen[bytes]] = {}
        self._lock = threading.Lock()

    def log_path(self, deployment_id: str) -> Path:
        """The server's log (its stdout and stderr)."""
        return self.root / deployment_id / "server.log"

    # -- lifecycle ------------------------------------------------------------------------------
    def start(self, slm_id: str, model: Path, model_name: str) -> dict[str, Any]:
        """Start a server for ``model`` (a model folder or tarball); return the new record."""
        deployment_id = str(uuid.uuid4())
        key = secrets.token_urlsafe(32)
        log = self.log_path(deployment_id)
        make_private_dir(log.parent)
        env = {k: v for k, v in os.environ.items() if k != "DISTIL_API_KEY"}  # not its secret
        env.update({_KEYS_ENV: key, _ID_ENV: deployment_id})
        module = os.environ.get(SERVING_MODULE_ENV) or SERVING_MODULE
        command = [sys.executable, "-m", module, str(model), "--host", "127.0.0.1"]
        command += ["--port", "0", "--model-name", model_name]
        with log.open("ab") as out:
            proc = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True,  # its own process group: stopped as a whole
            )
        with self._lock:
            self._procs[deployment_id] = proc
        with self.store.transaction() as conn:
            conn.execute(
                "INSERT INTO deployments (id, slm_id, created_at, pid, port, api_key,"
                " deployment_status, endpoint_status) VALUES (?, ?, ?, ?, NULL, ?, ?, ?)",
                (deployment_id, slm_id, time.time(), proc.pid, key, JOB_RUNNING, STARTING),
            )
        logger.info("deployment %s of %s started (pid %d)", deployment_id, slm_id, proc.pid)
        record = self._row(deployment_id)
        assert record is not None
        return record

    def get(self, deployment_id: str) -> dict[str, Any] | None:
        """The record, its state settled now (started, exited), or ``None``."""
        record = self._row(deployment_id)
        if record is None or record["endpoint_status"] not in (STARTING, RUNNING):
            return record
        how = self._exit_code(record)
        if how is not None:
            return self._exited(record, how)
        if record["endpoint_status"] == STARTING:
            port = record["port"] or self._bound_port(deployment_id)
            if port is not None and _healthy(port):
                self._update(deployment_id, port=port, deployment_status=JOB_SUCCESS)
                self._update(deployment_id, endpoint_status=RUNNING, message="serving")
                return self._row(deployment_id)
        return record

    def stop(self, deployment_id: str) -> dict[str, Any] | None:
        """Stop the server (SIGTERM to its group, SIGKILL after `STOP_TIMEOUT_S`); the record
        reads ``stopped``. ``None`` for an unknown id."""
        record = self.get(deployment_id)
        if record is None:
            return None
        self._terminate([record])
        status = record["deployment_status"]
        self._update(
            deployment_id,
            deployment_status=JOB_STOPPED if status == JOB_RUNNING else status,
            endpoint_status=STOPPED,
            message="deleted",
        )
        return self._row(deployment_id)

    def stop_all(self) -> int:
        """Stop every server this data dir runs (the local platform is closing); their count."""
        live = [r for r in self._live_rows() if self._exit_code(r) is None]
        self._terminate(live)
        for record in live:
            status = record["deployment_status"]
            self._update(
                record["id"],
                deployment_status=JOB_STOPPED if status == JOB_RUNNING else status,
                endpoint_status=STOPPED,
                message="stopped with the local platform",
            )
        return len(live)

    def recover(self) -> list[str]:
        """At start: a deployment recorded live whose process is gone (the previous server
        died) is marked failed; one whose process still runs is adopted. The failed ids."""
        failed = []
        for record in self._live_rows():
            if _our_process(record["pid"], record["id"]):
                continue
            failed.append(record["id"])
            self._update(
                record["id"],
                deployment_status=JOB_FAILURE
                if record["deployment_status"] == JOB_RUNNING
                else record["deployment_status"],
                endpoint_status=FAILED,
                message="the local server stopped while this deployment ran, and its model "
                "server is gone; create the deployment again",
            )
        return failed

    def logs(self, deployment_id: str) -> str:
        """The end (at most 256 KiB) of the server's log; "" before it wrote anything."""
        try:
            with self.log_path(deployment_id).open("rb") as fh:
                fh.seek(0, os.SEEK_END)
                fh.seek(max(0, fh.tell() - _LOG_LIMIT_BYTES))
                return fh.read().decode("utf-8", "replace")
        except OSError:
            return ""

    # -- internals ------------------------------------------------------------------------------
    def _row(self, deployment_id: str) -> dict[str, Any] | None:
        rows = self.store.query("SELECT * FROM deployments WHERE id = ?", (deployment_id,))
        return rows[0] if rows else None

    def _live_rows(self) -> list[dict[str, Any]]:
        return self.store.query(
            "SELECT * FROM deployments WHERE endpoint_status IN (?, ?)", (STARTING, RUNNING)
        )

    def _update(self, deployment_id: str, **fields: Any) -> None:
        names = ", ".join(f"{name} = ?" for name in fields)  # names are ours, never input
        with self.store.transaction() as conn:
            conn.execute(
                f"UPDATE deployments SET {names} WHERE id = ?", (*fields.values(), deployment_id)
            )

    def _bound_port(self, deployment_id: str) -> int | None:
        match = _BOUND.search(self.logs(deployment_id))
        return int(match.group(1)) if match else None

    def _exit_code(self, record: dict[str, Any]) -> str | None:
        """How the server process ended (``exited with code 1``), or None while it runs."""
        with self._lock:
            proc = self._procs.get(record["id"])
        if proc is None:  # adopted from a previous server: not our child, no exit code
            return None if _our_process(record["pid"], record["id"]) else "is gone"
        code = proc.poll()
        if code is None:
            return None
        return f"was killed by signal {-code}" if code < 0 else f"exited with code {code}"

    def _exited(self, record: dict[str, Any], how: str) -> dict[str, Any] | None:
        starting = record["endpoint_status"] == STARTING
        where = f"; see GET /deployments/{record['id']}/logs"
        self._update(
            record["id"],
            deployment_status=JOB_FAILURE if starting else record["deployment_status"],
            endpoint_status=FAILED,
            message=f"the model server {how}" + (" before it served" if starting else "") + where,
        )
        return self._row(record["id"])

    def _terminate(self, records: list[dict[str, Any]]) -> None:
        """SIGTERM each live server's group, wait for all, SIGKILL what outlived the wait."""
        targets = []
        for record in records:
            if self._exit_code(record) is None and _signal_group(record["pid"], signal.SIGTERM):
                targets.append(record)
        deadline = time.monotonic() + STOP_TIMEOUT_S
        for record in targets:
            while self._exit_code(record) is None and time.monotonic() < deadline:
                time.sleep(0.05)
            if self._exit_code(record) is None:
                logger.warning("deployment %s did not drain: killed", record["id"])
                _signal_group(record["pid"], signal.SIGKILL)
                self._wait_gone(record)

    def _wait_gone(self, record: dict[str, Any]) -> None:
        with self._lock:
            proc = self._procs.get(record["id"])
        if proc is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(5)


def _signal_group(pid: int, signum: int) -> bool:
    """Signal ``pid``'s process group (it leads its own); False when it is already gone."""
    try:
        os.killpg(pid, signum)
    except ProcessLookupError:
        return False
    return True


def _our_process(pid: int | None, deployment_id: str) -> bool:
    """Whether ``pid`` is alive and is this deployment's server (its environment says so).

    Where ``/proc`` cannot tell, the answer is False: never signal a process we cannot name.
    """
    if not pid:
        return False
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        if stat.rsplit(")", 1)[-1].split()[0] == "Z":  # a zombie has exited
            return False
        environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    except OSError:
        return False
    return f"{_ID_ENV}={deployment_id}".encode() in environ


def _healthy(port: int) -> bool:
    """Whether the server on ``port`` answers ``GET /health`` with 200 (ready, not draining)."""
    import httpx

    try:
        return httpx.get(f"http://127.0.0.1:{port}/health", timeout=2.0).status_code == 200
    except httpx.HTTPError:
        return False
