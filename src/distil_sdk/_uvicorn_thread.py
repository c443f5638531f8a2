"""An HTTP app served by uvicorn on a background thread: the local platform and the model server.

Both bind their own socket first (port 0 picks a free one, and the port is known before the app
starts) and then wait until uvicorn says it is serving.
"""

from __future__ import annotations

import socket
import threading
import time
from typing import Any

from ._errors import DistilError

__all__ = ["STARTUP_TIMEOUT_S", "ServerThread", "listening_socket"]

#: How long uvicorn may take to start serving before the start is reported as failed.
STARTUP_TIMEOUT_S = 30.0


def listening_socket(host: str) -> socket.socket:
    """A bound-later TCP socket whose accepted connections have ``TCP_NODELAY``.

    asyncio sets ``TCP_NODELAY`` on an accepted connection only when the socket says
    ``IPPROTO_TCP`` (a socket made with protocol 0 does not), and uvicorn never sets it. Without
    it Nagle's algorithm and the client's delayed ACK hold every answer on a kept-alive
    connection for about 40 ms. Linux also copies the option from the listening socket.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    except BaseException:
        sock.close()
        raise
    return sock


class ServerThread:
    """uvicorn serving ``app`` from a daemon thread named ``name`` on ``sock`` (bound by the
    caller, who knows its port); started on construction, or ``DistilError(failure)``."""

    def __init__(self, app: Any, sock: socket.socket, *, name: str, failure: str) -> None:
        import uvicorn

        self._sock: socket.socket | None = sock
        config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="on")
        self.server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self.server.run, kwargs={"sockets": [sock]}, name=name, daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while not self.server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise DistilError(failure)
            time.sleep(0.01)

    @property
    def running(self) -> bool:
        """Whether the server thread is alive."""
        return self._thread.is_alive()

    def wait(self) -> None:
        """Block until the server stops."""
        while self._thread.is_alive():
            self._thread.join(0.5)

    def stop(self, timeout: float = 60.0) -> None:
        """Ask uvicorn to exit (it ends open requests and runs the app's shutdown), wait for the
        thread, and close the socket: uvicorn serves on it without taking ownership."""
        self.server.should_exit = True
        self._thread.join(timeout)
        if self._sock is not None:
            self._sock.close()
            self._sock = None
