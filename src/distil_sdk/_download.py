"""Streamed, resumable, atomic download of ``model.tar`` and its safe extraction.

The bytes go to ``dest/.model.tar.part``. A later call (or a retry after a dropped connection)
resumes it with ``Range: bytes=<size>-``; ``If-Range`` with the first answer's ETag makes the
server send the whole file again if it changed. A 206 appends, a 200 (range ignored) rewrites.
Only a complete file is renamed to ``model.tar`` and extracted with
`distil_sdk._archive.safe_extract` (limits, link checks); the ``model/`` folder is swapped
in at the end. Every failure is a `DistilError`: a connection that keeps
dropping or a body that cannot be decoded is an ``APIError``, a disk that cannot take the file a
``DistilError`` naming the folder, a broken archive a ``ModelLoadError``/``UnsafeArchiveError``.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import Any, BinaryIO

import httpx

from ._archive import safe_extract
from ._errors import APIError, APIStatusError, DistilError, UnsafeArchiveError
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

__all__ = ["download_model_async", "download_model_sync"]

PART_NAME = ".model.tar.part"
ETAG_NAME = ".model.tar.part.etag"
TAR_NAME = "model.tar"
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
    if response.status_code == 206:
        match = _CONTENT_RANGE.match(response.headers.get("content-range", ""))
        if not match or int(match.group(1)) != offset:
            raise _Restart
        total = None if match.group(3) == "*" else int(match.group(3))
        return part.open("ab"), offset, total
    # 200: the server ignored the range (or the file changed): rewrite from the start.
    etag = response.headers.get("etag")
    if etag:
        (dest / ETAG_NAME).write_text(etag)
    else:
        (dest / ETAG_NAME).unlink(missing_ok=True)
    return part.open("wb"), 0, int(length) if length and length.isdigit() else None


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


def extract_model(dest: Path) -> Path:
    """Rename the part to ``model.tar``, extract it safely, return ``dest/model``."""
    tar = dest / TAR_NAME
    try:
        os.replace(dest / PART_NAME, tar)
        (dest / ETAG_NAME).unlink(missing_ok=True)
    except OSError as exc:
        raise _disk_error(dest, exc) from exc
    tmp = dest / ".model.extract"
    safe_extract(tar, tmp)
    try:
        # The platform packs everything under a top-level model/; accept a flat archive too.
        # A symlink there would leave a dangling model/ once moved (safe_extract refuses it).
        if (tmp / "model").is_symlink():
            raise UnsafeArchiveError(f"{tar}: the top-level 'model' is a symbolic link")
        root = tmp / "model" if (tmp / "model").is_dir() else tmp
        target = dest / "model"
        if target.is_symlink():
            target.unlink()
        elif target.exists():
            shutil.rmtree(target)
        os.replace(root, target)
    except OSError as exc:
        raise _disk_error(dest, exc) from exc
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def download_model_sync(
    transport: SyncTransport,
    url: str,
    dest: str | os.PathLike[str],
    *,
    progress: bool | None,
    options: CallOptions,
    auth: bool = True,
    extract: Callable[[Path], Path] | None = None,
) -> Path:
    """Download ``url`` (resuming) into ``dest`` and extract it; see the module docstring."""
    folder = Path(dest)
    try:
        path = _download_sync(transport, url, folder, progress, options, auth)
    except DistilError:
        raise
    except OSError as exc:  # writing the part file, creating the folder
        raise _disk_error(folder, exc) from exc
    # extract: what to make of the complete model.tar (default: its model/ folder only).
    return (extract or extract_model)(path)


def _download_sync(
    transport: SyncTransport,
    url: str,
    folder: Path,
    progress: bool | None,
    options: CallOptions,
    auth: bool,
) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
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
    extract: Callable[[Path], Path] | None = None,
) -> Path:
    """The async twin of `download_model_sync`."""
    folder = Path(dest)
    try:
        path = await _download_async(transport, url, folder, progress, options, auth)
    except DistilError:
        raise
    except OSError as exc:
        raise _disk_error(folder, exc) from exc
    return await asyncio.to_thread(extract or extract_model, path)


async def _download_async(
    transport: AsyncTransport,
    url: str,
    folder: Path,
    progress: bool | None,
    options: CallOptions,
    auth: bool,
) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
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
