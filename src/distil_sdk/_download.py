"""Streamed, resumable, atomic download of ``model.tar`` and its safe extraction.

The bytes go to ``dest/.model.tar.part``. A later call (or a retry after a dropped connection)
resumes it with ``Range: bytes=<size>-``; ``If-Range`` with the first answer's ETag makes the
server send the whole file again if it changed. A 206 appends, a 200 (range ignored) rewrites.
Only a complete file is renamed to ``model.tar`` and extracted with
`distil_sdk._archive.safe_extract` (limits, link checks); `finish_download` swaps the model
in at the end. One download at a time per folder: a second one waits for the lock
``dest/.model.tar.lock`` (`LOCK_TIMEOUT_S`, then a `DistilError` naming the folder), then
runs in turn - resuming the part a failed first one left, or swapping its own complete copy
in. A size the server announces that the disk cannot hold is refused before a byte is
written (`distil_sdk._fs.ensure_free_space`). Every failure
is a `DistilError`: a connection that keeps dropping or a body that cannot be decoded is an
``APIError``, a disk that cannot take the file a ``DistilError`` naming the folder, a broken
archive a ``ModelLoadError``/``UnsafeArchiveError``.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import Any, BinaryIO, Literal

import httpx

from ._archive import clean_orphans, safe_extract
from ._errors import APIError, APIStatusError, DistilError, UnsafeArchiveError
from ._fs import FolderLock, ensure_free_space, publish_file, publish_folder
from ._http import (
    AsyncTransport,
    CallOptions,
    RequestSpec,
    SyncTransport,
    connection_error,
    protocol_error,
    redact,
)
from ._progress import resolve_progress

__all__ = ["download_model_async", "download_model_sync", "finish_download"]

PART_NAME = ".model.tar.part"
ETAG_NAME = ".model.tar.part.etag"
TAR_NAME = "model.tar"
LOCK_NAME = ".model.tar.lock"
EXTRACT_NAME = ".model.extract"
_RESERVED = frozenset({PART_NAME, ETAG_NAME, TAR_NAME, LOCK_NAME, EXTRACT_NAME})
#: How long a download waits for another one into the same folder to finish.
LOCK_TIMEOUT_S = 900.0
#: What `finish_download` publishes: the ``model/`` folder, or the tarball's whole layout.
Keep = Literal["layout", "model"]
CHUNK = 1 << 20
_CONTENT_RANGE = re.compile(r"bytes\s+(\d+)-(\d+)/(\d+|\*)")


class _Restart(Exception):
    """The partial file cannot be continued; start over from byte 0."""


def _spec(url: str, dest: Path, options: CallOptions, auth: bool = True) -> RequestSpec:
    part, etag_file = dest / PART_NAME, dest / ETAG_NAME
    offset = part.stat().st_size if part.exists() else 0
    headers = {"Accept": "*/*"}
    if offset:
        headers["Range"] = f"bytes={offset}-"
        if etag_file.exists():
            headers["If-Range"] = etag_file.read_text().strip()
    return RequestSpec("GET", url, headers=headers, auth=auth, **options)


def _open_part(response: httpx.Response, dest: Path) -> tuple[BinaryIO, int, int | None]:
    """Open the part file for this response: (file, bytes already there, total size or None)."""
    part = dest / PART_NAME
    offset = part.stat().st_size if part.exists() else 0
    length = response.headers.get("content-length")
    sent = int(length) if length and length.isdigit() else None
    if response.status_code == 206:
        match = _CONTENT_RANGE.match(response.headers.get("content-range", ""))
        # Bytes that do not start where the part ends cannot be appended to it.
        if not match or int(match.group(1)) != offset:
            raise _Restart
        total = None if match.group(3) == "*" else int(match.group(3))
        _ensure_room(dest, sent if total is None else total - offset)
        return part.open("ab"), offset, total
    # 200: the server ignored the range (or the file changed): rewrite from the start.
    _ensure_room(dest, None if sent is None else sent - offset)  # the part's bytes are reused
    etag = response.headers.get("etag")
    if etag:
        (dest / ETAG_NAME).write_text(etag)
    else:
        (dest / ETAG_NAME).unlink(missing_ok=True)
    return part.open("wb"), 0, sent


def _ensure_room(dest: Path, needed: int | None) -> None:
    if needed is not None and needed > 0:
        ensure_free_space(dest, needed, what="the model download")


def _bar(progress: bool | None, total: int | None, initial: int) -> AbstractContextManager[Any]:
    # None: a bar when a person watches (terminal, notebook); never under DISTIL_NO_PROGRESS=1.
    show = resolve_progress(progress)
    if not show:
        return nullcontext(None)
    try:
        from tqdm.auto import tqdm
    except ImportError:  # tqdm is optional (the `local` extra); no bar without it
        return nullcontext(None)
    bar: AbstractContextManager[Any] = tqdm(
        total=total, initial=initial, unit="B", unit_scale=True, unit_divisor=1024, desc=TAR_NAME
    )
    return bar


def _part_complete(exc: APIStatusError, dest: Path) -> bool:
    """After an error answer: True when the part already holds the whole file (416 after a
    resume), False to start over (any other 416); re-raise every other status."""
    if exc.status_code != 416:
        raise exc
    part = dest / PART_NAME
    match = re.match(
        r"bytes\s+\*/(\d+)", exc.response.headers.get("content-range", "") if exc.response else ""
    )
    if match and part.exists() and part.stat().st_size == int(match.group(1)):
        return True
    part.unlink(missing_ok=True)
    return False


def _give_up_if_last(exc: Exception, last: bool, url: str, dest: Path, base_url: str) -> None:
    # A dropped stream leaves a valid prefix in the part file: unless this was the last try,
    # the next one resumes it. A body that could not be decoded leaves nothing to trust.
    if isinstance(exc, httpx.HTTPError) and not isinstance(exc, httpx.TransportError):
        (dest / PART_NAME).unlink(missing_ok=True)
    if not last:
        return
    if isinstance(exc, httpx.TransportError):
        raise connection_error(exc, RequestSpec("GET", url), base_url) from exc
    if isinstance(exc, httpx.HTTPError):
        raise protocol_error(exc, RequestSpec("GET", url), base_url) from exc
    raise exc


def _disk_error(dest: Path, exc: OSError) -> DistilError:
    return DistilError(
        f"could not write the model download in {dest} ({exc}); check free space and permissions"
    )


def _check_size(dest: Path, total: int | None, url: str) -> None:
    size = (dest / PART_NAME).stat().st_size
    if total is not None and size != total:
        raise APIError(
            f"download of {redact(url)} stopped at {size} of {total} bytes",
            method="GET",
            url=redact(url),
        )


def _layout_root(tmp: Path) -> Path:
    """The folder whose entries are the tarball's layout: ``tmp``, or the one folder a tarball
    wraps everything in (``slm-1234/model/...``)."""
    entries = list(tmp.iterdir())
    if len(entries) == 1 and _is_real_dir(entries[0]) and _is_real_dir(entries[0] / "model"):
        return entries[0]
    return tmp


def _is_real_dir(path: Path) -> bool:
    return path.is_dir() and not path.is_symlink()


def _check_links_stay_in(root: Path, tar: Path) -> None:
    """`safe_extract` kept every link inside the archive; the entries move out of ``root`` (which
    may be a folder inside it), so a link must stay inside ``root`` too, or once moved it would
    point out of the download folder."""
    base = root.absolute()
    for folder, dirs, files in os.walk(base):  # links to folders are listed, never entered
        for name in dirs + files:
            path = Path(folder) / name
            if not path.is_symlink():
                continue
            link = os.readlink(path)
            target = Path(os.path.normpath(Path(folder) / link))
            if os.path.isabs(link) or not target.is_relative_to(base):
                raise UnsafeArchiveError(
                    f"{tar}: link {path.relative_to(base).as_posix()!r} points outside the "
                    f"model's layout ({link!r}); refusing to extract"
                )


def _publish_layout(root: Path, dest: Path, keep: Keep, tar: Path) -> Path:
    if keep == "model":
        # safe_extract refuses a top-level link and a wrapped model/ is a folder; checked all
        # the same, as a link moved out of the archive would dangle or point anywhere.
        if (root / "model").is_symlink():
            raise UnsafeArchiveError(f"{tar}: the top-level 'model' is a symbolic link")
        # The platform packs everything under model/; a flat archive is the model folder.
        source = root / "model" if (root / "model").is_dir() else root
        clean_orphans(dest / "model")
        return publish_folder(source, dest / "model")
    entries = sorted(root.iterdir())
    reserved = [e.name for e in entries if e.name in _RESERVED]
    if reserved:
        raise UnsafeArchiveError(
            f"{tar}: top-level {reserved[0]!r} is a name the download itself uses; refusing "
            "to extract"
        )
    for entry in entries:
        clean_orphans(dest / entry.name)
        publish_folder(entry, dest / entry.name)
    model = dest / "model"
    return model if model.is_dir() else dest


def finish_download(dest: Path, keep: Keep = "model") -> Path:
    """Turn the complete ``dest/.model.tar.part`` into the model; return its folder.

    The part becomes ``dest/model.tar`` (its ETag file is removed), which is checked and
    extracted with `safe_extract` into ``dest/.model.extract`` (a tarball wrapping everything
    in one folder is unwrapped); then ``keep`` says what is published, each entry swapped in
    whole (`distil_sdk._fs.publish_folder`) only once the whole archive extracted safely:

    - ``"model"`` (``client.v2``): the ``model/`` folder (a flat archive: all of it) as
      ``dest/model``; ``model.tar`` stays, holding the rest.
    - ``"layout"`` (``client.slms``): every top-level entry (``model/``, ``model-adapter/``,
      ``model_client.py``, ``Modelfile``, ``README.md``...) into ``dest``; ``model.tar`` is
      then removed, as it holds nothing more. Returns ``dest/model``, or ``dest`` without one.

    Raises `UnsafeArchiveError`/`ModelLoadError` for a hostile or broken archive (nothing is
    published then) and a `DistilError` naming ``dest`` when the disk refuses a write.
    """
    tar = dest / TAR_NAME
    try:
        publish_file(dest / PART_NAME, tar)
        (dest / ETAG_NAME).unlink(missing_ok=True)
    except OSError as exc:
        raise _disk_error(dest, exc) from exc
    tmp = dest / EXTRACT_NAME
    safe_extract(tar, tmp)
    try:
        root = _layout_root(tmp)
        _check_links_stay_in(root, tar)
        model = _publish_layout(root, dest, keep, tar)
        if keep == "layout":
            tar.unlink(missing_ok=True)  # everything it held is in place: no second copy
    except DistilError:
        raise
    except OSError as exc:
        raise _disk_error(dest, exc) from exc
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return model


def _lock(folder: Path) -> FolderLock:
    # Two downloads into one folder would append to one part file and swap one extraction
    # folder: the second waits for the first to finish.
    return FolderLock(
        folder / LOCK_NAME, timeout=LOCK_TIMEOUT_S, what=f"the download folder {folder}"
    )


def download_model_sync(
    transport: SyncTransport,
    url: str,
    dest: str | os.PathLike[str],
    *,
    progress: bool | None,
    options: CallOptions,
    auth: bool = True,
    keep: Keep = "model",
) -> Path:
    """Download ``url`` (resuming) into ``dest`` and extract it; see the module docstring.

    ``keep``: what of the tarball is published (`finish_download`).
    """
    folder = Path(dest)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with _lock(folder):
            _download_sync(transport, url, folder, progress, options, auth)
            return finish_download(folder, keep)
    except DistilError:
        raise
    except OSError as exc:  # writing the part file, creating the folder, the lock
        raise _disk_error(folder, exc) from exc


def _download_sync(
    transport: SyncTransport,
    url: str,
    folder: Path,
    progress: bool | None,
    options: CallOptions,
    auth: bool,
) -> Path:
    attempts = 1 + options.get("max_retries", transport.settings.max_retries)
    for attempt in range(attempts):
        try:
            response = transport.send(_spec(url, folder, options, auth), stream=True)
        except APIStatusError as exc:
            if _part_complete(exc, folder):
                break
            continue
        try:
            fh, done, total = _open_part(response, folder)
            with fh, _bar(progress, total, done) as bar:
                for chunk in response.iter_bytes(CHUNK):
                    fh.write(chunk)
                    if bar is not None:
                        bar.update(len(chunk))
            _check_size(folder, total, url)
            break
        except _Restart:
            (folder / PART_NAME).unlink(missing_ok=True)
        except (httpx.HTTPError, APIError) as exc:
            _give_up_if_last(exc, attempt + 1 >= attempts, url, folder, transport.base_url)
        finally:
            response.close()
    else:
        raise APIError(
            f"could not download {redact(url)} after {attempts} attempts",
            method="GET",
            url=redact(url),
        )
    return folder


async def download_model_async(
    transport: AsyncTransport,
    url: str,
    dest: str | os.PathLike[str],
    *,
    progress: bool | None,
    options: CallOptions,
    auth: bool = True,
    keep: Keep = "model",
) -> Path:
    """The async twin of `download_model_sync`."""
    folder = Path(dest)
    lock = _lock(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        await lock.acquire_async()
        await _download_async(transport, url, folder, progress, options, auth)
    except BaseException as exc:
        lock.release()
        if isinstance(exc, OSError) and not isinstance(exc, DistilError):
            raise _disk_error(folder, exc) from exc
        raise
    # From here the extraction thread owns the lock: were this task cancelled, the thread
    # would still finish, and only then release it (shield: the thread is never dropped).
    work = asyncio.get_running_loop().run_in_executor(
        None, _finish_then_release, folder, keep, lock
    )
    return await asyncio.shield(work)


def _finish_then_release(folder: Path, keep: Keep, lock: FolderLock) -> Path:
    try:
        return finish_download(folder, keep)
    finally:
        lock.release()


async def _download_async(
    transport: AsyncTransport,
    url: str,
    folder: Path,
    progress: bool | None,
    options: CallOptions,
    auth: bool,
) -> Path:
    attempts = 1 + options.get("max_retries", transport.settings.max_retries)
    for attempt in range(attempts):
        try:
            response = await transport.send(_spec(url, folder, options, auth), stream=True)
        except APIStatusError as exc:
            if _part_complete(exc, folder):
                break
            continue
        try:
            fh, done, total = _open_part(response, folder)
            with fh, _bar(progress, total, done) as bar:
                async for chunk in response.aiter_bytes(CHUNK):
                    fh.write(chunk)
                    if bar is not None:
                        bar.update(len(chunk))
            _check_size(folder, total, url)
            break
        except _Restart:
            (folder / PART_NAME).unlink(missing_ok=True)
        except (httpx.HTTPError, APIError) as exc:
            _give_up_if_last(exc, attempt + 1 >= attempts, url, folder, transport.base_url)
        finally:
            await response.aclose()
    else:
        raise APIError(
            f"could not download {redact(url)} after {attempts} attempts",
            method="GET",
            url=redact(url),
        )
    return folder
