"""The platform's classification prompt for generative (causal LM) students.

Generative students are fine-tuned on exactly this chat; rewording it degrades their answers, so
the teacher of the local platform and the local classifier both build it here. A model that
ships its own ``model_client.py`` is scored with the prompt read from that file instead
(`._model_client`); both are a `ModelPrompt`.
"""

from __future__ import annotations

import string
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "SDK_DEFAULT",
    "ModelPrompt",
    "build_classification_messages",
    "default_prompt",
    "job_description_parts",
    "output_continuation",
]

#: `ModelPrompt.source` of the SDK's own prompt.
SDK_DEFAULT = "sdk default"
#: Chat-template options of the SDK's prompt: the platform trains students with thinking off.
DEFAULT_TEMPLATE_OPTIONS: Mapping[str, Any] = {"enable_thinking": False}

SYSTEM_TEMPLATE = (
    "You are a problem solving model working on task_description XML block:\n"
    "<task_description>{task_description}</task_description>\n"
    "You will be given a single task in the question XML block\n"
    "Solve only the task in question block.\n"
    "The task is to classify the example in the question block into exactly one of the "
    "following classes:\n"
    "{classes}\n"
    "Generate only the name of the class inside the output XML block, for example "
    "<output>class_name</output>, do not generate anything else"
)
CLASS_TEMPLATE = (
    "<class_name>{name}</class_name>\n<class_description>{description}</class_description>"
)
USER_TEMPLATE = (
    "\nNow for the real task, classify the following example in the question block.\n"
    "Generate only the answer, do not generate anything else\n"
    "<question>{text}</question>\n"
)


def job_description_parts(job_description: Any) -> tuple[str, dict[str, str]]:
    """``(task_description, {label: description})`` from a ``JobDescription`` or a mapping.

    Accepts anything with ``task_description`` / ``classes_description`` attributes (the SDK's
    ``JobDescription``) or a mapping with those keys (the parsed ``job_description.json``).
    """
    if isinstance(job_description, Mapping):
        task = job_description.get("task_description")
        classes = job_description.get("classes_description")
    else:
        task = getattr(job_description, "task_description", None)
        classes = getattr(job_description, "classes_description", None)
    if not isinstance(task, str) or not isinstance(classes, Mapping) or not classes:
        raise ValueError(
            "a job description needs a 'task_description' string and a non-empty "
            "'classes_description' mapping of class name to description"
        )
    return task, {str(name): str(desc) for name, desc in classes.items()}


def build_classification_messages(job_description: Any, text: str) -> list[dict[str, str]]:
    """The chat (system + user message) that asks a generative student to classify ``text``.

    Example:
        >>> jd = {"task_description": "Route the ticket.",
        ...       "classes_description": {"cards": "Card issues.", "billing": "Charges."}}
        >>> messages = build_classification_messages(jd, "my card is lost")
        >>> [m["role"] for m in messages]
        ['system', 'user']
        >>> "<question>my card is lost</question>" in messages[1]["content"]
        True
    """
    task, classes = job_description_parts(job_description)
    class_block = "\n".join(
        CLASS_TEMPLATE.format(name=n, description=d) for n, d in classes.items()
    )
    return [
        {
            "role": "system",
            "content": SYSTEM_TEMPLATE.format(task_description=task, classes=class_block),
        },
        {"role": "user", "content": USER_TEMPLATE.format(text=text)},
    ]


@dataclass(frozen=True)
class ModelPrompt:
    """The chat a generative student is scored with.

    Attributes:
        system: the system message, or ``None`` for none.
        user_template: the user message, a ``str.format`` template whose one field ``{text}``
            is the text to classify (literal braces doubled).
        source: the ``model_client.py`` it was read from, or ``"sdk default"``.
        chat_template_kwargs: options passed to the tokenizer's chat template, e.g.
            ``{"enable_thinking": False}``.

    Example:
        >>> prompt = ModelPrompt("Sort tickets.", "<question>{text}</question>", "sdk default")
        >>> prompt.messages("lost card")[1]
        {'role': 'user', 'content': '<question>lost card</question>'}
    """

    system: str | None
    user_template: str
    source: str
    chat_template_kwargs: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        fields = [name for _, name, _, _ in string.Formatter().parse(self.user_template) if name]
        if fields != ["text"]:
            raise ValueError(
                "user_template needs exactly one {text} field (double any literal brace), "
                f"got {fields or 'none'}"
            )

    def user_message(self, text: str) -> str:
        """The user message holding ``text``."""
        return self.user_template.format(text=text)

    def messages(self, text: str) -> list[dict[str, str]]:
        """The chat for ``text``: the system message (when there is one), then the user's."""
        chat = [{"role": "system", "content": self.system}] if self.system is not None else []
        chat.append({"role": "user", "content": self.user_message(text)})
        return chat


def default_prompt(job_description: Any) -> ModelPrompt:
    """The SDK's own prompt for ``job_description`` (what `build_classification_messages`
    builds), with thinking off."""
    system = build_classification_messages(job_description, "")[0]["content"]
    return ModelPrompt(system, USER_TEMPLATE, SDK_DEFAULT, dict(DEFAULT_TEMPLATE_OPTIONS))


def output_continuation(label: str) -> str:
    """The assistant answer a student gives for ``label``: ``<output>LABEL</output>``."""
    return f"<output>{label}</output>"
