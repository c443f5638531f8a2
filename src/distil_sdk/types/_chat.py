"""The platform's current row format: JSONL chat conversations, for every task type.

A row is ``{"messages": [...]}`` (plus any key a task adds, such as ``context``). Reading checks
what every task type shares (a list of message objects with known roles, at least one user
turn, ending with the assistant's turn), keeps the row as written, and gives the SDK's
``question``/``answer`` view of it: the last user turn and the final assistant turn. What each
task type adds (classification: exactly one user and one assistant message; chat completion:
the role sequence and the tool calls) is checked by `conversation_problem`.

A classification row is ``{"messages": [{"role": "user", "content": TEXT}, {"role":
"assistant", "content": LABEL}]}``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from ._words import plural, with_article
from .validation import Finding

__all__ = [
    "CHAT_ROW_SHAPE",
    "chat_row",
    "conversation_problem",
    "dump_chat",
    "is_chat_row",
    "message_text",
    "messages_to_record",
]

CHAT_ROW_SHAPE = (
    '{"messages": [{"role": "user", "content": "<text>"}, '
    '{"role": "assistant", "content": "<label>"}]}'
)
ROLES = ("system", "user", "assistant", "tool")
#: Task types whose rows are one user turn and one assistant turn.
_TWO_TURN_TASKS = ("classification", "question-answering")


def chat_row(text: str, label: str) -> dict[str, Any]:
    """One two-turn row (a classification or question-answering example) in chat format."""
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


def message_text(message: Mapping[str, Any]) -> str:
    """The text of a message: its content, or its tool calls as compact JSON when it has no
    content (a tool-calling turn)."""
    content = message.get("content")
    if isinstance(content, str) and content:
        return content
    if isinstance(content, list):  # text and image parts
        return " ".join(
            p["text"] for p in content if isinstance(p, dict) and isinstance(p.get("text"), str)
        )
    calls = message.get("tool_calls")
    if calls:
        return json.dumps(calls, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return content if isinstance(content, str) else ""


def messages_to_record(
    obj: Mapping[str, Any], *, file: str | None, row: int
) -> tuple[dict[str, Any] | None, list[Finding]]:
    """The row as ``{"question", "answer", "conversation"}`` (``conversation``: the row as
    written), or ``None`` and an error saying how a row must look."""
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
    last_user = next(m for m in reversed(messages) if m.get("role") == "user")
    return {
        "question": message_text(last_user),
        "answer": message_text(messages[-1]),
        "conversation": dict(obj),
    }, []


def _shape_problem(messages: Any) -> str | None:
    """What no task type accepts: not a list of message objects, no user turn, no final
    assistant turn, a message without content or tool calls."""
    if not isinstance(messages, list):
        return f"'messages' is {with_article(type(messages).__name__)}, not a list"
    if len(messages) < 2:
        return f"'messages' has {plural(len(messages), 'message')}, expected at least 2 (user, then assistant)"
    for i, message in enumerate(messages):
        if not isinstance(message, dict):
            return f"messages[{i}] is {with_article(type(message).__name__)}, not an object"
        if message.get("role") not in ROLES:
            return f"messages[{i}] has role {message.get('role')!r}, expected one of {', '.join(ROLES)}"
        if "content" not in message and not message.get("tool_calls"):
            return f"messages[{i}] has no 'content'"
    if messages[-1].get("role") != "assistant":
        return f"messages[{len(messages) - 1}] has role {messages[-1].get('role')!r}, expected 'assistant' (the answer ends the row)"
    if not any(m.get("role") == "user" for m in messages):
        return "the conversation has no user message"
    return None


def conversation_problem(
    messages: list[dict[str, Any]],
    task: str,
    tools: Sequence[Mapping[str, Any]] | None,
    *,
    max_tool_calls_per_turn: int | str | None = None,
) -> str | None:
    """What ``task``'s rules refuse in a row already read, or ``None``
    (``data-preparation/overview.md`` and ``chat-completion.md`` of the platform's reference).

    ``max_tool_calls_per_turn``: ``synthgen.max_tool_calls_per_turn``; rows with parallel tool
    calls need 2 or more (or ``"unlimited"``).
    """
    if task in _TWO_TURN_TASKS:
        roles = [m.get("role") for m in messages]
        if roles != ["user", "assistant"]:
            return (
                f"a {task} row is one user message then one assistant message, found "
                f"{', '.join(map(str, roles))}"
            )
        for i, message in enumerate(messages):
            if not isinstance(message.get("content"), str) or not message["content"].strip():
                return f"messages[{i}] has no text content; fill it in"
        return None
    agentic = task == "chat-completion-agentic"
    return _chat_completion_problem(messages, agentic, tools, max_tool_calls_per_turn)


# Which role may follow which in a chat completion row ("Strict alternation"; tool results
# only in agentic rows, after an assistant turn that made calls).
_NEXT = {
    None: ("user",),
    "user": ("assistant",),
    "assistant": ("user", "tool"),
    "tool": ("tool", "assistant", "user"),
}


def _chat_completion_problem(
    messages: list[dict[str, Any]],
    agentic: bool,
    tools: Sequence[Mapping[str, Any]] | None,
    max_calls: int | str | None,
) -> str | None:
    declared = _declared_tools(tools)
    previous: str | None = None
    pending: list[Any] = []  # the calls of the last assistant turn that results may answer
    for i, message in enumerate(messages):
        role = message.get("role")
        if role == "system":
            return (
                f"messages[{i}] is a system message; chat completion rows have none "
                "(task_description becomes the system prompt): remove it"
            )
        if role == "tool":
            problem = _tool_result_problem(message, i, agentic, previous, pending, declared)
            if problem:
                return problem
        elif role not in _NEXT[previous]:
            after = f"after a {previous} turn" if previous else "first"
            return f"messages[{i}] is a {role} turn {after}; alternate user and assistant turns"
        elif role == "assistant":
            problem = _assistant_problem(message, i, declared, max_calls)
            if problem:
                return problem
            pending = list(message.get("tool_calls") or [])
        elif not message.get("content"):
            return f"messages[{i}] has no content; fill it in"
        previous = role
    return None


def _tool_result_problem(
    message: Mapping[str, Any],
    index: int,
    agentic: bool,
    previous: str | None,
    pending: list[Any],
    declared: Mapping[str, Any],
) -> str | None:
    if not agentic:
        return (
            f"messages[{index}] is a tool result ({previous} -> tool), which only "
            "chat-completion-agentic rows may hold; use that task type"
        )
    if previous not in ("assistant", "tool"):
        return (
            f"messages[{index}] is a tool result after a {previous or 'missing'} turn; a tool "
            "result follows the assistant turn that made the call"
        )
    if not declared:
        return (
            f"messages[{index}] is a tool result but the job description declares no tools; "
            "add them under 'tools' in job_description.json"
        )
    if not pending:
        return (
            f"messages[{index}] is a tool result with no call left to answer (more results "
            "than calls, or no assistant turn with tool_calls before it)"
        )
    call = pending.pop(0)
    ids = [c.get("id") for c in [call, *pending] if isinstance(c, dict) and c.get("id")]
    answer = message.get("tool_call_id")
    if answer is not None and ids and answer not in ids:
        return (
            f"messages[{index}].tool_call_id {answer!r} matches no call of the assistant "
            f"turn before it ({', '.join(map(str, ids))})"
        )
    return None


def _assistant_problem(
    message: Mapping[str, Any],
    index: int,
    declared: Mapping[str, Mapping[str, Any]],
    max_calls: int | str | None,
) -> str | None:
    calls = message.get("tool_calls")
    content = message.get("content")
    if not calls and not (isinstance(content, str) and content.strip()):
        return f"messages[{index}] (assistant) has neither content nor tool_calls"
    if not calls:
        return None
    if not isinstance(calls, list):
        return f"messages[{index}].tool_calls is not a list"
    if not declared:
        return (
            f"messages[{index}] calls a tool but the job description declares no tools; add "
            "them under 'tools' in job_description.json"
        )
    if len(calls) > 1 and not (
        max_calls == "unlimited" or (isinstance(max_calls, int) and max_calls >= 2)
    ):
        return (
            f"messages[{index}] makes {len(calls)} parallel tool calls; set "
            'synthgen.max_tool_calls_per_turn to 2 or more (or "unlimited") in config.yaml'
        )
    for j, call in enumerate(calls):
        where = f"messages[{index}].tool_calls[{j}]"
        function = call.get("function") if isinstance(call, dict) else None
        if not isinstance(function, dict):
            return f'{where} is not {{"type": "function", "function": {{"name", "arguments"}}}}'
        name = function.get("name")
        if not isinstance(name, str) or name not in declared:
            return f"{where} calls {name!r}, which is not among the declared tools ({', '.join(declared)})"
        arguments = function.get("arguments")
        if not isinstance(arguments, dict):
            return f"{where}.function.arguments is {with_article(type(arguments).__name__)}; it must be a JSON object, not a string"
        problem = _arguments_problem(arguments, declared[name])
        if problem:
            return f"{where} ({name!r}): {problem}"
    return None


_JSON_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
    "array": (list,),
    "object": (dict,),
}


def _arguments_problem(arguments: Mapping[str, Any], schema: Mapping[str, Any]) -> str | None:
    """The top level of a JSON-schema ``parameters`` object: required keys, known keys when
    ``additionalProperties`` is false, and each value's declared ``type``."""
    found = schema.get("properties")
    properties: Mapping[str, Any] = found if isinstance(found, Mapping) else {}
    missing = [p for p in schema.get("required") or [] if p not in arguments]
    if missing:
        names = ", ".join(map(str, missing))
        if len(missing) == 1:
            return f"the required argument {names} is missing"
        return f"the required arguments {names} are missing"
    for key, value in arguments.items():
        spec = properties.get(key)
        if spec is None:
            if schema.get("additionalProperties") is False:
                return f"the argument {key!r} is not in the tool's parameters"
            continue
        expected = spec.get("type") if isinstance(spec, Mapping) else None
        kinds = _JSON_TYPES.get(expected) if isinstance(expected, str) else None
        wrong_bool = isinstance(value, bool) and expected in ("integer", "number")
        if kinds is not None and (not isinstance(value, kinds) or wrong_bool):
            return f"the argument {key!r} is {with_article(type(value).__name__)}, the schema wants {expected}"
    return None


def _declared_tools(tools: Sequence[Mapping[str, Any]] | None) -> dict[str, Mapping[str, Any]]:
    """Tool name -> its JSON-schema ``parameters`` (OpenAI function-tool shape)."""
    out: dict[str, Mapping[str, Any]] = {}
    for tool in tools or ():
        function = tool.get("function") if isinstance(tool, Mapping) else None
        if isinstance(function, Mapping) and isinstance(function.get("name"), str):
            parameters = function.get("parameters")
            out[function["name"]] = parameters if isinstance(parameters, Mapping) else {}
    return out
