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

__all__ = ["STARTUP_TIMEOUT_S", "listening_socket", "serve_in_thread"]

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


def serve_in_thread(
    app: Any, sock: socket.socket, *, name: str, failure: str
) -> tuple[Any, threading.Thread]:
    """Serve ``app`` on the bound ``sock`` from a daemon thread named ``name``; return the
    uvicorn server and its thread once it serves, or raise ``DistilError(failure)``."""
    import uvicorn

    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name=name, daemon=True)
    thread.start()
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise DistilError(failure)
        time.sleep(0.01)
    return server, thread
