"""Fault matrix: whatever the network or the platform does, only DistilErrors reach the caller.

respx plays the faults a real server cannot show on demand: 429/5xx storms, resets, timeouts,
malformed or undecodable bodies, redirect loops - each against several client methods.
"""

from __future__ import annotations

import contextlib
import gzip
import io
import tarfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx

from distil_sdk._errors import APIError, DistilError
from test_client_support import BASE, FakeTime, async_client, sync_client

S3 = "https://bucket.s3.test/model.tar"


def _redirect_loop(request: httpx.Request) -> httpx.Response:
    return httpx.Response(302, headers={"Location": str(request.url)})


def _raise(exc: Exception) -> Callable[[httpx.Request], httpx.Response]:
    def fault(request: httpx.Request) -> httpx.Response:
        raise exc

    return fault


def _answer(status: int, **kw: Any) -> Callable[[httpx.Request], httpx.Response]:
    return lambda request: httpx.Response(status, **kw)


FAULTS: dict[str, Callable[[httpx.Request], httpx.Response]] = {
    "429 storm": _answer(429, headers={"Retry-After": "1"}),
    "503 storm": _answer(503, text="upstream down"),
    "500": _answer(500, json={"detail": "boom"}),
    "connection refused": _raise(httpx.ConnectError("refused")),
    "connection reset": _raise(httpx.RemoteProtocolError("peer closed connection")),
    "read timeout": _raise(httpx.ReadTimeout("timed out")),
    "html body": _answer(200, text="<html>gateway</html>"),
    "empty object": _answer(200, json={}),
    "null": _answer(200, json=None),
    "list": _answer(200, json=[1, "x", None]),
    "string": _answer(200, json="ok"),
    "wrong types": _answer(200, json={"id": 5, "status": {"tasks": 3}, "models": {"a": 1}}),
    "deep nesting": _answer(200, content=b"[" * 100_000 + b"]" * 100_000),
    "huge number": _answer(200, content=b'{"id": ' + b"9" * 5000 + b"}"),
    "gzip garbage": _answer(
        200, content=b"\x1f\x8bnot gzip at all", headers={"Content-Encoding": "gzip"}
    ),
    "truncated gzip json": _answer(
        200, content=gzip.compress(b'{"id": "m1"}')[:15], headers={"Content-Encoding": "gzip"}
    ),
    "bad utf-8": _answer(
        200, content=b'{"id": "\xff\xfe"}', headers={"Content-Type": "application/json"}
    ),
    "redirect loop": _redirect_loop,
    "401 without body": _answer(401),
    "error with odd body": _answer(404, content=b"\xff" * 10),
}

SYNC_CALLS: dict[str, Callable[[Any, Path], Any]] = {
    "models.list": lambda c, d: c.v2.models.list(),
    "models.get": lambda c, d: c.v2.models.get("m1"),
    "models.create": lambda c, d: c.v2.models.create("x"),
    "trainings.get": lambda c, d: c.v2.trainings.get("t1"),
    "trainings.wait": lambda c, d: c.v2.trainings.wait("t1", outage_budget=30),
    "teacher_evaluations.get": lambda c, d: c.v2.teacher_evaluations.get("e1"),
    "trainings.download_model": lambda c, d: c.v2.trainings.download_model("t1", d, progress=False),
}


@pytest.mark.parametrize("call", sorted(SYNC_CALLS))
@pytest.mark.parametrize("fault", sorted(FAULTS))
def test_only_distil_errors_escape(tmp_path: Path, fault: str, call: str) -> None:
    with respx.mock(assert_all_called=False) as mock:
        mock.route(host="api.test").mock(side_effect=FAULTS[fault])
        with sync_client(FakeTime()) as client:
            try:
                SYNC_CALLS[call](client, tmp_path)
            except DistilError as exc:
                # raised while handling a foreign exception: that one must be chained as cause
                context = exc.__context__
                if context is not None and not isinstance(context, DistilError):
                    assert exc.__cause__ is not None, f"{call} / {fault}: cause not chained"


ASYNC_CALLS: dict[str, Callable[[Any, Path], Any]] = {
    "models.list": lambda c, d: c.v2.models.list(),
    "models.create": lambda c, d: c.v2.models.create("x"),
    "trainings.wait": lambda c, d: c.v2.trainings.wait("t1", outage_budget=30),
}


@pytest.mark.parametrize("call", sorted(ASYNC_CALLS))
@pytest.mark.parametrize("fault", sorted(FAULTS))
async def test_only_distil_errors_escape_async(tmp_path: Path, fault: str, call: str) -> None:
    with respx.mock(assert_all_called=False) as mock:
        mock.route(host="api.test").mock(side_effect=FAULTS[fault])
        async with async_client(FakeTime()) as client:
            with contextlib.suppress(DistilError):
                await ASYNC_CALLS[call](client, tmp_path)


def _model_tar() -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        info = tarfile.TarInfo("model/config.json")
        info.size = 2
        tar.addfile(info, io.BytesIO(b"{}"))
    return buf.getvalue()


DOWNLOAD_FAULTS: dict[str, Callable[[httpx.Request], httpx.Response]] = {
    "gzip garbage stream": _answer(
        200, content=b"\x1f\x8b" + b"x" * 5000, headers={"Content-Encoding": "gzip"}
    ),
    "truncated tar": _answer(200, content=_model_tar()[:700]),
    "not a tar": _answer(200, content=b"<Error>AccessDenied</Error>"),
    "redirect loop": _redirect_loop,
    "reset": _raise(httpx.ReadError("connection reset")),
    "403 from S3": _answer(403, text="<Error>Request has expired</Error>"),
}


@pytest.mark.parametrize("fault", sorted(DOWNLOAD_FAULTS))
@respx.mock
async def test_download_faults_are_distil_errors(tmp_path: Path, fault: str) -> None:
    respx.get(f"{BASE}/trainings/t1/model").mock(
        return_value=httpx.Response(200, json={"message": "ok", "s3_url": S3, "training_id": "t1"})
    )
    respx.get(S3).mock(side_effect=DOWNLOAD_FAULTS[fault])
    with sync_client() as client, pytest.raises(DistilError) as info:
        client.v2.trainings.download_model("t1", tmp_path / "s", progress=False)
    assert info.value.__cause__ is not None or fault in ("403 from S3",)
    async with async_client() as aclient:
        with pytest.raises(DistilError):
            await aclient.v2.trainings.download_model("t1", tmp_path / "a", progress=False)
    assert not (tmp_path / "s" / "model").exists()


@respx.mock
def test_undecodable_body_and_redirect_loop_are_api_errors_with_cause() -> None:
    respx.get(f"{BASE}/models/a").mock(side_effect=FAULTS["gzip garbage"])
    respx.get(f"{BASE}/models/b").mock(side_effect=_redirect_loop)
    with sync_client() as client:
        with pytest.raises(APIError, match="DecodingError") as dec:
            client.v2.models.get("a")
        with pytest.raises(APIError, match="TooManyRedirects") as loop:
            client.v2.models.get("b")
    assert isinstance(dec.value.__cause__, httpx.DecodingError)
    assert isinstance(loop.value.__cause__, httpx.TooManyRedirects)
