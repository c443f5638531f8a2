"""A griffe extension for the docs build: read ``Example:`` sections as ``Examples:``.

The codebase writes ``Example:`` (singular) above its doctests; griffe's Google parser knows
only ``Examples:`` and would render the doctest lines as Markdown text (where ``['a', 'b']``
reads as a broken link). Rewriting the heading before the docstring is parsed renders them as
code, without touching every docstring.
"""

from __future__ import annotations

import re
from typing import Any

import griffe

_HEADING = re.compile(r"^(\s*)Example:\s*$", re.MULTILINE)


class ExampleSections(griffe.Extension):
    """Rename ``Example:`` headings to ``Examples:`` in every loaded docstring."""

    def on_instance(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        if obj.docstring is not None:
            obj.docstring.value = _HEADING.sub(r"\1Examples:", obj.docstring.value)
