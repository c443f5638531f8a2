"""Safe extraction of model tarballs.

``tarfile.extractall`` trusts member names; a hostile archive can write outside the target with
absolute paths, ``..`` components or links, or fill the disk with a small compressed bomb. We
check every member first - by our own rules, so the checks hold on Python 3.10.0-3.10.11 whose
``tarfile`` has no ``filter=`` - and extract into a temporary sibling folder that is renamed into
place only when complete, so a reader never sees a half-extracted model. Python's ``"data"``
filter is applied on top where it exists.

Limits (`ArchiveLimits`; generous for real models, environment variables to change them,
``0`` for no limit):

- ``DISTIL_ARCHIVE_MAX_SIZE``: total uncompressed size, default 20 GiB (``20G``, ``500M``, bytes);
- ``DISTIL_ARCHIVE_MAX_MEMBERS``: number of members, default 100000;
- ``DISTIL_ARCHIVE_MAX_RATIO``: uncompressed size / archive size, default 200 (checked only once
  the archive expands past 16 MiB, so small archives of text files never trip it).

Every failure is a `DistilError`: `UnsafeArchiveError` for
a hostile member or a limit, `ModelLoadError` for a corrupt or truncated file.
"""

from __future__ import annotations

import lzma
import os
import re
import shutil
import tarfile
import tempfile
import time
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from ._errors import DistilError, ModelLoadError, UnsafeArchiveError
from ._fs import ensure_free_space, human_size, publish_folder

__all__ = ["ArchiveLimits", "check_members", "clean_orphans", "safe_extract"]

GIB = 1 << 30
RATIO_FLOOR = 16 << 20
# A temporary folder whose owner cannot be told (older versions) counts as orphaned after this.
ORPHAN_AGE_S = 3600.0
# What reading a broken (truncated, corrupt) compressed tar can raise besides TarError.
_READ_ERRORS = (tarfile.TarError, EOFError, zlib.error, lzma.LZMAError, OSError)
# Python's own filter errors (3.10.12+, 3.11.4+); an empty tuple catches nothing elsewhere.
_FILTER_ERRORS: tuple[type[Exception], ...] = (
    (tarfile.FilterError,) if hasattr(tarfile, "FilterError") else ()
)
_UNITS = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}


@dataclass(frozen=True)
class ArchiveLimits:
    """How large a model archive may expand; ``None`` for no limit. See the module docstring.

    Example:
        >>> ArchiveLimits.from_env({"DISTIL_ARCHIVE_MAX_SIZE": "2G"}).max_total_size
        2147483648
    """

    max_total_size: int | None = 20 * GIB
    max_members: int | None = 100_000
    max_ratio: float | None = 200.0

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> ArchiveLimits:
        """The defaults, overridden by the ``DISTIL_ARCHIVE_*`` variables."""
        env = os.environ if env is None else env
        default = cls()
        size = _env_number(env, "DISTIL_ARCHIVE_MAX_SIZE", default.max_total_size, sizes=True)
        members = _env_number(env, "DISTIL_ARCHIVE_MAX_MEMBERS", default.max_members)
        ratio = _env_number(env, "DISTIL_ARCHIVE_MAX_RATIO", default.max_ratio)
        return cls(
            max_total_size=None if size is None else int(size),
            max_members=None if members is None else int(members),
            max_ratio=ratio,
        )


def _env_number(
    env: Mapping[str, str], name: str, default: float | None, *, sizes: bool = False
) -> float | None:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    match = re.fullmatch(r"(\d+(?:\.\d+)?)\s*([KMGT]?)(?:I?B)?", raw.upper())
    if not match or (match.group(2) and not sizes):
        raise DistilError(
            f"{name}={raw!r} is not a number{' of bytes (e.g. 20G)' if sizes else ''}; "
            "use 0 for no limit"
        )
    value = float(match.group(1)) * _UNITS[match.group(2)]
    if value == 0:
        return None
    return value


def _walk(parts: tuple[str, ...], links: set[str]) -> tuple[bool, str | None]:
    """Resolve ``parts`` lexically from the archive root: (escapes the root?, first symlink
    member passed *through* on the way, if any)."""
    stack: list[str] = []
    for index, part in enumerate(parts):
        if part in ("", "."):
            continue
        if part == "..":
            if not stack:
                return True, None
            stack.pop()
            continue
        stack.append(part)
        here = "/".join(stack)
        # A link as the last component is fine (it points inside too); passing through one is
        # not: where it leads is only known on disk, which is how link chains escape.
        if index < len(parts) - 1 and here in links:
            return False, here
    return False, None


def _norm(name: str) -> str:
    return "/".join(p for p in PurePosixPath(name).parts if p not in ("", "."))


def check_members(
    archive: tarfile.TarFile,
    source: str | os.PathLike[str] = "archive",
    *,
    limits: ArchiveLimits | None = None,
    archive_size: int | None = None,
) -> list[tarfile.TarInfo]:
    """The members of ``archive`` once all are safe to extract; raise otherwise.

    Raises `UnsafeArchiveError` for a member that could escape (absolute path, ``..``,
    a link pointing outside or through another link), a device or special file, a top-level
    ``model`` symlink, or a limit passed (``archive_size``, the file's size, enables the ratio
    check). Reading stops at the first problem, so a bomb is not read to its end.
    """
    limits = limits or ArchiveLimits()
    members: list[tarfile.TarInfo] = []
    sizes: dict[str, int] = {}
    total = 0
    for member in archive:
        members.append(member)
        if limits.max_members is not None and len(members) > limits.max_members:
            raise UnsafeArchiveError(
                f"{source}: more than {limits.max_members} members; refusing to extract. If you "
                "trust it, raise DISTIL_ARCHIVE_MAX_MEMBERS (0: no limit)"
            )
        if member.isfile():
            sizes[_norm(member.name)] = max(member.size, 0)
            total += max(member.size, 0)
        elif member.islnk():  # may be extracted as a copy where hard links are not supported
            total += sizes.get(_norm(member.linkname), 0)
        if limits.max_total_size is not None and total > limits.max_total_size:
            raise UnsafeArchiveError(
                f"{source}: expands to more than {human_size(limits.max_total_size)}; refusing to "
                "extract. If you trust it, raise DISTIL_ARCHIVE_MAX_SIZE (e.g. 50G; 0: no limit)"
            )
        if (
            limits.max_ratio is not None
            and archive_size
            and total > RATIO_FLOOR
            and total / archive_size > limits.max_ratio
        ):
            raise UnsafeArchiveError(
                f"{source}: {human_size(archive_size)} expands to more than {human_size(total)} (over "
                f"{limits.max_ratio:.0f}x, a compression bomb?); refusing to extract. If you "
                "trust it, raise DISTIL_ARCHIVE_MAX_RATIO (0: no limit)"
            )
        _check_one(member, source)
    _check_end(archive, source)
    _check_links(members, source)
    return members


def _check_end(archive: tarfile.TarFile, source: str | os.PathLike[str]) -> None:
    """A tar ends with zero blocks; tarfile silently stops at a cut header, so look for them."""
    fileobj = archive.fileobj
    if fileobj is None or not hasattr(fileobj, "seek"):
        return
    fileobj.seek(archive.offset)
    block = fileobj.read(tarfile.BLOCKSIZE)
    if len(block) < tarfile.BLOCKSIZE or any(block):
        raise tarfile.ReadError("unexpected end of data: the archive stops in the middle")


def _check_one(member: tarfile.TarInfo, source: str | os.PathLike[str]) -> None:
    name = member.name
    path = PurePosixPath(name)
    if path.is_absolute() or name.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", name):
        raise UnsafeArchiveError(
            f"{source}: member {name!r} has an absolute path; refusing to extract"
        )
    if ".." in path.parts:
        raise UnsafeArchiveError(f"{source}: member {name!r} contains '..'; refusing to extract")
    if not (member.isfile() or member.isdir() or member.issym() or member.islnk()):
        raise UnsafeArchiveError(
            f"{source}: member {name!r} is a device or special file; refusing to extract"
        )
    if member.issym() and _norm(name) == "model":
        raise UnsafeArchiveError(
            f"{source}: the top-level 'model' is a symbolic link ({member.linkname!r}), not a "
            "folder; refusing to extract - repackage the model folder itself"
        )


def _check_links(members: list[tarfile.TarInfo], source: str | os.PathLike[str]) -> None:
    links = {_norm(m.name) for m in members if m.issym()}
    for member in members:
        parts = PurePosixPath(member.name).parts
        _, through = _walk(parts, links)
        if through is not None:
            raise UnsafeArchiveError(
                f"{source}: member {member.name!r} lies inside the link {through!r}; refusing "
                "to extract"
            )
        if not (member.issym() or member.islnk()):
            continue
        link = PurePosixPath(member.linkname)
        # Symlinks resolve relative to their own folder, hard links relative to the root.
        target = (PurePosixPath(member.name).parent / link) if member.issym() else link
        escapes, through = _walk(target.parts, links)
        if link.is_absolute() or member.linkname.startswith("\\") or escapes or through:
            why = f"through the link {through!r}" if through else "outside the archive"
            raise UnsafeArchiveError(
                f"{source}: link {member.name!r} points {why} ({member.linkname!r}); refusing "
                "to extract"
            )


def _corrupt(source: str | os.PathLike[str], exc: BaseException) -> ModelLoadError:
    return ModelLoadError(
        f"{source}: not a complete tar archive ({type(exc).__name__}: {exc}); the file is "
        "corrupt or truncated - delete it and download it again"
    )


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True  # exists (another user's), or cannot tell: leave it alone
    return True


def clean_orphans(dest: str | os.PathLike[str]) -> list[Path]:
    """Remove temporary folders of earlier extractions into ``dest`` whose process died.

    Folders are named ``.<dest name>.<pid>.<random>``; one whose process is gone (or, for
    names without a pid, older than an hour) was left by a kill and is deleted. Returns them.
    """
    dest = Path(dest)
    removed: list[Path] = []
    prefix = f".{dest.name}."
    try:
        siblings = list(dest.parent.iterdir())
    except OSError:
        return removed
    for path in siblings:
        if not path.name.startswith(prefix) or not path.is_dir() or path.is_symlink():
            continue
        pid_text = path.name[len(prefix) :].split(".", 1)[0]
        try:
            if pid_text.isdigit() and os.name != "nt":
                orphan = not _pid_alive(int(pid_text))
            else:
                orphan = time.time() - path.stat().st_mtime > ORPHAN_AGE_S
        except OSError:
            continue
        if orphan:
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path)
    return removed


def _extract(archive: tarfile.TarFile, members: list[tarfile.TarInfo], tmp: Path) -> None:
    if hasattr(tarfile, "data_filter"):
        # Defence in depth where Python has it; our own checks above do not rely on it.
        archive.extractall(tmp, members=members, filter="data")
    else:  # Python 3.10.0-3.10.11: no filter argument
        archive.extractall(tmp, members=members)


def safe_extract(
    archive_path: str | os.PathLike[str],
    dest: str | os.PathLike[str],
    *,
    limits: ArchiveLimits | None = None,
) -> Path:
    """Extract ``archive_path`` (tar, tar.gz, ...) into ``dest`` safely and atomically.

    ``dest`` must not exist yet, or is replaced only after a complete extraction. Returns ``dest``.
    ``limits`` default to `ArchiveLimits.from_env`. Raises `UnsafeArchiveError`
    (hostile member, limit) or `ModelLoadError` (corrupt, truncated, unwritable) and
    leaves nothing behind.

    Example:
        >>> safe_extract("model.tar", "out/model")  # doctest: +SKIP
        PosixPath('out/model')
    """
    dest = Path(dest)
    limits = limits or ArchiveLimits.from_env()
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        size = os.path.getsize(archive_path)
    except OSError as exc:
        raise ModelLoadError(f"{archive_path}: cannot extract into {dest.parent} ({exc})") from exc
    clean_orphans(dest)
    try:
        archive = tarfile.open(archive_path, "r:*")  # noqa: SIM115 - closed by the with below
    except _READ_ERRORS as exc:
        raise _corrupt(archive_path, exc) from exc
    with archive:
        try:
            members = check_members(archive, archive_path, limits=limits, archive_size=size)
        except _READ_ERRORS as exc:
            raise _corrupt(archive_path, exc) from exc
        expanded = sum(max(m.size, 0) for m in members if m.isfile())
        ensure_free_space(
            dest.parent, expanded, what=f"extracting {archive_path}", error=ModelLoadError
        )
        # The pid in the name lets a later extraction tell our folder from a killed one's.
        try:
            tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.{os.getpid()}.", dir=dest.parent))
        except OSError as exc:
            raise ModelLoadError(
                f"{archive_path}: cannot extract into {dest.parent} ({exc}); check its permissions"
            ) from exc
        try:
            try:
                _extract(archive, members, tmp)
            except DistilError:
                raise
            except _FILTER_ERRORS as exc:  # Python's filter found what we did not
                raise UnsafeArchiveError(f"{archive_path}: {exc}; refusing to extract") from exc
            except _READ_ERRORS as exc:
                if (
                    isinstance(exc, OSError)
                    and not isinstance(exc, tarfile.TarError)
                    and (exc.errno is not None)
                ):
                    raise ModelLoadError(
                        f"{archive_path}: could not extract into {dest.parent} ({exc}); check "
                        "free space and permissions"
                    ) from exc
                raise _corrupt(archive_path, exc) from exc
            try:
                publish_folder(tmp, dest)
            except OSError as exc:
                raise ModelLoadError(
                    f"{archive_path}: could not move the extracted files to {dest} ({exc})"
                ) from exc
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
    return dest
