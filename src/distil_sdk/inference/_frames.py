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


def frame_texts(texts: Any) -> tuple[Any, Any]:
    """``(texts, index)``: a Series' values and index, a DataFrame's text column and index,
    or ``(texts, None)`` for anything that is not pandas."""
    pd = _pandas()
    if pd is None:
        return texts, None
    if isinstance(texts, pd.Series):
        return texts, texts.index
    if isinstance(texts, pd.DataFrame):
        columns = [str(c) for c in texts.columns]
        name = next((c for c in TEXT_COLUMNS if c in columns), None)
        if name is None and len(columns) == 1:
            name = columns[0]
        if name is None:
            raise TypeError(
                "a DataFrame of texts needs a 'text' (or 'question') column, or a single "
                f"column; it has: {', '.join(columns) or 'no columns'}"
            )
        return texts[name], texts.index
    return texts, None


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
