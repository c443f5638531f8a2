"""The text a chat completion request asks to classify.

Generated ``model_client.py`` files send the model's training prompt: a system message and the
text wrapped in a user template (``<question>TEXT</question>``, ...). The server classifies the
last user message, unwrapped back to the text when it matches the model's template (or the
platform's default one), so the model sees what it was trained on and a generative student does
not get the prompt twice.
"""

from __future__ import annotations

import re
import string
from collections.abc import Iterable, Mapping
from typing import Any

from ._state import ApiError

__all__ = ["chat_text", "message_text", "unwrap"]

_QUESTION = re.compile(r"<question>(.*)</question>", re.DOTALL)


def message_text(content: Any, position: int) -> str:
    """The text of ``messages[position].content``: a string, or the text parts of a list.

    Raises:
        ApiError: 400 when it holds no text.
    """
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        texts = [
            part.get("text", "")
            for part in content
            if isinstance(part, Mapping) and part.get("type") == "text"
        ]
        if texts:
            return "\n".join(str(t) for t in texts)
    raise ApiError(
        400,
        f"messages[{position}].content holds no text; send a string or a list of "
        '{"type": "text", "text": ...} parts',
    )


def _template_ends(template: str) -> tuple[str, str] | None:
    """The literal text before and after ``{text}`` in a ``str.format`` template."""
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError:
        return None
    before, after, seen = "", "", False
    for literal, name, _, _ in parsed:
        if seen:
            after += literal
        else:
            before += literal
        if name == "text":
            seen = True
        elif name is not None:
            return None
    return (before, after) if seen else None


def unwrap(text: str, templates: Iterable[str]) -> str:
    """``text`` without the first of ``templates`` that wraps it (else as it is)."""
    for template in templates:
        ends = _template_ends(template)
        if ends is None:
            continue
        before, after = ends
        if (
            len(text) >= len(before) + len(after)
            and text.startswith(before)
            and text.endswith(after)
        ):
            return text[len(before) : len(text) - len(after)]
    found = _QUESTION.findall(text)
    return found[0] if len(found) == 1 else text


def chat_text(messages: list[Any], templates: Iterable[str]) -> str:
    """The text of the last user message, unwrapped from the model's prompt template.

    Raises:
        ApiError: 400 when there is no user message, or it holds no text.
    """
    for position in range(len(messages) - 1, -1, -1):
        message = messages[position]
        if isinstance(message, Mapping) and message.get("role") == "user":
            return unwrap(message_text(message.get("content"), position), templates)
    raise ApiError(400, 'messages hold no user message; send {"role": "user", "content": "TEXT"}')
