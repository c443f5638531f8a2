"""pandas in, pandas out: the texts of a Series or DataFrame, and results indexed like them.

pandas is never imported here unless the caller already passed a pandas object.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = ["frame_texts", "wrap_labels", "wrap_proba"]

# A DataFrame's text column, first match wins (else its only column).
TEXT_COLUMNS = ("text", "question", "context")


def _pandas() -> Any:
    return sys.modules.get("pandas")


def frame_texts(texts: Any, text_column: str | None = None) -> tuple[Any, Any]:
    """``(texts, index)``: a Series' values and index, a DataFrame's text column and index,
    or ``(texts, None)`` for anything that is not pandas.

    ``text_column`` names the DataFrame's text column; ``None`` takes the first of
    ``TEXT_COLUMNS`` it has, else its only column. Naming a column for anything but a
    DataFrame is refused rather than ignored, so a typo never passes silently.
    """
    pd = _pandas()
    if pd is not None and isinstance(texts, pd.DataFrame):
        columns = [str(c) for c in texts.columns]
        return texts[_text_column(columns, text_column)], texts.index
    if text_column is not None:
        raise TypeError(
            f"text_column={text_column!r} names a DataFrame column, but the texts are a "
            f"{type(texts).__name__}; pass the DataFrame, or leave text_column out"
        )
    if pd is not None and isinstance(texts, pd.Series):
        return texts, texts.index
    return texts, None


def _text_column(columns: list[str], asked: str | None) -> str:
    """The DataFrame column holding the texts: ``asked``, else the first conventional name."""
    shown = ", ".join(columns) or "no columns"
    if asked is not None:
        if asked not in columns:
            raise ValueError(
                f"the DataFrame has no column {asked!r} (its columns: {shown}); "
                "pass text_column= the name of the column holding the texts"
            )
        return asked
    name = next((c for c in TEXT_COLUMNS if c in columns), None)
    if name is None and len(columns) == 1:
        name = columns[0]
    if name is None:
        raise ValueError(
            "a DataFrame of texts needs a 'text' (or 'question') column, or a single "
            f"column; it has: {shown}. Pass text_column= to name the text column"
        )
    return name


def wrap_labels(labels: np.ndarray, index: Any) -> Any:
    """``labels`` as a ``Series`` named ``label`` on ``index``; unchanged without an index."""
    if index is None:
        return labels
    return _pandas().Series(labels, index=index, name="label")


def wrap_proba(probs: np.ndarray, index: Any, columns: Sequence[str]) -> Any:
    """``probs`` as a ``DataFrame`` with one column per class; unchanged without an index."""
    if index is None:
        return probs
    return _pandas().DataFrame(probs, index=index, columns=list(columns))
