"""The local server against hostile input and long use: token before body, body limits (1 MiB
JSON, spooled uploads), unreadable bodies and control characters as a 422 naming the problem,
answers that never echo the body, private files, TCP_NODELAY, orphan cleanup, queue order."""

from __future__ import annotations

import asyncio
import itertools
import json
import socket
import stat
import tracemalloc
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from _local_support import running_server, upload_payload, use_fake_pipeline, wait_status
from distil_sdk.local._api.limits import PUBLIC_ROUTES, PublicRoute, parse_size, resolve_limit
from distil_sdk.local._storage.store import Store
from distil_sdk.local.app import create_app
from distil_sdk.local.server import LocalServer

MiB = 2**20


@pytest.fixture
def small_limit_server(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> Iterator[tuple[LocalServer, httpx.Client]]:
    """A server whose request bodies are limited to 1 MiB (set as a user would), and a client."""
    use_fake_pipeline(monkeypatch, tmp_path)
    monkeypatch.setenv("DISTIL_LOCAL_MAX_BODY_BYTES", "1M")
    with running_server(tmp_path / "data") as served:
        yield served


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    opened = Store(tmp_path / "data")
    try:
        yield opened
    finally:
        opened.close()


def _finished_teacher_evaluation(client: httpx.Client) -> str:
    """Run a teacher evaluation (the fake pipeline, its gate open) to success; its job id."""
    model_id = client.post("/models", json={"name": "m"}).json()["id"]
    upload_id = client.post(f"/models/{model_id}/uploads", json=upload_payload()).json()["id"]
    job_id = client.post(
        f"/models/{model_id}/teacher-evaluations", json={"upload_id": upload_id}
    ).json()["id"]
    wait_status(client, "teacher", job_id, "JOB_SUCCESS")
    return str(job_id)


def _raw_request(server: LocalServer, head: str, timeout: float = 10.0) -> bytes:
    """Send only the request head (no body) and return what the server answers meanwhile.

    A server that waits for the announced body before answering times out here.
    """
    with socket.create_connection(("127.0.0.1", server.port), timeout=timeout) as conn:
        conn.sendall(head.encode("latin-1"))
        answer = b""
        while b"\r\n\r\n" not in answer:
            chunk = conn.recv(65536)
            if not chunk:
                break
            answer += chunk
        return answer


def _post_head(path: str, length: int, token: str | None = None) -> str:
    auth = f"Authorization: Bearer {token}\r\n" if token else ""
    return (
        f"POST {path} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
        f"{auth}Content-Length: {length}\r\n\r\n"
    )


# -- TCP_NODELAY --------------------------------------------------------------------------------
def test_accepted_connections_have_tcp_nodelay(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    use_fake_pipeline(monkeypatch, tmp_path)
    with running_server(tmp_path / "data") as (server, client):
        assert client.get("/health").status_code == 200  # opens the kept-alive connection
        assert server._http is not None
        connections = list(server._http.server.server_state.connections)
        assert connections, "the kept-alive connection should still be open"
        for protocol in connections:
            sock = protocol.transport.get_extra_info("socket")
            assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0


# -- authentication before the body, body limit -------------------------------------------------
def test_a_request_without_token_is_refused_before_its_body_is_read(
    small_limit_server: tuple[LocalServer, httpx.Client],
) -> None:
    server, client = small_limit_server
    # 256 MB announced, none sent: the 401 comes from the headers alone.
    answer = _raw_request(server, _post_head("/models", 256_000_000))
    assert answer.startswith(b"HTTP/1.1 401"), answer[:200]
    assert b"connection: close" in answer.lower()  # the client's upload is cut short
    # Also under the limit: a wrong token never reaches the route.
    wrong = _raw_request(server, _post_head("/models", 100, token="not-the-token"))
    assert wrong.startswith(b"HTTP/1.1 401"), wrong[:200]
    assert client.get("/models").json()["models"] == []


def test_an_announced_body_over_the_limit_is_413_before_it_is_read(
    small_limit_server: tuple[LocalServer, httpx.Client],
) -> None:
    server, client = small_limit_server
    answer = _raw_request(server, _post_head("/models", 2 * MiB, token=server.token))
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    assert client.get("/models").json()["models"] == []


def test_a_streamed_body_over_the_limit_is_413_and_the_route_never_runs(
    small_limit_server: tuple[LocalServer, httpx.Client],
) -> None:
    server, client = small_limit_server
    model_id = client.post("/models", json={"name": "m"}).json()["id"]
    payload = json.dumps(upload_payload()).encode("utf-8")
    assert len(payload) < MiB

    def chunked(total: int) -> Iterator[bytes]:  # no Content-Length: the server must count
        body = payload + b" " * (total - len(payload))
        for start in range(0, len(body), 256 * 1024):
            yield body[start : start + 256 * 1024]

    refused = client.post(
        f"/models/{model_id}/uploads",
        content=chunked(3 * MiB),
        headers={"Content-Type": "application/json"},
    )
    assert refused.status_code == 413, refused.text
    assert "DISTIL_LOCAL_MAX_BODY_BYTES" in refused.json()["message"]
    assert client.get(f"/models/{model_id}").json()["upload_ids"] == []
    assert list((server.data_dir / "uploads").iterdir()) == []

    # The same upload under the limit, streamed too, is stored.
    accepted = client.post(
        f"/models/{model_id}/uploads",
        content=chunked(len(payload) + 10),
        headers={"Content-Type": "application/json"},
    )
    assert accepted.status_code == 201, accepted.text


def test_public_routes_need_no_token_and_everything_else_does(
    small_limit_server: tuple[LocalServer, httpx.Client],
) -> None:
    server, _ = small_limit_server
    anonymous = httpx.Client(base_url=server.base_url, timeout=30)
    with anonymous:
        assert anonymous.get("/health").status_code == 200
        assert anonymous.get("/openapi.json").status_code == 200
        assert anonymous.get("/models").status_code == 401
        assert anonymous.post("/models", json={"name": "m"}).status_code == 401
        assert anonymous.get("/no-such-route").status_code == 401  # no route map for strangers
        # A presigned artifact URL is checked by its signature, not refused for the header.
        assert anonymous.get("/artifacts/job/file.jsonl").status_code == 403
        # The exemption is per method: the health path does not accept an anonymous body.
        assert anonymous.post("/health", content=b"x").status_code == 401


def test_public_route_exemptions_match_whole_paths_only() -> None:
    route = PublicRoute(frozenset({"GET"}), r"/health")
    assert route.matches("GET", "/health")
    assert not route.matches("GET", "/health/../models")
    assert not route.matches("POST", "/health")
    assert not route.matches("GET", "/healthz")
    assert any(r.limit == "staging" and r.matches("PUT", "/staging/a/b/c") for r in PUBLIC_ROUTES)


def test_body_limit_configuration(monkeypatch: pytest.MonkeyPatch) -> None:
    assert parse_size("67108864") == 64 * MiB
    assert parse_size("64M") == parse_size("64MiB") == parse_size("64 mb") == 64 * MiB
    assert parse_size("2G") == 2 * 2**30
    with pytest.raises(ValueError, match="not a size"):
        parse_size("lots")
    monkeypatch.setenv("DISTIL_LOCAL_MAX_BODY_BYTES", "8M")
    assert resolve_limit(None, "DISTIL_LOCAL_MAX_BODY_BYTES", 1) == 8 * MiB
    assert resolve_limit(5, "DISTIL_LOCAL_MAX_BODY_BYTES", 1) == 5  # the argument wins
    monkeypatch.setenv("DISTIL_LOCAL_MAX_BODY_BYTES", "-3")
    with pytest.raises(ValueError, match="DISTIL_LOCAL_MAX_BODY_BYTES"):
        resolve_limit(None, "DISTIL_LOCAL_MAX_BODY_BYTES", 1)


# -- error answers never echo the body ----------------------------------------------------------
def test_validation_errors_never_echo_the_body(
    small_limit_server: tuple[LocalServer, httpx.Client],
) -> None:
    _, client = small_limit_server
    secret = "PRIVATE-DATA-" * 2000
    extra = client.post("/models", json={"name": "m", "k" * 500: secret})
    assert extra.status_code == 422
    assert "PRIVATE-DATA" not in extra.text and len(extra.text) < 2000
    assert extra.json()["errors"][0]["msg"] == "Extra inputs are not permitted"
    assert extra.json()["errors"][0]["loc"][0] == "body"

    many = client.post("/models", json={f"extra{i}": secret[:100] for i in range(500)})
    assert many.status_code == 422
    assert "PRIVATE-DATA" not in many.text and len(many.text) < 20_000
    assert len(many.json()["errors"]) <= 20 and "more error(s)" in many.json()["message"]

    broken = client.post(
        "/models",
        content=b'{"name": "' + secret.encode(),
        headers={"Content-Type": "application/json"},
    )
    assert broken.status_code == 422
    assert "PRIVATE-DATA" not in broken.text
    assert client.get("/models").json()["models"] == []


# -- files on disk ------------------------------------------------------------------------------
def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_data_dir_database_and_job_files_are_private(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    gate = use_fake_pipeline(monkeypatch, tmp_path)
    gate.touch()
    data_dir = tmp_path / "data"
    # A data dir an older version left readable by everyone is tightened at start.
    data_dir.mkdir(mode=0o755)
    (data_dir / "distil.db").touch(mode=0o644)
    data_dir.chmod(0o755)
    (data_dir / "distil.db").chmod(0o644)
    with running_server(data_dir) as (_, client):
        job_id = _finished_teacher_evaluation(client)
        assert _mode(data_dir) == 0o700
        for name in ("distil.db", "distil.db-wal", "distil.db-shm", "token"):
            assert _mode(data_dir / name) == 0o600, name
        job_dir = data_dir / "jobs" / job_id
        assert _mode(job_dir) == 0o700
        for path in [job_dir / "stderr.log", job_dir / "result.json"]:
            assert _mode(path) == 0o600, path
        for path in (job_dir / "artifacts").iterdir():
            assert _mode(path) & 0o077 == 0, path


def test_orphaned_work_folders_are_removed_at_start(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    gate = use_fake_pipeline(monkeypatch, tmp_path)
    gate.touch()
    data_dir = tmp_path / "data"
    with running_server(data_dir) as (_, client):
        job_id = _finished_teacher_evaluation(client)
    # What a job killed with its server leaves behind: scratch of a known job, and of one whose
    # row is gone (its model was deleted while the folder could not be).
    for owner in (job_id, "deleted-job"):
        (data_dir / "jobs" / owner / "work" / "checkpoint").mkdir(parents=True)
        (data_dir / "jobs" / owner / "work" / "checkpoint" / "weights.bin").write_bytes(b"x" * 10)
    with running_server(data_dir) as (_, client):
        assert not (data_dir / "jobs" / job_id / "work").exists()
        assert not (data_dir / "jobs" / "deleted-job" / "work").exists()
        # The finished job's published artifacts are not scratch: they stay served.
        assert (data_dir / "jobs" / job_id / "artifacts").is_dir()
        assert wait_status(client, "teacher", job_id, "JOB_SUCCESS")["status"] == "JOB_SUCCESS"


# -- store behaviours ---------------------------------------------------------------------------
def _queue(store: Store, count: int) -> list[str]:
    return [str(store.create_job("training", "model", "upload")["id"]) for _ in range(count)]


def test_the_queue_runs_oldest_first(store: Store) -> None:
    queued = _queue(store, 4)
    claimed = [store.claim_next_pending() for _ in range(4)]
    assert [job["id"] for job in claimed if job] == queued
    assert store.claim_next_pending() is None


def test_the_queue_keeps_insertion_order_when_clock_ticks_tie(
    monkeypatch: pytest.MonkeyPatch, store: Store
) -> None:
    import distil_sdk.local._storage.store as store_module

    monkeypatch.setattr(store_module.time, "time", lambda: 1_000_000.0)
    queued = _queue(store, 6)
    assert [store.claim_next_pending()["id"] for _ in range(6)] == queued  # type: ignore[index]


def test_finish_job_leaves_a_final_job_alone(store: Store) -> None:
    [job_id] = _queue(store, 1)
    store.claim_next_pending()
    assert store.finish_job(job_id, "JOB_SUCCESS", "done", {"k": 1}) is True
    before = store.get_job(job_id)
    assert store.finish_job(job_id, "JOB_FAILURE", "late failure") is False
    assert store.finish_job(job_id, "JOB_STOPPED", "late stop") is False
    assert store.get_job(job_id) == before
    assert before is not None and before["status"] == "JOB_SUCCESS"


def test_a_failed_job_fails_its_running_stage_only(store: Store) -> None:
    [job_id] = _queue(store, 1)
    store.claim_next_pending()
    store.set_stages(job_id, ["load", "train", "export"])
    store.report_progress(job_id, "load", "JOB_SUCCESS", "")
    store.report_progress(job_id, "train", "JOB_RUNNING", "epoch 1")
    assert store.finish_job(job_id, "JOB_FAILURE", "out of memory")
    job = store.get_job(job_id)
    assert job is not None
    assert {t["name"]: t["status"] for t in job["tasks"]} == {
        "load": "JOB_SUCCESS",
        "train": "JOB_FAILURE",
        "export": "JOB_NOT_STARTED",
    }


# -- bodies that cannot be read, bodies that are large ------------------------------------------
TOKEN = "hardening-token"


@pytest.fixture
def app_client(tmp_path: Path) -> Iterator[TestClient]:
    """The app in process (no worker), with its default limits."""
    app = create_app(tmp_path / "data", TOKEN, run_worker=False)
    with TestClient(app, raise_server_exceptions=False) as client:
        client.headers["Authorization"] = f"Bearer {TOKEN}"
        yield client


UNREADABLE = {
    "nested-100000-deep": (b"[" * 100_000 + b"]" * 100_000, "json_too_deep", "nested deeper than"),
    "nested-65-deep": (b'{"name": ' + b"[" * 64 + b"]" * 64 + b"}", "json_too_deep", "than 64"),
    "5000-digit-integer": (
        b'{"name": ' + b"7" * 5000 + b"}",
        "json_number_too_large",
        "integer with 5000 digits",
    ),
    "invalid-utf8": (b'{"name": "caf\xe9"}', "utf8_invalid", "not valid UTF-8"),
    "lone-surrogate": (b'{"name": "a\\udc00b"}', "json_lone_surrogate", "lone surrogate"),
}


@pytest.mark.parametrize("route", ["/models", "/api-keys", "/models/{model_id}/uploads"])
@pytest.mark.parametrize("case", list(UNREADABLE))
def test_an_unreadable_json_body_is_422_saying_what_is_wrong(
    app_client: TestClient, route: str, case: str
) -> None:
    body, code, says = UNREADABLE[case]
    model_id = app_client.post("/models", json={"name": "m"}).json()["id"]
    answer = app_client.post(
        route.format(model_id=model_id),
        content=body,
        headers={"Content-Type": "application/json"},
    )
    assert answer.status_code == 422, answer.text
    [error] = answer.json()["errors"]
    assert error["loc"] == ["body"] and error["type"] == code and error["msg"]
    assert answer.json()["message"] == f"invalid request: body: {error['msg']}"
    assert says in answer.json()["message"]
    assert [m["name"] for m in app_client.get("/models").json()["models"]] == ["m"]
    assert app_client.get(f"/models/{model_id}").json()["upload_ids"] == []
    assert app_client.get("/api-keys").json() == []


def _post_chunked(
    app: Any, path: str, chunks: Iterator[bytes], at_last_chunk: Any = None
) -> tuple[int, Any, int]:
    """POST ``chunks`` to ``app`` over ASGI as a chunked body (no Content-Length), one
    ``receive`` per chunk as a server delivers them; the status, JSON answer and the bytes the
    app pulled. ``at_last_chunk()`` runs when the app asks for the last one."""
    pulled = 0
    answer: dict[str, Any] = {"body": b""}
    source = iter(chunks)
    upcoming = next(source, None)

    async def receive() -> dict[str, Any]:
        nonlocal pulled, upcoming
        if upcoming is None:
            return {"type": "http.disconnect"}
        chunk, upcoming = upcoming, next(source, None)
        if upcoming is None and at_last_chunk is not None:
            at_last_chunk()
        pulled += len(chunk)
        return {"type": "http.request", "body": chunk, "more_body": upcoming is not None}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            answer["status"] = message["status"]
        elif message["type"] == "http.response.body":
            answer["body"] += message.get("body", b"")

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": [
            (b"host", b"testserver"),
            (b"authorization", f"Bearer {TOKEN}".encode()),
            (b"content-type", b"application/json"),
            (b"transfer-encoding", b"chunked"),
        ],
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
    }
    asyncio.run(app(scope, receive, send))
    return answer["status"], json.loads(answer["body"]), pulled


def _spaces(total: int, chunk: int = 64 * 1024) -> Iterator[bytes]:
    # A fresh object per chunk, as a server delivers them: a route keeping them grows.
    for _ in range(total // chunk):
        yield b" " * chunk


def test_a_chunked_json_body_over_the_json_limit_is_413_before_the_rest_is_read(
    tmp_path: Path,
) -> None:
    app = create_app(tmp_path / "data", TOKEN, run_worker=False)
    try:
        chunks = itertools.chain([b'{"name": "m"'], _spaces(16 * MiB))
        status, answer, pulled = _post_chunked(app, "/models", chunks)
    finally:
        app.state.ctx.store.close()
    assert status == 413, answer
    assert "1 MiB" in answer["message"] and "DISTIL_LOCAL_MAX_JSON_BYTES" in answer["message"]
    # Refused at the first read past 1 MiB: the other 15 MiB were never pulled.
    assert MiB < pulled <= MiB + 64 * 1024 + 16


def test_an_upload_over_the_json_limit_is_spooled_to_disk_as_it_arrives(tmp_path: Path) -> None:
    app = create_app(tmp_path / "data", TOKEN, run_worker=False)
    store = app.state.ctx.store
    growth: list[int] = []
    try:
        model_id = store.create_model("m")["id"]
        payload = json.dumps(upload_payload()).encode("utf-8")
        chunks = itertools.chain([payload], _spaces(16 * MiB))  # JSON may end in blanks
        tracemalloc.start()
        baseline = tracemalloc.get_traced_memory()[0]
        try:
            status, answer, pulled = _post_chunked(
                app,
                f"/models/{model_id}/uploads",
                chunks,
                # What the route holds while the body still arrives.
                at_last_chunk=lambda: growth.append(tracemalloc.get_traced_memory()[0] - baseline),
            )
        finally:
            tracemalloc.stop()
        assert status == 201, answer
        assert store.upload_ids(model_id) == [answer["id"]]
    finally:
        store.close()
    assert pulled > 16 * MiB
    # 16 MiB received, at most the spool's 1 MiB of it in memory (plus the app's own).
    assert growth and growth[0] < 4 * MiB, f"{growth[0] / MiB:.1f} MiB held while receiving"


def test_names_with_control_characters_are_refused_naming_the_field(
    app_client: TestClient,
) -> None:
    for name in ("a\x00b", "tab\there", "new\nline", "esc\x1b[31m", "para\u2029graph", "\x7f"):
        answer = app_client.post("/models", json={"name": name})
        assert answer.status_code == 422, (name, answer.text)
        [error] = answer.json()["errors"]
        assert error["loc"] == ["body", "name"] and error["type"] == "control_character"
        assert error["msg"].startswith("holds the control character U+")
        assert answer.json()["message"] == f"invalid request: body.name: {error['msg']}"
    for name in ("key\n", "a\x00b", "\tkey"):
        answer = app_client.post("/api-keys", json={"api-key-name": name})
        assert answer.status_code == 422, (name, answer.text)
        [error] = answer.json()["errors"]
        assert error["loc"] == ["body", "api-key-name"] and error["type"] == "control_character"
        assert error["msg"].startswith("holds the control character U+")
    assert app_client.get("/models").json()["models"] == []
    assert app_client.get("/api-keys").json() == []
    # Printable names, any script, are kept as sent.
    for name in ("Billing model", "Modèle de facturation", "請求モデル"):
        assert app_client.post("/models", json={"name": name}).status_code == 201
