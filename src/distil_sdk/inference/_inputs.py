"""Checking and chunking the texts handed to a classifier.

Any iterable is accepted and consumed lazily, one chunk at a time, so a generator over a large
file never has to fit in memory; each item is checked as it arrives and a bad one is reported by
its position in the whole input.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from itertools import islice
from typing import Any

__all__ = ["iter_chunks"]


def _check(item: Any, index: int) -> str:
    if isinstance(item, str):
        return item
    if item is None:
        raise TypeError(f"text at index {index} is None; every item must be a string")
    if isinstance(item, float) and math.isnan(item):
        raise TypeError(
            f"text at index {index} is NaN (a missing value?); every item must be a string"
        )
    raise TypeError(f"text at index {index} is a {type(item).__name__}, not a string")


def iter_chunks(texts: Iterable[Any] | str, chunk_size: int) -> Iterator[list[str]]:
    """Yield lists of at most ``chunk_size`` checked strings; a bare ``str`` is one text."""
    if isinstance(texts, str):
        yield [texts]
        return
    if isinstance(texts, (bytes, bytearray)):
        raise TypeError("texts must be strings, got bytes; decode them first")
    if not isinstance(texts, Iterable):
        raise TypeError(
            f"texts must be a string or an iterable of strings, got {type(texts).__name__}"
        )
    iterator = iter(texts)
    start = 0
    while True:
        chunk = list(islice(iterator, chunk_size))
        if not chunk:
            return
        yield [_check(item, start + offset) for offset, item in enumerate(chunk)]
        start += len(chunk)
