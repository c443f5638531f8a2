"""English for messages: counts with the right plural, and "a" or "an" before a word.

Example:
    >>> plural(1, "error"), plural(3, "warning"), plural(2, "class", "classes")
    ('1 error', '3 warnings', '2 classes')
    >>> with_article("'answer'"), with_article("int"), with_article("SLM"), with_article("user")
    ("an 'answer'", 'an int', 'an SLM', 'a user')
"""

from __future__ import annotations

__all__ = ["article", "plural", "with_article"]

# Letters whose spoken name starts with a vowel sound: "an SLM", "an HTTP error", "a CSV".
_VOWEL_LETTERS = frozenset("AEFHILMNORSX")
# Vowel-letter beginnings spoken with a consonant ("a user", "a one-off", "a European").
_CONSONANT_SOUNDS = ("uni", "use", "usu", "uti", "ure", "eu", "one", "once")


def plural(count: int, singular: str, plural_form: str | None = None) -> str:
    """``count`` and the noun, singular only for exactly one: ``"1 row"``, ``"0 rows"``."""
    if count == 1:
        return f"{count} {singular}"
    return f"{count} {plural_form or singular + 's'}"


def article(word: str) -> str:
    """``"a"`` or ``"an"`` for ``word``, judged by its first letter after any quote."""
    bare = word.lstrip("'\"`([")
    if not bare:
        return "a"
    head = bare.split()[0].rstrip("'\"`)],.;:")
    if len(head) == 1 or head.isupper():  # a letter or an acronym, read letter by letter
        return "an" if head[0].upper() in _VOWEL_LETTERS else "a"
    lower = bare.lower()
    if lower.startswith(_CONSONANT_SOUNDS):
        return "a"
    return "an" if lower[0] in "aeiou" else "a"


def with_article(word: str) -> str:
    """``word`` after its article: ``"an 'answer' column"``, ``"a 'question' column"``."""
    return f"{article(word)} {word}"
