"""A preloaded ``distil-sdk`` for the documentation snippets (``test_doc_snippets``).

The docs run the CLI about twenty times; each fresh process would import torch and transformers
again (6-7 s of CPU for a ``predict``). This server imports them once and forks a child per
command, so every command still starts from the same clean state: the child takes over the
caller's stdin/stdout/stderr (passed as file descriptors), working folder and environment, runs
``distil_sdk.cli.main(argv)`` and sends its exit status back.

``python _cli_zygote.py SOCKET`` serves; ``python _cli_zygote.py SOCKET --run ARG...`` is the
client that the sandbox's ``distil-sdk`` script runs. Polling of waits is shortened as in
``test_doc_snippets`` (``FAST_POLL``), since what the snippets show is not the waiting.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import signal
import socket
import sys
import traceback

FAST_POLL = (0.1, 0.5)


def _client(path: str, argv: list[str]) -> int:
    request = json.dumps({"argv": argv, "cwd": os.getcwd(), "env": dict(os.environ)}).encode()
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
        conn.connect(path)
        socket.send_fds(conn, [len(request).to_bytes(8, "big") + request], [0, 1, 2])
        reply = b""
        while chunk := conn.recv(16):
            reply += chunk
    if not reply:
        print("distil-sdk (doc sandbox): the command died without an exit status", file=sys.stderr)
        return 1
    return int(reply)


def _recv_request(conn: socket.socket) -> tuple[dict[str, object], list[int]]:
    data, fds, _flags, _addr = socket.recv_fds(conn, 1 << 16, 3)
    size = int.from_bytes(data[:8], "big")
    body = data[8:]
    while len(body) < size:
        body += conn.recv(size - len(body))
    return json.loads(body), fds


def _child(conn: socket.socket, request: dict[str, object], fds: list[int]) -> None:
    code = 1
    try:
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        for target, fd in enumerate(fds):
            os.dup2(fd, target)
            os.close(fd)
        os.chdir(str(request["cwd"]))
        env = request["env"]
        assert isinstance(env, dict)
        os.environ.clear()
        os.environ.update(env)
        argv = request["argv"]
        assert isinstance(argv, list)
        sys.argv = ["distil-sdk", *argv]
        from distil_sdk.cli import main

        try:
            code = main(argv)
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
    except BaseException:
        traceback.print_exc()
    finally:
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):
                stream.flush()
        try:
            conn.sendall(str(code).encode())
        finally:
            os._exit(0)


def _serve(path: str) -> None:
    # What a CLI command may need, imported once (no threads are started by importing them).
    import distil_sdk.cli
    import distil_sdk.inference  # noqa: F401
    import distil_sdk.resources._base as base

    # wait() reads these module globals at call time.
    vars(base).update(DEFAULT_POLL_INTERVAL_S=FAST_POLL[0], MAX_POLL_INTERVAL_S=FAST_POLL[1])
    for optional in (
        "pandas",
        "pyarrow",
        "distil_sdk.batch",
        "matplotlib.pyplot",  # evaluate --plot; MPLBACKEND=Agg
        "transformers.models.bert.modeling_bert",  # the tiny models' (and MiniLM's) architecture
    ):
        with contextlib.suppress(ImportError):
            importlib.import_module(optional)
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # children are reaped by the kernel
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as server:
        server.bind(path + ".tmp")
        os.rename(path + ".tmp", path)  # the socket appears only once it is bound
        server.listen(8)
        while True:
            conn, _ = server.accept()
            request, fds = _recv_request(conn)
            if os.fork() == 0:
                server.close()
                _child(conn, request, fds)
            for fd in fds:
                os.close(fd)
            conn.close()


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[2] == "--run":
        sys.exit(_client(sys.argv[1], sys.argv[3:]))
    _serve(sys.argv[1])
