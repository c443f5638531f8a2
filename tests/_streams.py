"""A stand-in stderr for the progress tests: progress shows only on a terminal or in a notebook."""

from __future__ import annotations

import io
import sys

import pytest


class TtyStream(io.StringIO):
    """A stderr that says whether it is a terminal."""

    def __init__(self, tty: bool) -> None:
        super().__init__()
        self._tty = tty

    def isatty(self) -> bool:
        return self._tty


def without_progress_overrides(monkeypatch: pytest.MonkeyPatch) -> None:
    """Take away what would decide the progress rule from outside the test: the
    ``DISTIL_NO_PROGRESS`` switch and a notebook kernel."""
    monkeypatch.delenv("DISTIL_NO_PROGRESS", raising=False)
    monkeypatch.delitem(sys.modules, "ipykernel", raising=False)
