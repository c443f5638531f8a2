"""Safe extraction of model tarballs.

``tarfile.extractall`` trusts member names; a hostile archive can write outside the target with
absolute paths, ``..`` components or links. We check every member first and extract into a
temporary sibling folder that is renamed into place only when complete, so a reader never sees a
half-extracted model.
"""

from __future__ import annotations

import os
import shutil
import tarfile
import tempfile
from pathlib import Path, PurePosixPath

from ._errors import UnsafeArchiveError

__all__ = ["check_members", "safe_extract"]


def _escapes(path: PurePosixPath) -> bool:
    """True when ``path`` (relative to the archive root) climbs above the root."""
    depth = 0
    for part in path.parts:
        if part == "..":
            depth -= 1
            if depth < 0:
                return True
        elif part not in ("", "."):
            depth += 1
    return False


def check_members(archive: tarfile.TarFile, source: str | os.PathLike[str] = "archive") -> None:
    """Raise :class:`UnsafeArchiveError` if any member could escape or is not a file/folder/link."""
    for member in archive.getmembers():
        name = member.name
        path = PurePosixPath(name)
        if path.is_absolute() or name.startswith(("/", "\\")):
            raise UnsafeArchiveError(
                f"{source}: member {name!r} has an absolute path; refusing to extract"
            )
        if ".." in path.parts:
            raise UnsafeArchiveError(
                f"{source}: member {name!r} contains '..'; refusing to extract"
            )
        if (
            member.isdev()
            or member.isfifo()
            or not (member.isfile() or member.isdir() or member.issym() or member.islnk())
        ):
            raise UnsafeArchiveError(
                f"{source}: member {name!r} is a device or special file; refusing to extract"
            )
        if member.issym() or member.islnk():
            link = PurePosixPath(member.linkname)
            # Symlinks resolve relative to their own folder, hard links relative to the root.
            target = path.parent / link if member.issym() else link
            if link.is_absolute() or _escapes(target):
                raise UnsafeArchiveError(
                    f"{source}: link {name!r} points outside the archive ({member.linkname!r}); "
                    "refusing to extract"
                )


def safe_extract(archive_path: str | os.PathLike[str], dest: str | os.PathLike[str]) -> Path:
    """Extract ``archive_path`` (tar, tar.gz, ...) into ``dest`` safely and atomically.

    ``dest`` must not exist yet, or is replaced only after a complete extraction. Returns ``dest``.
    Raises :class:`UnsafeArchiveError` for a hostile member and leaves nothing behind.
    """
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    try:
        archive = tarfile.open(archive_path, "r:*")  # noqa: SIM115 - closed by the with below
    except (tarfile.TarError, OSError) as exc:
        raise UnsafeArchiveError(f"{archive_path}: not a readable tar archive ({exc})") from exc
    with archive:
        check_members(archive, archive_path)
        tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", dir=dest.parent))
        try:
            try:
                archive.extractall(tmp, filter="data")
            except TypeError:  # Python < 3.10.12 has no filter argument; members were checked above
                archive.extractall(tmp)
            except tarfile.TarError as exc:
                raise UnsafeArchiveError(f"{archive_path}: {exc}") from exc
            if dest.exists():
                shutil.rmtree(dest)
            os.replace(tmp, dest)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
    return dest
