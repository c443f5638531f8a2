"""The platform's current row format: JSONL chat conversations.

A classification row is ``{"messages": [{"role": "user", "content": TEXT}, {"role":
"assistant", "content": LABEL}]}``; an unlabelled row is ``{"context": TEXT}``. Reading turns
a chat row into the ``question``/``answer`` pair the SDK's datasets hold (or a finding saying
how the row must look); writing does the reverse.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from .validation import Finding

__all__ = ["CHAT_ROW_SHAPE", "chat_row", "dump_chat", "is_chat_row", "messages_to_record"]

CHAT_ROW_SHAPE = (
    '{"messages": [{"role": "user", "content": "<text>"}, '
    '{"role": "assistant", "content": "<label>"}]}'
)


def chat_row(text: str, label: str) -> dict[str, Any]:
    """One classification row in chat format."""
    return {
        "messages": [
            {"role": "user", "content": text},
            {"role": "assistant", "content": label},
        ]
    }


def dump_chat(rows: Iterable[Sequence[str]]) -> str:
    """JSONL text of chat rows from ``(text, label)`` pairs (UTF-8 kept, one row per line)."""
    return "".join(json.dumps(chat_row(t, a), ensure_ascii=False) + "\n" for t, a in rows)


def is_chat_row(obj: Mapping[str, Any], columns: Sequence[str]) -> bool:
    """A row to read as chat: it has ``messages`` and not every flat column."""
    return "messages" in obj and not all(c in obj for c in columns)


def messages_to_record(
    obj: Mapping[str, Any], *, file: str | None, row: int
) -> tuple[dict[str, Any] | None, list[Finding]]:
    """The row as ``{"question", "answer", <other keys>}``, or ``None`` and an error saying
    how a classification row must look (user message, then assistant message)."""
    messages = obj.get("messages")
    problem = _shape_problem(messages)
    if problem:
        finding = Finding(
            severity="error",
            code="invalid_messages",
            file=file,
            row=row,
            column="messages",
            message=f"{problem}; a classification row is {CHAT_ROW_SHAPE}. The row was skipped.",
        )
        return None, [finding]
    assert isinstance(messages, list)
    out = {k: v for k, v in obj.items() if k != "messages"}
    out["question"] = messages[0].get("content")
    out["answer"] = messages[1].get("content")
    return out, []


def _shape_problem(messages: Any) -> str | None:
    if not isinstance(messages, list):
        return f"'messages' is a {type(messages).__name__}, not a list"
    if len(messages) != 2:
        return f"'messages' has {len(messages)} message(s), expected 2 (user, then assistant)"
    for i, (message, role) in enumerate(zip(messages, ("user", "assistant"), strict=True)):
        if not isinstance(message, dict):
            return f"messages[{i}] is a {type(message).__name__}, not an object"
        if message.get("role") != role:
            return f"messages[{i}] has role {message.get('role')!r}, expected {role!r}"
        if "content" not in message:
            return f"messages[{i}] has no 'content'"
    return None
