"""The batch engines' progress bar: rows done out of the total, under the SDK's progress rule.

``progress=None`` shows it when a person watches (a terminal or a notebook) and never under
``DISTIL_NO_PROGRESS=1``, like ``wait()`` and ``download_model()`` (see ``distil_sdk._progress``).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from .._progress import resolve_progress

__all__ = ["row_bar"]


@contextmanager
def row_bar(progress: bool | None, total: int | None, desc: str) -> Iterator[Any]:
    """A tqdm bar counting rows (``bar.update(n)``), or ``None`` when progress is off.

    ``total=None`` counts rows without a total (a Ray input whose size is not known upfront).
    """
    if not resolve_progress(progress):
        yield None
        return
    try:
        from tqdm.auto import tqdm
    except ImportError:  # tqdm comes with the `local` extra; no bar without it
        yield None
        return
    with tqdm(total=total, desc=desc, unit=" rows", dynamic_ncols=True) as bar:
        yield bar
