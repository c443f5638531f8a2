"""Benchmark one client polling the local server: requests/s and latency, new vs kept-alive.

Usage::

    python benchmarks/bench_local_keepalive.py [--requests 300] [--compare-without-nodelay]

Starts a real ``LocalServer`` (no job runner) in a subprocess on a fresh data dir, then sends
sequential GETs of the status-like routes a waiting client polls (``/health``, ``/models/{id}``,
``/uploads/{id}/status``) from one ``httpx.Client``: once with a new connection per request
(``Connection: close``), once on one kept-alive connection. Prints requests/s and per-request
latency (median, p90). ``--compare-without-nodelay`` repeats the run against a server whose
listening socket is made as before the fix (no ``IPPROTO_TCP``, so no ``TCP_NODELAY``).
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

ROUTES = ["/health", "/models/{model}", "/uploads/{upload}/status"]
UPLOAD = {
    "job_description": {
        "type": "json",
        "content": json.dumps(
            {"task_description": "t", "classes_description": {"a": "A.", "b": "B."}}
        ),
    },
    "train_data": {
        "type": "csv",
        "content": "question,answer\n" + "".join(f"q{i} text,{'ab'[i % 2]}\n" for i in range(20)),
    },
    "test_data": {
        "type": "csv",
        "content": "question,answer\n" + "".join(f"t{i} text,{'ab'[i % 2]}\n" for i in range(6)),
    },
}


def _serve(data_dir: str, without_nodelay: bool) -> None:
    """Child process: serve ``data_dir`` and print ``base_url token`` on stdout."""
    from distil_sdk.local import server as server_module

    if without_nodelay:  # the listening socket as it was made before the fix

        def _old_socket(host: str) -> socket.socket:
            sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            return sock

        server_module.listening_socket = _old_socket  # type: ignore[assignment]
    server = server_module.LocalServer(Path(data_dir), run_worker=False).start()
    print(server.base_url, server.token, flush=True)
    sys.stdin.read()  # until the parent closes our stdin
    server.close()


def _measure(client: httpx.Client, paths: list[str], n: int, fresh: bool) -> list[float]:
    headers = {"Connection": "close"} if fresh else {}
    for path in paths:  # warm-up (and open the kept-alive connection)
        client.get(path, headers=headers).raise_for_status()
    latencies: list[float] = []
    for i in range(n):
        started = time.perf_counter()
        client.get(paths[i % len(paths)], headers=headers).raise_for_status()
        latencies.append(time.perf_counter() - started)
    return latencies


def _report(label: str, latencies: list[float]) -> None:
    ms = sorted(x * 1000 for x in latencies)
    p90 = ms[int(0.9 * (len(ms) - 1))]
    print(
        f"  {label:<22} {len(ms) / sum(latencies):8.1f} req/s   "
        f"median {statistics.median(ms):6.2f} ms   p90 {p90:6.2f} ms"
    )


def run(n: int, without_nodelay: bool) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "DISTIL_API_KEY": ""}
        child = subprocess.Popen(
            [sys.executable, __file__, "--serve", tmp] + (["--without-nodelay"] * without_nodelay),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=env,
        )
        try:
            assert child.stdout is not None
            base_url, token = child.stdout.readline().split()
            client = httpx.Client(
                base_url=base_url, headers={"Authorization": f"Bearer {token}"}, timeout=30
            )
            with client:
                model = client.post("/models", json={"name": "bench"}).json()["id"]
                upload = client.post(f"/models/{model}/uploads", json=UPLOAD).json()["id"]
                paths = [r.format(model=model, upload=upload) for r in ROUTES]
                title = "without TCP_NODELAY (before)" if without_nodelay else "TCP_NODELAY"
                print(f"{title}: {n} sequential GETs of {', '.join(ROUTES)}")
                _report("new connection each", _measure(client, paths, n, fresh=True))
                _report("one kept-alive conn", _measure(client, paths, n, fresh=False))
        finally:
            if child.stdin is not None:
                child.stdin.close()
            child.wait(60)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--compare-without-nodelay", action="store_true")
    parser.add_argument("--serve", help=argparse.SUPPRESS)
    parser.add_argument("--without-nodelay", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        _serve(args.serve, args.without_nodelay)
        return
    print(f"python {sys.version.split()[0]}, httpx {httpx.__version__}, {os.cpu_count()} CPUs")
    run(args.requests, without_nodelay=False)
    if args.compare_without_nodelay:
        run(args.requests, without_nodelay=True)


if __name__ == "__main__":
    main()
