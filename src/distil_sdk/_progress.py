"""Whether to show progress when the caller did not say: on for people, off for logs.

``progress=None`` (the default of ``wait()`` and ``download_model()``) means: show it when
someone is watching - stderr is a terminal, or the code runs in a Jupyter kernel, whose output
is a notebook cell - and stay quiet in CI, cron and piped logs. ``DISTIL_NO_PROGRESS=1``
switches every progress display of the SDK off, whatever the code asked for, so one variable
silences a whole program.
"""

from __future__ import annotations

import os
import sys

__all__ = ["NO_PROGRESS_ENV", "progress_enabled", "resolve_progress"]

NO_PROGRESS_ENV = "DISTIL_NO_PROGRESS"
_OFF = {"", "0", "false", "no", "off"}


def _switched_off() -> bool:
    return os.environ.get(NO_PROGRESS_ENV, "").strip().lower() not in _OFF


def _in_notebook() -> bool:
    # A Jupyter kernel imports ipykernel before running any cell; a plain script never does.
    return "ipykernel" in sys.modules


def progress_enabled() -> bool:
    """The default: a terminal or a notebook is watching, and progress is not switched off."""
    if _switched_off():
        return False
    try:
        tty = sys.stderr is not None and sys.stderr.isatty()
    except (AttributeError, ValueError):  # a replaced or closed stderr
        tty = False
    return tty or _in_notebook()


def resolve_progress(progress: bool | None) -> bool:
    """``progress`` as asked (``None``: `progress_enabled`); always off under
    ``DISTIL_NO_PROGRESS=1``.

    Example:
        >>> resolve_progress(False)
        False
    """
    if _switched_off():
        return False
    return progress_enabled() if progress is None else bool(progress)
