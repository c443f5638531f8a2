"""What both batch engines share: checking a text column and building the prediction columns.

The local engine and the Ray actors call the same two functions, so a file predicted either way
gets the same columns, the same names and the same values.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from .._errors import DistilError

__all__ = [
    "EMPTY_TEXT_ADVICE",
    "BatchInputError",
    "as_strings",
    "blank_positions",
    "check_texts",
    "output_names",
    "prediction_columns",
]


class BatchInputError(DistilError, TypeError, ValueError):
    """The data to predict is unusable: no text column, a null, non-string or empty text, a
    column clash.

    A ``TypeError`` like the one `LocalClassifier.predict_proba` raises for a bad item,
    and a ``ValueError`` for the rest; the message names the column and the row.
    """


EMPTY_TEXT_ADVICE = (
    "A model cannot classify an empty text: drop those rows or fill in their text first"
)


def check_texts(
    values: Sequence[Any], column: str, describe_row: Callable[[int], str]
) -> list[str]:
    """``values`` as strings; a null, NaN, non-string or empty text raises naming its row.

    A missing value is refused rather than guessed at, as ``LocalClassifier`` refuses ``None``;
    an empty or whitespace-only text too, since any label it got would mean nothing. The
    rows are named by ``describe_row(i)`` (the first three empty ones).
    """
    texts = as_strings(values, column, describe_row)
    blank = blank_positions(texts)
    if blank:
        shown = "; ".join(describe_row(i) for i in blank[:3])
        more = f" (and {len(blank) - 3} more)" if len(blank) > 3 else ""
        raise BatchInputError(
            f"column {column!r}: {len(blank)} text(s) empty or only whitespace: {shown}{more}. "
            f"{EMPTY_TEXT_ADVICE}"
        )
    return texts


def as_strings(values: Sequence[Any], column: str, describe_row: Callable[[int], str]) -> list[str]:
    """``values`` as strings; the first null, NaN or non-string raises naming its row."""
    texts: list[str] = []
    for i, value in enumerate(values):
        if isinstance(value, str):
            texts.append(value)
            continue
        if value is None or (isinstance(value, float) and math.isnan(value)):
            what = "is null (a missing value)"
        else:
            what = f"is a {type(value).__name__}, not a string"
        raise BatchInputError(
            f"column {column!r}, {describe_row(i)}: the text {what}; every text must be a "
            "string - drop or fill missing texts first"
        )
    return texts


def blank_positions(texts: Sequence[str]) -> list[int]:
    """Positions of the empty and whitespace-only texts."""
    return [i for i, text in enumerate(texts) if not text or text.isspace()]


def output_names(
    labels: Sequence[str], *, top_k: int | None, probabilities: bool, prefix: str
) -> list[str]:
    """The columns a prediction adds, in the order they are added."""
    names = [f"{prefix}label", f"{prefix}score"]
    if top_k is not None:
        names += [f"{prefix}top_labels", f"{prefix}top_scores"]
    if probabilities:
        names += [f"{prefix}prob_{label}" for label in labels]
    return names


def prediction_columns(
    probs: np.ndarray,
    labels: Sequence[str],
    *,
    top_k: int | None,
    probabilities: bool,
    prefix: str,
) -> dict[str, Any]:
    """``label``/``score`` (the best class), ``top_labels``/``top_scores``, ``prob_<label>``.

    ``label`` is the first highest column, as in ``LocalClassifier.predict``; the top-k lists are
    best first with ties in label order, as in ``LocalClassifier.classify(top_k=k)``.
    """
    best = probs.argmax(axis=1) if len(probs) else np.zeros(0, dtype=np.int64)
    columns: dict[str, Any] = {
        f"{prefix}label": [labels[i] for i in best],
        f"{prefix}score": probs[np.arange(len(probs)), best].astype(np.float64),
    }
    if top_k is not None:
        order = np.argsort(-probs, axis=1, kind="stable")[:, :top_k]
        columns[f"{prefix}top_labels"] = [[labels[i] for i in row] for row in order]
        columns[f"{prefix}top_scores"] = (
            np.take_along_axis(probs, order, axis=1).astype(np.float64).tolist()
        )
    if probabilities:
        for j, label in enumerate(labels):
            columns[f"{prefix}prob_{label}"] = probs[:, j].astype(np.float64)
    return columns
