"""Owner-only files: the data dir holds users' datasets, models and the API token.

Everything the local platform creates under it is made for its owner alone (0700 folders, 0600
files), and what an older version left readable by others is tightened when it is opened again.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

__all__ = ["PRIVATE_DIR_MODE", "PRIVATE_FILE_MODE", "make_private_dir", "private_db"]

logger = logging.getLogger("distil_sdk.local")

PRIVATE_DIR_MODE = 0o700
PRIVATE_FILE_MODE = 0o600


def _restrict(path: Path, mode: int) -> None:
    """``chmod`` to ``mode`` unless already so; a file we do not own keeps its mode (logged)."""
    try:
        if path.stat().st_mode & 0o777 != mode:
            os.chmod(path, mode)
    except FileNotFoundError:
        pass
    except PermissionError:
        logger.warning("%s is not ours: cannot make it mode %o", path, mode)


def make_private_dir(path: Path) -> Path:
    """Create ``path`` (and parents) if needed and make it 0700: only its owner may enter."""
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True, mode=PRIVATE_DIR_MODE)
    _restrict(path, PRIVATE_DIR_MODE)
    return path


def private_db(path: Path) -> None:
    """Create the database file 0600 before SQLite does (it would use 0644), tighten old ones."""
    os.close(os.open(path, os.O_RDWR | os.O_CREAT, PRIVATE_FILE_MODE))
    for name in (path.name, f"{path.name}-wal", f"{path.name}-shm"):
        _restrict(path.with_name(name), PRIVATE_FILE_MODE)
