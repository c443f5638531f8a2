"""Counts and articles in messages: "1 error", "2 warnings", "an 'answer' column"."""

from __future__ import annotations

import pytest

from distil_sdk.types._words import article, plural, with_article


@pytest.mark.parametrize(
    ("count", "args", "want"),
    [
        (0, ("error",), "0 errors"),
        (1, ("error",), "1 error"),
        (2, ("warning",), "2 warnings"),
        (1, ("class", "classes"), "1 class"),
        (4, ("class", "classes"), "4 classes"),
        (1, ("text goes", "texts go"), "1 text goes"),
    ],
)
def test_plural(count: int, args: tuple[str, ...], want: str) -> None:
    assert plural(count, *args) == want


@pytest.mark.parametrize(
    ("word", "want"),
    [
        ("'answer'", "an"),
        ("'question'", "a"),
        ('"int"', "an"),
        ("int", "an"),
        ("dict", "a"),
        ("SLM", "an"),
        ("CSV", "a"),
        ("'x'", "an"),
        ("user", "a"),
        ("unique", "a"),
        ("order", "an"),
        ("", "a"),
    ],
)
def test_article(word: str, want: str) -> None:
    assert article(word) == want


def test_with_article() -> None:
    assert with_article("'answer'") == "an 'answer'"
