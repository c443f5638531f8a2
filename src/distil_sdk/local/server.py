"""Serving the local platform: ``distil-sdk serve`` and the embedded server of ``DistilClient.local``.

One server per data dir: the serving process holds an exclusive lock on
``<data_dir>/server.lock`` for its whole life and publishes ``<data_dir>/server.json``
(``host``, ``port``, ``pid``, ``instance``). `ensure_local_server` starts an embedded
server on a free loopback port when none holds the lock, otherwise attaches to the one that
does. Because the OS drops the lock when a process dies, a stale ``server.json`` is recognised
and a crashed server never blocks the next one.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import threading
import time
import uuid
from pathlib import Path
from types import FrameType, TracebackType
from typing import IO

from .._errors import DistilError
from .._uvicorn_thread import ServerThread, listening_socket
from ._api.auth import load_or_create_token
from ._jobs.packaging import publish_bytes
from ._storage.private import make_private_dir

__all__ = [
    "DATA_DIR_ENV",
    "LocalServer",
    "LocalServerHandle",
    "default_data_dir",
    "ensure_local_server",
    "serve",
]

logger = logging.getLogger("distil_sdk.local")

DATA_DIR_ENV = "DISTIL_DATA_DIR"
ENDPOINT_FILE = "server.json"
LOCK_FILE = "server.lock"


def default_data_dir() -> Path:
    """``$DISTIL_DATA_DIR``, else ``~/.distil_sdk/local``."""
    env = os.environ.get(DATA_DIR_ENV)
    return Path(env).expanduser() if env else Path.home() / ".distil_sdk" / "local"


def _try_lock(data_dir: Path) -> IO[str] | None:
    """The open, exclusively locked lock file, or ``None`` when another process holds it."""
    import fcntl

    handle = (data_dir / LOCK_FILE).open("a+", encoding="utf-8")
    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        handle.close()
        return None
    return handle


class LocalServerHandle:
    """How a client reaches a local server: ``base_url`` and ``token``; ``close()`` when done.

    A handle from `ensure_local_server` that attached to another process's server does
    nothing on close; one that started the server stops it on the last close.
    """

    def __init__(self, base_url: str, token: str, data_dir: Path) -> None:
        self.base_url = base_url
        self.token = token
        self.data_dir = data_dir
        self._closed = False

    def close(self) -> None:
        """Release this handle."""
        self._closed = True

    def __enter__(self) -> LocalServerHandle:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:  # never show the token
        return f"{type(self).__name__}(base_url={self.base_url!r}, data_dir={str(self.data_dir)!r})"


class LocalServer(LocalServerHandle):
    """A uvicorn server for one data dir, running in a background thread of this process.

    Args:
        data_dir: the data dir to serve (created if missing).
        host: interface to bind; loopback by default, as the API has a single shared token.
        port: TCP port; 0 picks a free one.
        poll_interval: the job runner's idle poll interval.
        max_body_bytes: largest ``/models`` upload body, and ceiling of every API body
            (default ``$DISTIL_LOCAL_MAX_BODY_BYTES``, else 64 MiB); larger ones are refused
            with 413 before they are read.
        max_json_bytes: largest body of every other API request (default
            ``$DISTIL_LOCAL_MAX_JSON_BYTES``, else 1 MiB); larger ones are refused with 413.
        run_worker: run queued jobs (``False`` serves the API only, e.g. to test it).
    """

    def __init__(
        self,
        data_dir: Path,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        poll_interval: float = 1.0,
        max_body_bytes: int | None = None,
        max_json_bytes: int | None = None,
        run_worker: bool = True,
    ) -> None:
        data_dir = Path(data_dir).expanduser().resolve()
        super().__init__("", "", data_dir)
        self.host, self.port = host, port
        self.poll_interval = poll_interval
        self.max_body_bytes = max_body_bytes
        self.max_json_bytes = max_json_bytes
        self.run_worker = run_worker
        self._lock_file: IO[str] | None = None
        self._http: ServerThread | None = None
        self.instance_id = uuid.uuid4().hex

    def start(self) -> LocalServer:
        """Take the data dir's lock, bind, start serving; raise ``DistilError`` if it is taken."""
        from .app import create_app

        make_private_dir(self.data_dir)
        self._lock_file = _try_lock(self.data_dir)
        if self._lock_file is None:
            raise DistilError(
                f"another process is already serving {self.data_dir} (see {ENDPOINT_FILE} there); "
                "stop it or use another --data-dir"
            )
        try:
            self.token = load_or_create_token(self.data_dir)
            app = create_app(
                self.data_dir,
                self.token,
                instance_id=self.instance_id,
                poll_interval=self.poll_interval,
                max_body_bytes=self.max_body_bytes,
                max_json_bytes=self.max_json_bytes,
                run_worker=self.run_worker,
            )
            sock = listening_socket(self.host)
            try:
                sock.bind((self.host, self.port))
            except BaseException:
                sock.close()
                raise
            self.port = sock.getsockname()[1]
            self._http = ServerThread(
                app,
                sock,
                name="distil-local-server",
                failure=f"the local server for {self.data_dir} failed to start",
            )
        except BaseException:
            self._shutdown()
            raise
        host = f"[{self.host}]" if ":" in self.host else self.host
        self.base_url = f"http://{host}:{self.port}"
        endpoint = {
            "host": self.host,
            "port": self.port,
            "pid": os.getpid(),
            "instance": self.instance_id,
        }
        publish_bytes(json.dumps(endpoint).encode("utf-8"), self.data_dir / ENDPOINT_FILE)
        logger.info("local platform serving %s at %s", self.data_dir, self.base_url)
        return self

    @property
    def running(self) -> bool:
        """Whether the server thread is alive."""
        return self._http is not None and self._http.running

    def wait(self) -> None:
        """Block until the server stops (Ctrl-C or SIGTERM stop it gracefully)."""
        if self._http is not None:
            self._http.wait()

    def close(self) -> None:
        """Stop serving: running jobs are killed (and marked failed), the lock is released."""
        if not self._closed:
            self._closed = True
            self._shutdown()

    def _shutdown(self) -> None:
        if self._http is not None:
            self._http.stop()
        if self._lock_file is not None:
            with contextlib.suppress(OSError):
                endpoint = json.loads((self.data_dir / ENDPOINT_FILE).read_text("utf-8"))
                if endpoint.get("instance") == self.instance_id:
                    (self.data_dir / ENDPOINT_FILE).unlink()
            self._lock_file.close()  # releases the flock
            self._lock_file = None


def serve(
    host: str = "127.0.0.1",
    port: int = 8700,
    data_dir: Path | None = None,
    *,
    max_body_bytes: int | None = None,
    max_json_bytes: int | None = None,
) -> None:
    """Serve ``data_dir`` on ``host:port`` in the foreground until Ctrl-C or SIGTERM."""
    server = LocalServer(
        data_dir or default_data_dir(),
        host,
        port,
        max_body_bytes=max_body_bytes,
        max_json_bytes=max_json_bytes,
    ).start()

    def _graceful(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, _graceful)
    try:
        server.wait()
    except KeyboardInterrupt:
        logger.info("stopping the local platform")
    finally:
        server.close()
        signal.signal(signal.SIGTERM, previous)


# -- embedded servers shared within this process ----------------------------------------------
_registry_lock = threading.Lock()
_owned: dict[Path, tuple[LocalServer, int]] = {}


class _SharedHandle(LocalServerHandle):
    """A reference to a server this process started; the last one closed stops it."""

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        with _registry_lock:
            server, refs = _owned[self.data_dir]
            if refs > 1:
                _owned[self.data_dir] = (server, refs - 1)
                return
            del _owned[self.data_dir]
        server.close()


def _attach(data_dir: Path, timeout: float) -> LocalServerHandle:
    """Attach to the server another process runs for ``data_dir`` (waiting while it starts)."""
    import httpx

    deadline = time.monotonic() + timeout
    last_error = "no server.json"
    while time.monotonic() < deadline:
        try:
            endpoint = json.loads((data_dir / ENDPOINT_FILE).read_text("utf-8"))
            host = f"[{endpoint['host']}]" if ":" in endpoint["host"] else endpoint["host"]
            if host in ("0.0.0.0", "[::]"):
                host = "127.0.0.1"
            base_url = f"http://{host}:{endpoint['port']}"
            health = httpx.get(f"{base_url}/health", timeout=2.0).json()
            if health.get("instance") == endpoint["instance"]:
                return LocalServerHandle(base_url, load_or_create_token(data_dir), data_dir)
            last_error = "server.json does not match the server answering on its port"
        except (OSError, ValueError, KeyError, httpx.HTTPError) as exc:
            last_error = str(exc)
        time.sleep(0.1)
    raise DistilError(
        f"{data_dir} is locked by another process but no local server answers there "
        f"({last_error}); stop that process or use another data dir"
    )


def ensure_local_server(
    data_dir: str | os.PathLike[str] | None = None, *, attach_timeout: float = 15.0
) -> LocalServerHandle:
    """A handle on a local server for ``data_dir``, starting one embedded if none is running.

    The embedded server binds a free loopback port in a background thread of this process and
    lives until the last handle is closed. When another process already serves ``data_dir``
    (``distil-sdk serve`` or another client), the handle attaches to it instead.

    Example:
        >>> with ensure_local_server("~/.distil_sdk/local") as handle:  # doctest: +SKIP
        ...     print(handle.base_url)
    """
    path = Path(data_dir).expanduser() if data_dir is not None else default_data_dir()
    path = make_private_dir(path.resolve())
    with _registry_lock:
        if path in _owned:
            server, refs = _owned[path]
            _owned[path] = (server, refs + 1)
            return _SharedHandle(server.base_url, server.token, path)
        try:
            started = LocalServer(path).start()
        except DistilError:
            if (locked := _try_lock(path)) is not None:  # not a lock problem: a real failure
                locked.close()
                raise
        else:
            _owned[path] = (started, 1)
            return _SharedHandle(started.base_url, started.token, path)
    return _attach(path, attach_timeout)
