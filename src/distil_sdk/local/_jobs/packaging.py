"""Packaging of a trained model folder into the platform's ``model.tar``.

The SLM tarball has the hosted platform's layout: ``model/`` (merged weights) and/or
``model-adapter/`` (a LoRA adapter), plus the top-level ``model_client.py`` and ``README.md``.
"""

from __future__ import annotations

import io
import tarfile
import time
from collections.abc import Mapping
from pathlib import Path

from ..._fs import atomic_writer, copy_file_atomic, write_bytes_atomic

__all__ = [
    "ADAPTER_PREFIX",
    "ARCHIVE_PREFIX",
    "package_model",
    "package_slm",
    "publish_bytes",
    "publish_file",
]

#: Every member of ``model.tar`` lives under this folder, as on the platform.
ARCHIVE_PREFIX = "model"
#: Where the platform's tarball keeps a LoRA adapter (``adapter_config.json`` and its weights).
ADAPTER_PREFIX = "model-adapter"


def _reset_owner(info: tarfile.TarInfo) -> tarfile.TarInfo:
    # Local user names and ids mean nothing on the machine that extracts the archive.
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    return info


def package_model(model_dir: Path, dest: Path, *, prefix: str = ARCHIVE_PREFIX) -> Path:
    """Write ``model_dir`` as an uncompressed tar with members under ``model/``, atomically.

    ``prefix=ADAPTER_PREFIX`` packages a LoRA adapter folder as ``model-adapter/``, as the
    platform ships one. The archive is built in a temporary file next to ``dest`` and renamed
    into place, so a reader sees either no ``dest`` or a complete one. Links are refused: the
    archive must be self-contained. Returns ``dest``.

    Example:
        >>> package_model(Path("work/model"), Path("artifacts/model.tar"))  # doctest: +SKIP
    """
    if prefix not in (ARCHIVE_PREFIX, ADAPTER_PREFIX):
        raise ValueError(f"prefix must be {ARCHIVE_PREFIX!r} or {ADAPTER_PREFIX!r}, got {prefix!r}")
    model_dir = Path(model_dir)
    if not model_dir.is_dir():
        raise FileNotFoundError(f"{model_dir}: the model folder to package does not exist")
    with atomic_writer(Path(dest)) as raw, tarfile.open(fileobj=raw, mode="w") as archive:
        archive.add(model_dir, arcname=prefix, recursive=False, filter=_reset_owner)
        # Sorted walk: the same folder always gives the same archive.
        for path in sorted(model_dir.rglob("*")):
            if path.is_symlink():
                raise ValueError(f"{path}: links are not allowed in a model folder")
            arcname = f"{prefix}/{path.relative_to(model_dir).as_posix()}"
            archive.add(path, arcname=arcname, recursive=False, filter=_reset_owner)
    return dest


def package_slm(model_tar: Path, dest: Path, extras: Mapping[str, bytes]) -> Path:
    """Write the SLM tarball of the current route generation, atomically: every member of
    ``model_tar`` (``model/...`` and/or ``model-adapter/...``) followed by ``extras``
    (top-level files: ``model_client.py`` and ``README.md``, as on the platform). Returns
    ``dest``.

    Example:
        >>> package_slm(Path("model.tar"), Path("slm.tar"), {"README.md": b"..."})  # doctest: +SKIP
    """
    reserved = {"", ".", "..", ARCHIVE_PREFIX, ADAPTER_PREFIX}
    for name in extras:
        if name in reserved or "/" in name or "\\" in name:
            raise ValueError(f"{name!r}: an SLM tarball's extra files are top-level files")
    with (
        tarfile.open(model_tar, "r:") as source,
        atomic_writer(Path(dest)) as raw,
        tarfile.open(fileobj=raw, mode="w") as archive,
    ):
        for member in source:
            if member.name in extras:
                continue  # replaced by the extra of the same name
            data = source.extractfile(member) if member.isfile() else None
            archive.addfile(_reset_owner(member), data)
        for name, content in extras.items():
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(content), 0o644, int(time.time())
            archive.addfile(_reset_owner(info), io.BytesIO(content))
    return Path(dest)


def publish_bytes(data: bytes, dest: Path) -> Path:
    """Write ``data`` to ``dest`` through a temporary file and an atomic rename."""
    return write_bytes_atomic(dest, data)


def publish_file(source: Path, dest: Path) -> Path:
    """Copy ``source`` to ``dest`` through a temporary file and an atomic rename."""
    return copy_file_atomic(source, dest)
