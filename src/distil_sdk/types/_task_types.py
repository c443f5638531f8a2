"""The platform's task types: the names ``base.task`` takes, its default, and the retired names.

One place for what the distil labs reference says about task types
(``skills/distil-cli/references/task-types.md`` and ``migrating-old-entities.md`` of
``distil-labs/distil-cli-skill``):

* ``base.task`` in ``config.yaml`` selects the task, one of four: ``classification``,
  ``question-answering``, ``chat-completion``, ``chat-completion-agentic``.
* The names of the previous platform are *retired*: a Dataset does not accept them. The
  reference tells users to "set ``base.task: question-answering`` and drop ``context`` from the
  rows" for the question-answering family, and that "a multi-turn tool-calling task maps to
  ``chat-completion`` or ``chat-completion-agentic``". The SDK refuses a retired name with a
  message that names its replacement, and refuses any other unknown name listing the four.

Example:
    >>> parse_task_type("question-answering")
    'question-answering'
    >>> retired_task_message("question-answering-open-book")  # doctest: +ELLIPSIS
    "'question-answering-open-book' is a retired task type...use 'question-answering' instead..."
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal, NamedTuple, get_args

__all__ = [
    "DEFAULT_TASK_TYPE",
    "RETIRED_TASK_TYPES",
    "TASK_TYPES",
    "TASK_TYPE_KEY",
    "RetiredTaskType",
    "TaskType",
    "is_task_type",
    "parse_task_type",
    "retired_task_message",
    "task_type_error",
    "task_type_from_config",
]

#: The four task types the platform accepts in ``base.task`` (task-types.md § Task types).
TaskType = Literal[
    "classification", "question-answering", "chat-completion", "chat-completion-agentic"
]

#: The task types, in the reference's order of its "Choosing a task type" table.
TASK_TYPES: tuple[TaskType, ...] = (
    "question-answering",
    "classification",
    "chat-completion",
    "chat-completion-agentic",
)
assert set(TASK_TYPES) == set(get_args(TaskType))

#: Where the task type is read from: the ``task`` key of the ``base`` section of ``config.yaml``.
TASK_TYPE_KEY = "base.task"

#: What the SDK writes when no task is given. The platform requires ``base.task``
#: (configuration.md: "Only ``base.task`` is required"), so ``TaskConfig.to_dict`` always writes it.
DEFAULT_TASK_TYPE: TaskType = "classification"


class RetiredTaskType(NamedTuple):
    """A task name the platform no longer accepts, and what replaces it."""

    #: The task types to use instead; the first is the usual one.
    replacements: tuple[TaskType, ...]
    #: What else changes when moving to the replacement (from the reference), or ``""``.
    also: str = ""


_QA = RetiredTaskType(("question-answering",), "drop the 'context' column from the rows")

#: Every retired task name and its replacement (migrating-old-entities.md, step 2: "Task types
#: a Dataset does not accept"; the single-turn tool-calling mapping follows task-types.md, where
#: "a conversational turn: free text, tool calls, or both" is ``chat-completion``).
RETIRED_TASK_TYPES: Mapping[str, RetiredTaskType] = {
    "question-answering-open-book": _QA,
    "question-answering-closed-book": _QA,
    "information-extraction": _QA,
    "question-answering-open-book-synthetic-context": _QA,
    "question-answering-legacy": _QA,
    "tool-calling-closed-book": RetiredTaskType(
        ("chat-completion",), "declare the tools in the job description's 'tools'"
    ),
    "multi-turn-tool-calling-closed-book": RetiredTaskType(
        ("chat-completion", "chat-completion-agentic"),
        "the agentic one when the rows carry tool results",
    ),
}


def is_task_type(value: object) -> bool:
    """``True`` for one of the four task type names."""
    return isinstance(value, str) and value in TASK_TYPES


def retired_task_message(name: str) -> str:
    """Why a retired name is refused and what to write instead."""
    retired = RETIRED_TASK_TYPES[name]
    use = " or ".join(repr(t) for t in retired.replacements)
    also = f" ({retired.also})" if retired.also else ""
    return (
        f"{name!r} is a retired task type, which the platform no longer accepts: "
        f"use {use} instead{also}"
    )


def task_type_error(value: object) -> str | None:
    """``None`` for a task type, else the message that refuses ``value``: a retired name
    names its replacement, any other value lists the supported task types."""
    if is_task_type(value):
        return None
    if isinstance(value, str) and value in RETIRED_TASK_TYPES:
        return retired_task_message(value)
    supported = ", ".join(TASK_TYPES)
    if not isinstance(value, str):
        return f"the task type must be a string, one of: {supported}"
    return f"{value!r} is not a task type; use one of: {supported}"


def parse_task_type(value: object) -> TaskType:
    """``value`` as a `TaskType`.

    Raises:
        ValueError: a retired name (the message names its replacement) or an unknown one (the
            message lists the supported task types).
    """
    error = task_type_error(value)
    if error is not None:
        raise ValueError(error)
    assert isinstance(value, str)
    return _as_task_type(value)


def _as_task_type(value: str) -> TaskType:
    for task in TASK_TYPES:
        if task == value:
            return task
    raise AssertionError(value)  # pragma: no cover - checked by the caller


def task_type_from_config(config: Mapping[str, Any] | None) -> TaskType:
    """The task type of a config given as plain data (the parsed ``config.yaml``, or a config
    the platform returned): ``base.task``, `DEFAULT_TASK_TYPE` when it is absent.

    For a `TaskConfig` read ``config.base.task`` (already checked).

    Raises:
        ValueError: ``base.task`` is retired or unknown (see `parse_task_type`).
    """
    base = (config or {}).get("base")
    task = base.get("task") if isinstance(base, Mapping) else None
    return DEFAULT_TASK_TYPE if task is None else parse_task_type(task)
