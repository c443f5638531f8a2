"""download_model(): presigned URL without the token, resume with Range, atomic rename, safe extraction."""

from __future__ import annotations

import io
import tarfile
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
import respx

from distil_sdk._download import Keep, finish_download
from distil_sdk._errors import DistilError, UnsafeArchiveError
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


# ------------------------------------------------- resume, one download per folder, free space


@pytest.mark.parametrize("wrong_start", [0, 999, 1001])
@respx.mock
async def test_a_206_not_starting_where_the_part_ends_restarts_from_zero(
    tmp_path: Path, wrong_start: int
) -> None:
    # Appending bytes that start elsewhere would corrupt the file: it is fetched whole again.
    for make in (sync_client, async_client):
        dest = tmp_path / f"{make.__name__}-{wrong_start}"
        dest.mkdir()
        (dest / ".model.tar.part").write_bytes(MODEL_TAR[:1000])
        ranges: list[str | None] = []

        def s3(request: httpx.Request, ranges: list[str | None] = ranges) -> httpx.Response:
            ranges.append(request.headers.get("range"))
            if "range" not in request.headers:
                return httpx.Response(200, content=MODEL_TAR)
            end, total = len(MODEL_TAR) - 1, len(MODEL_TAR)
            return httpx.Response(
                206,
                content=MODEL_TAR[wrong_start:],
                headers={"Content-Range": f"bytes {wrong_start}-{end}/{total}"},
            )

        _link()
        respx.get(S3).mock(side_effect=s3)
        result = make().v2.trainings.download_model("t1", dest, progress=False)
        path = await result if not isinstance(result, Path) else result
        assert ranges == ["bytes=1000-", None]
        assert (dest / "model.tar").read_bytes() == MODEL_TAR
        assert (path / "model.safetensors").read_bytes() == b"w" * 5000
        respx.routes.clear()


def _small_disk(monkeypatch: pytest.MonkeyPatch, free: int) -> None:
    import shutil

    usage = shutil.disk_usage(".")._replace(free=free)
    monkeypatch.setattr(shutil, "disk_usage", lambda path: usage)


@respx.mock
def test_a_download_the_disk_cannot_hold_is_refused_before_writing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from distil_sdk._fs import FREE_SPACE_MARGIN

    _small_disk(monkeypatch, FREE_SPACE_MARGIN + 1000)
    _link()
    respx.get(S3).mock(
        return_value=httpx.Response(
            200, content=MODEL_TAR, headers={"Content-Length": str(len(MODEL_TAR)), "ETag": '"e"'}
        )
    )
    dest = tmp_path / "dl"
    with sync_client() as client, pytest.raises(DistilError) as info:
        client.v2.trainings.download_model("t1", dest, progress=False)
    message = str(info.value)
    assert f"not enough free space in {dest}" in message
    assert f"needs {len(MODEL_TAR) / 1024:.1f} KiB" in message and "is free" in message
    assert list(dest.iterdir()) == []  # not a byte written, no lock left


@respx.mock
def test_a_resumed_download_needs_room_only_for_the_rest(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from distil_sdk._fs import FREE_SPACE_MARGIN

    _small_disk(monkeypatch, FREE_SPACE_MARGIN + len(MODEL_TAR) - 1000)
    (tmp_path / ".model.tar.part").write_bytes(MODEL_TAR[:1000])
    _link()
    total = len(MODEL_TAR)
    respx.get(S3).mock(
        return_value=httpx.Response(
            206,
            content=MODEL_TAR[1000:],
            headers={"Content-Range": f"bytes 1000-{total - 1}/{total}"},
        )
    )
    with sync_client() as client:
        client.v2.trainings.download_model("t1", tmp_path, progress=False)
    assert (tmp_path / "model.tar").read_bytes() == MODEL_TAR


@respx.mock
def test_two_downloads_into_one_folder_take_turns(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import threading

    from distil_sdk._fs import FolderLock

    # Set once the second download is blocked on the folder's lock - or, were there no lock,
    # once its own request reached the server while the first answer is still streaming.
    second_waits = threading.Event()
    real_try = FolderLock.try_acquire

    def try_acquire(self: FolderLock) -> bool:
        got = real_try(self)
        if not got:
            second_waits.set()
        return got

    monkeypatch.setattr(FolderLock, "try_acquire", try_acquire)
    guard = threading.Lock()
    streaming: list[int] = []
    most: list[int] = []
    ranges: list[str | None] = []

    def body() -> Iterator[bytes]:
        yield MODEL_TAR[:4096]
        second_waits.wait(10)  # hold the first answer open until the other download waits
        yield MODEL_TAR[4096:]
        with guard:
            streaming.pop()

    def s3(request: httpx.Request) -> httpx.Response:
        with guard:
            if ranges:
                second_waits.set()
            ranges.append(request.headers.get("range"))
            streaming.append(1)
            most.append(len(streaming))
        return httpx.Response(200, content=body(), headers={"Content-Length": str(len(MODEL_TAR))})

    _link()
    respx.get(S3).mock(side_effect=s3)
    results: list[Path | BaseException] = []

    def download() -> None:
        try:
            with sync_client() as client:
                results.append(client.v2.trainings.download_model("t1", tmp_path, progress=False))
        except BaseException as exc:  # reported below
            results.append(exc)

    threads = [threading.Thread(target=download) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert results == [tmp_path / "model", tmp_path / "model"]
    assert max(most) == 1 and ranges == [None, None]  # one at a time, each a whole file
    assert (tmp_path / "model.tar").read_bytes() == MODEL_TAR
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model", "model.tar"]


@respx.mock
async def test_a_folder_locked_too_long_is_a_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from distil_sdk import _download
    from distil_sdk._fs import FolderLock

    monkeypatch.setattr(_download, "LOCK_TIMEOUT_S", 0.05)
    _link()
    s3 = respx.get(S3).mock(return_value=httpx.Response(200, content=MODEL_TAR))
    holder = FolderLock(tmp_path / ".model.tar.lock", timeout=1, what="test")
    holder.acquire()
    try:
        with sync_client() as client, pytest.raises(DistilError) as info:
            client.v2.trainings.download_model("t1", tmp_path, progress=False)
        async with async_client() as aclient:
            with pytest.raises(DistilError) as ainfo:
                await aclient.v2.trainings.download_model("t1", tmp_path, progress=False)
    finally:
        holder.release()
    for error in (info.value, ainfo.value):
        assert f"the download folder {tmp_path} is in use" in str(error)
    assert not s3.called and list(tmp_path.iterdir()) == []


# ---------------------------------------------------------------- the one download finisher


def _part_of(dest: Path, build: Callable[[tarfile.TarFile], None]) -> None:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        build(tar)
    dest.mkdir(parents=True, exist_ok=True)
    (dest / ".model.tar.part").write_bytes(buf.getvalue())


def _file(tar: tarfile.TarFile, name: str, data: bytes = b"{}") -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    tar.addfile(info, io.BytesIO(data))


@pytest.mark.parametrize("keep", ["layout", "model"])
def test_a_link_leaving_an_unwrapped_folder_is_refused(tmp_path: Path, keep: Keep) -> None:
    # Inside the archive on paper (slm-42/model/../../outside is its root's "outside"), but
    # once slm-42/ is unwrapped into the download folder it would point out of it.
    def build(tar: tarfile.TarFile) -> None:
        _file(tar, "slm-42/model/config.json")
        link = tarfile.TarInfo("slm-42/model/secrets")
        link.type, link.linkname = tarfile.SYMTYPE, "../../outside"
        tar.addfile(link)

    dest = tmp_path / "work" / "dl"
    _part_of(dest, build)
    with pytest.raises(UnsafeArchiveError, match="'model/secrets' points outside"):
        finish_download(dest, keep)
    assert not (dest / "model").exists()


def test_v2_unwraps_a_tarball_wrapped_in_one_folder(tmp_path: Path) -> None:
    _part_of(tmp_path, lambda tar: _file(tar, "slm-42/model/config.json", b'{"a": 1}'))
    model = finish_download(tmp_path, "model")
    assert model == tmp_path / "model"
    assert (model / "config.json").read_bytes() == b'{"a": 1}'
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model", "model.tar"]


def test_a_layout_entry_named_like_the_downloads_own_files_is_refused(tmp_path: Path) -> None:
    def build(tar: tarfile.TarFile) -> None:
        _file(tar, "model/config.json")
        _file(tar, ".model.tar.lock", b"1")

    _part_of(tmp_path, build)
    with pytest.raises(UnsafeArchiveError, match=r"'\.model\.tar\.lock' is a name the download"):
        finish_download(tmp_path, "layout")
    assert not (tmp_path / "model").exists()
