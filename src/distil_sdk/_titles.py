"""A human title for a trained model: never a bare id (model cards, SLM tarball READMEs).

Light on purpose: the local server builds SLM tarballs and must not import the training stack.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .types.task import JobDescription

__all__ = ["card_title"]

_UUID = re.compile(
    r"(?:[a-z]+[-_])?[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}", re.I
)
_TITLE_WORDS = 10


def card_title(job: JobDescription, name: str | None = None) -> str:
    """A human title: ``name`` unless it is an id, else the task description's first words.

    Example:
        >>> from distil_sdk.types.task import JobDescription
        >>> card_title(JobDescription(task_description="Route bank requests. Be brief."))
        'Route bank requests'
    """
    if name and name.strip() and not _UUID.fullmatch(name.strip()):
        return " ".join(name.split())
    sentence = re.split(r"(?<=[.!?])\s|\n", job.task_description.strip(), maxsplit=1)[0]
    words = re.sub(r"^\W+", "", _UUID.sub("", sentence)).split()
    title = " ".join(words[:_TITLE_WORDS]).rstrip(".,;:!?")
    if len(words) > _TITLE_WORDS:
        title += "..."
    if not any(ch.isalpha() for ch in title):  # a description that is only an id or digits
        return f"Text classifier ({len(job.labels)} labels)"
    return title[0].upper() + title[1:]
