"""download_model(): presigned URL without the token, resume with Range, atomic rename, safe extraction."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import httpx
import pytest
import respx

from distil_sdk._errors import UnsafeArchiveError
from test_client_support import BASE, async_client, sync_client

S3 = "https://bucket.s3.test/model.tar"


def _tar(members: dict[str, bytes], *, evil: str | None = None) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        if evil:
            info = tarfile.TarInfo(evil)
            info.size = 1
            tar.addfile(info, io.BytesIO(b"x"))
    return buf.getvalue()


MODEL_TAR = _tar({"model/config.json": b'{"id2label": {}}', "model/model.safetensors": b"w" * 5000})


def _link() -> respx.Route:
    return respx.get(f"{BASE}/trainings/t1/model").mock(
        return_value=httpx.Response(
            200, json={"message": "ok", "s3_url": S3 + "?X-Amz-Signature=sig", "training_id": "t1"}
        )
    )


@respx.mock
def test_download_fresh_without_auth_header(tmp_path: Path) -> None:
    _link()
    s3 = respx.get(S3).mock(return_value=httpx.Response(200, content=MODEL_TAR))
    with sync_client() as client:
        path = client.v2.trainings.download_model("t1", tmp_path, progress=False)
    assert path == tmp_path / "model"
    assert (path / "config.json").read_bytes() == b'{"id2label": {}}'
    assert (tmp_path / "model.tar").read_bytes() == MODEL_TAR
    assert not (tmp_path / ".model.tar.part").exists()
    request = s3.calls.last.request
    assert "authorization" not in request.headers and "range" not in request.headers


@respx.mock
async def test_download_resumes_partial_with_range(tmp_path: Path) -> None:
    for make in (sync_client, async_client):
        dest = tmp_path / make.__name__
        dest.mkdir()
        (dest / ".model.tar.part").write_bytes(MODEL_TAR[:1000])
        (dest / ".model.tar.part.etag").write_text('"v1"')
        ranges: list[tuple[str | None, str | None]] = []

        def s3(
            request: httpx.Request, ranges: list[tuple[str | None, str | None]] = ranges
        ) -> httpx.Response:
            ranges.append((request.headers.get("range"), request.headers.get("if-range")))
            assert "authorization" not in request.headers
            start = int(request.headers["range"].removeprefix("bytes=").rstrip("-"))
            return httpx.Response(
                206,
                content=MODEL_TAR[start:],
                headers={"Content-Range": f"bytes {start}-{len(MODEL_TAR) - 1}/{len(MODEL_TAR)}"},
            )

        _link()
        respx.get(S3).mock(side_effect=s3)
        client = make()
        result = client.v2.trainings.download_model("t1", dest, progress=False)
        path = await result if not isinstance(result, Path) else result
        assert ranges == [("bytes=1000-", '"v1"')]
        assert (dest / "model.tar").read_bytes() == MODEL_TAR and (
            path / "model.safetensors"
        ).exists()
        respx.routes.clear()


@respx.mock
def test_download_server_ignores_range_and_sends_200(tmp_path: Path) -> None:
    (tmp_path / ".model.tar.part").write_bytes(b"garbage-from-another-file")
    _link()
    respx.get(S3).mock(return_value=httpx.Response(200, content=MODEL_TAR))
    with sync_client() as client:
        client.v2.trainings.download_model("t1", tmp_path, progress=False)
    assert (tmp_path / "model.tar").read_bytes() == MODEL_TAR


@respx.mock
def test_dropped_stream_is_resumed(tmp_path: Path) -> None:
    calls: list[str | None] = []

    def s3(request: httpx.Request) -> httpx.Response:
        calls.append(request.headers.get("range"))
        if len(calls) == 1:
            # first answer announces the full size but delivers half: the client resumes
            return httpx.Response(
                200, content=MODEL_TAR[:3000], headers={"Content-Length": str(len(MODEL_TAR))}
            )
        return httpx.Response(
            206,
            content=MODEL_TAR[3000:],
            headers={"Content-Range": f"bytes 3000-{len(MODEL_TAR) - 1}/{len(MODEL_TAR)}"},
        )

    _link()
    respx.get(S3).mock(side_effect=s3)
    with sync_client() as client:
        client.v2.trainings.download_model("t1", tmp_path, progress=False)
    assert calls == [None, "bytes=3000-"]
    assert (tmp_path / "model.tar").read_bytes() == MODEL_TAR


@respx.mock
def test_416_with_complete_part_finishes(tmp_path: Path) -> None:
    (tmp_path / ".model.tar.part").write_bytes(MODEL_TAR)
    _link()
    respx.get(S3).mock(
        return_value=httpx.Response(416, headers={"Content-Range": f"bytes */{len(MODEL_TAR)}"})
    )
    with sync_client() as client:
        assert (
            client.v2.trainings.download_model("t1", tmp_path, progress=False) / "config.json"
        ).exists()


@pytest.mark.parametrize("evil", ["../escape.txt", "/etc/evil"])
@respx.mock
def test_malicious_tarball_rejected(tmp_path: Path, evil: str) -> None:
    _link()
    respx.get(S3).mock(return_value=httpx.Response(200, content=_tar({"model/a": b"a"}, evil=evil)))
    dest = tmp_path / "dl"
    with sync_client() as client, pytest.raises(UnsafeArchiveError):
        client.v2.trainings.download_model("t1", dest, progress=False)
    assert not (tmp_path / "escape.txt").exists() and not (dest / "model").exists()


@respx.mock
async def test_top_level_model_symlink_refused_and_no_dangling_path(tmp_path: Path) -> None:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        info = tarfile.TarInfo("real/config.json")
        info.size = 2
        tar.addfile(info, io.BytesIO(b"{}"))
        link = tarfile.TarInfo("model")
        link.type, link.linkname = tarfile.SYMTYPE, "real"
        tar.addfile(link)
    _link()
    respx.get(S3).mock(return_value=httpx.Response(200, content=buf.getvalue()))
    for make, dest in ((sync_client, tmp_path / "s"), (async_client, tmp_path / "a")):
        with pytest.raises(UnsafeArchiveError, match="top-level 'model' is a symbolic link"):
            if make is sync_client:
                with sync_client() as client:
                    client.v2.trainings.download_model("t1", dest, progress=False)
            else:
                async with async_client() as aclient:
                    await aclient.v2.trainings.download_model("t1", dest, progress=False)
        assert not (dest / "model").exists() and not (dest / "model").is_symlink()
        # only the downloaded file stays: no extraction folder, temporary or not
        assert sorted(p.name for p in dest.iterdir()) == ["model.tar"]


@respx.mock
def test_orphan_extraction_folder_of_a_killed_download_is_removed(tmp_path: Path) -> None:
    orphan = tmp_path / "..model.extract.999999999.abcd1234"  # its process is gone
    (orphan / "model").mkdir(parents=True)
    _link()
    respx.get(S3).mock(return_value=httpx.Response(200, content=MODEL_TAR))
    with sync_client() as client:
        client.v2.trainings.download_model("t1", tmp_path, progress=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model", "model.tar"]
