"""Files on disk, published whole: atomic file writes, folder swaps, a folder lock, free space.

Every file the SDK writes for someone else to read (a downloaded model, a dataset file, a job
artifact, a cache entry) goes through these helpers, so a reader - another thread, another
process, the next run after a crash - sees the old content or the new one, never half of it:

- `atomic_writer` (and `write_bytes_atomic`, `write_text_atomic`, `copy_file_atomic`): a
  temporary file in the target's folder, flushed to disk, renamed over the target with
  ``os.replace``; the temporary file is removed on any failure. A replaced file keeps its
  mode; a new one gets the mode ``open()`` would give it (``0o666`` minus the umask).
- `publish_file`: the same rename for a file another writer finished (a Parquet writer, a
  resumable download's part file).
- `publish_folder` / `staged_folder`: a fully prepared folder swapped in where a file, a
  symbolic link (never followed) or a folder was; the old one stays whole until the swap.
- `FolderLock`: one writer at a time in a folder, across threads and processes.
- `ensure_free_space`: a clear error before writing what the disk cannot hold.
"""

from __future__ import annotations

import asyncio
import errno
import os
import re
import secrets
import shutil
import stat
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import BinaryIO

from ._errors import DistilError

__all__ = [
    "FolderLock",
    "atomic_writer",
    "copy_file_atomic",
    "ensure_free_space",
    "human_size",
    "publish_file",
    "publish_folder",
    "staged_folder",
    "write_bytes_atomic",
    "write_text_atomic",
]

PathLike = str | os.PathLike[str]
#: Room left free after a write, so a full disk does not take the system down with it.
FREE_SPACE_MARGIN = 64 << 20
_COPY_CHUNK = 1 << 20


def human_size(size: float) -> str:
    """``size`` bytes for a message: ``512 B``, ``1.5 KiB`` ... ``20.0 GiB``."""
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size} B"  # pragma: no cover - the loop always returns


# ------------------------------------------------------------------------------------- files


def _umask() -> int:
    # os.umask can only be read by setting it, which races with other threads creating files;
    # Linux shows it in /proc. Elsewhere assume the usual 022.
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            match = re.search(r"^Umask:\s*([0-7]+)", status.read(), re.MULTILINE)
    except OSError:
        match = None
    return int(match.group(1), 8) if match else 0o022


def _target_mode(path: Path, mode: int | None) -> int:
    """``mode``, else the mode of the file ``path`` replaces, else what ``open()`` would give."""
    if mode is not None:
        return mode
    try:
        return stat.S_IMODE(path.stat().st_mode)  # through a link: the file the reader sees
    except OSError:
        return 0o666 & ~_umask()


def _fsync_folder(folder: Path) -> None:
    # The rename is durable only once the folder's entry is; not possible on Windows.
    if os.name == "nt":
        return
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _swap_file(tmp: Path, path: Path, *, replace: bool) -> None:
    if replace:
        os.replace(tmp, path)  # replaces a symbolic link itself, never the file it points to
        return
    # A hard link fails when ``path`` exists: of two writers racing, only one wins.
    os.link(tmp, path)
    tmp.unlink()


@contextmanager
def atomic_writer(
    path: PathLike, *, mode: int | None = None, durable: bool = True, replace: bool = True
) -> Iterator[BinaryIO]:
    """Yield a binary file that becomes ``path`` once the block ends without an error.

    The file is a temporary sibling of ``path`` (same folder, so the rename is atomic); it is
    flushed and, with ``durable``, fsynced before ``os.replace`` puts it in place, and removed
    if anything fails - ``path`` then keeps its old content. ``mode``: the new file's mode
    (default: the replaced file's, else ``0o666`` minus the umask); it is set before anything
    is written, so ``mode=0o600`` content is never readable by others. ``replace=False``
    raises `FileExistsError` when ``path`` exists. ``durable=False`` (a cache) skips fsync.

    Example:
        >>> with atomic_writer("out/model.tar") as out:  # doctest: +SKIP
        ...     out.write(data)
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    target_mode = _target_mode(path, mode)
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    tmp = Path(name)
    try:
        with os.fdopen(fd, "wb") as out:
            os.chmod(tmp, target_mode)
            yield out
            out.flush()
            if durable:
                os.fsync(out.fileno())
        _swap_file(tmp, path, replace=replace)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    if durable:
        _fsync_folder(path.parent)


def write_bytes_atomic(
    path: PathLike,
    data: bytes,
    *,
    mode: int | None = None,
    durable: bool = True,
    replace: bool = True,
) -> Path:
    """Write ``data`` to ``path`` whole or not at all (see `atomic_writer`); return ``path``."""
    with atomic_writer(path, mode=mode, durable=durable, replace=replace) as out:
        out.write(data)
    return Path(path)


def write_text_atomic(
    path: PathLike,
    text: str,
    *,
    encoding: str = "utf-8",
    mode: int | None = None,
    durable: bool = True,
) -> Path:
    """Write ``text`` to ``path`` whole or not at all (see `atomic_writer`); return ``path``."""
    return write_bytes_atomic(path, text.encode(encoding), mode=mode, durable=durable)


def copy_file_atomic(source: PathLike, path: PathLike, *, mode: int | None = None) -> Path:
    """Copy ``source`` to ``path`` whole or not at all (see `atomic_writer`); return ``path``."""
    with atomic_writer(path, mode=mode) as out, Path(source).open("rb") as src:
        shutil.copyfileobj(src, out, _COPY_CHUNK)
    return Path(path)


def publish_file(
    source: PathLike, path: PathLike, *, mode: int | None = None, durable: bool = True
) -> Path:
    """Rename the finished file ``source`` (in ``path``'s folder) to ``path``, atomically.

    For a file another writer produced (a Parquet writer, a download's part file): it is
    fsynced (``durable``), given the mode `atomic_writer` would give it, and renamed over
    ``path``. On failure ``source`` is left as it was: its writer decides whether to keep it.
    """
    source, path = Path(source), Path(path)
    os.chmod(source, _target_mode(path, mode))
    if durable:
        fd = os.open(source, os.O_RDWR)  # fsync needs a writable handle on Windows
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    os.replace(source, path)
    if durable:
        _fsync_folder(path.parent)
    return path


# ----------------------------------------------------------------------------------- folders


def _is_real_dir(path: Path) -> bool:
    return path.is_dir() and not path.is_symlink()


def _remove(path: Path) -> None:
    """Remove a file, a symbolic link (not what it points to) or a folder, ignoring errors."""
    if _is_real_dir(path):
        shutil.rmtree(path, ignore_errors=True)
    else:
        with suppress(OSError):
            path.unlink(missing_ok=True)


def _exists_error(path: Path) -> FileExistsError:
    return FileExistsError(errno.EEXIST, "already exists; not replaced", str(path))


def publish_folder(staged: PathLike, target: PathLike, *, replace: bool = True) -> Path:
    """Swap the fully prepared ``staged`` folder (or file) in at ``target``; return ``target``.

    ``staged`` must be in ``target``'s filesystem (a sibling, or inside one). Whatever is at
    ``target`` - a file, a symbolic link (the link itself is replaced, never followed) or a
    folder - is first renamed aside, so it stays whole until the swap; if the swap fails it is
    put back. It is deleted only once ``staged`` is in place. The aside name,
    ``.<name>.<pid>.<random>.old``, lets `distil_sdk._archive.clean_orphans` remove one a
    killed process left. ``replace=False``: raise `FileExistsError` when ``target`` exists.
    """
    staged, target = Path(staged), Path(target)
    if not os.path.lexists(target):
        try:
            os.rename(staged, target)
        except OSError as exc:
            # Appeared meanwhile: a folder that is not empty (or anything, on Windows).
            if exc.errno in (errno.EEXIST, errno.ENOTEMPTY) and os.path.lexists(target):
                if not replace:
                    raise _exists_error(target) from exc
                return publish_folder(staged, target)
            raise
        return target
    if not replace:
        raise _exists_error(target)
    if not _is_real_dir(staged) and not _is_real_dir(target):
        os.replace(staged, target)  # a file over a file or link: one atomic rename
        return target
    aside = target.with_name(f".{target.name}.{os.getpid()}.{secrets.token_hex(4)}.old")
    os.replace(target, aside)
    try:
        os.replace(staged, target)
    except BaseException:
        os.replace(aside, target)
        raise
    _remove(aside)
    return target


@contextmanager
def staged_folder(target: PathLike, *, replace: bool = True) -> Iterator[Path]:
    """Yield an empty temporary sibling of ``target``; fill it, and it is published at
    ``target`` (`publish_folder`) when the block ends without an error, removed otherwise.

    Example:
        >>> with staged_folder("entities/ds-1") as tmp:  # doctest: +SKIP
        ...     (tmp / "train.csv").write_bytes(data)
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    # The pid in the name tells a live writer's folder from one a killed process left.
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.{os.getpid()}.", dir=target.parent))
    try:
        yield tmp
        publish_folder(tmp, target, replace=replace)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


# ---------------------------------------------------------------------------------- the lock

if sys.platform == "win32":  # pragma: no cover - exercised on Windows only
    import msvcrt

    def _try_lock(fd: int) -> bool:
        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True

    def _unlock(fd: int) -> None:
        os.lseek(fd, 0, os.SEEK_SET)
        msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)

else:
    import fcntl

    def _try_lock(fd: int) -> bool:
        # flock, not lockf: its locks belong to the open file, so two threads of one process
        # exclude each other too, and the kernel drops them when the holder dies.
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True

    def _unlock(fd: int) -> None:
        fcntl.flock(fd, fcntl.LOCK_UN)


class FolderLock:
    """An exclusive lock on the file ``path``, between threads and processes.

    The lock file holds the holder's pid and is deleted on release (not on Windows, which
    cannot delete an open file), so a folder is left as clean as it was. A process that dies
    holding it loses it (the operating system releases it). ``timeout``: seconds to wait;
    then a `DistilError` names ``what`` and the process holding it.

    Example:
        >>> with FolderLock(Path("out/.model.tar.lock"), timeout=600, what="out"):  # doctest: +SKIP
        ...     ...
    """

    def __init__(self, path: Path, *, timeout: float, what: str) -> None:
        self.path, self.timeout, self.what = Path(path), timeout, what
        self._fd: int | None = None

    def try_acquire(self) -> bool:
        """Take the lock if it is free; True when this object holds it."""
        if self._fd is not None:
            return True
        flags = os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0)
        fd = os.open(self.path, flags, 0o644)
        try:
            if not _try_lock(fd):
                os.close(fd)
                return False
            # The holder before us may have deleted the file we opened: then the lock is on a
            # file nobody else will open; start again on the file now at the path.
            if os.name != "nt" and not _same_file(fd, self.path):
                _unlock(fd)
                os.close(fd)
                return False
            os.ftruncate(fd, 0)
            os.write(fd, str(os.getpid()).encode("ascii"))
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd
        return True

    def acquire(self) -> None:
        """Wait for the lock (polling) until ``timeout``; raise a `DistilError` then."""
        deadline = time.monotonic() + self.timeout
        pause = 0.02
        while not self.try_acquire():
            if time.monotonic() >= deadline:
                raise self._timeout_error()
            time.sleep(pause)
            pause = min(pause * 2, 0.5)

    async def acquire_async(self) -> None:
        """`acquire` without blocking the event loop."""
        deadline = time.monotonic() + self.timeout
        pause = 0.02
        while not self.try_acquire():
            if time.monotonic() >= deadline:
                raise self._timeout_error()
            await asyncio.sleep(pause)
            pause = min(pause * 2, 0.5)

    def release(self) -> None:
        """Give the lock up (deleting the lock file first); a no-op when not held."""
        fd, self._fd = self._fd, None
        if fd is None:
            return
        try:
            if os.name != "nt":
                # Deleted while still held: a waiter that opened it sees it is gone and retries.
                self.path.unlink(missing_ok=True)
            _unlock(fd)
        finally:
            os.close(fd)

    def _timeout_error(self) -> DistilError:
        try:
            holder = self.path.read_text(encoding="ascii").strip()
        except OSError:
            holder = ""
        who = f"process {holder}" if holder.isdigit() else "another process"
        return DistilError(
            f"{self.what} is in use: {who} holds {self.path} and did not finish within "
            f"{self.timeout:.0f}s. Wait for it to finish and try again, or use another folder"
        )

    def __enter__(self) -> FolderLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def _same_file(fd: int, path: Path) -> bool:
    try:
        on_disk = os.stat(path)
    except FileNotFoundError:
        return False
    held = os.fstat(fd)
    return (held.st_dev, held.st_ino) == (on_disk.st_dev, on_disk.st_ino)


# ------------------------------------------------------------------------------- free space


def ensure_free_space(
    folder: PathLike,
    needed: int,
    *,
    what: str,
    margin: int = FREE_SPACE_MARGIN,
    error: type[DistilError] = DistilError,
) -> None:
    """Raise ``error`` when ``needed`` bytes would leave less than ``margin`` free in
    ``folder``; say what needs the room, how much, and how much is free.

    Does nothing when the free space cannot be read (some network filesystems).
    """
    try:
        free = shutil.disk_usage(folder).free
    except OSError:
        return
    if needed > free - margin:
        raise error(
            f"not enough free space in {folder} for {what}: it needs {human_size(needed)} "
            f"(and {human_size(margin)} to spare), {human_size(free)} is free. Free some "
            "space there or choose another folder"
        )
