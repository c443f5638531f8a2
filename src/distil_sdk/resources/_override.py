"""Overrides: a parent's whole config or job description, read, edited and sent back entire.

The platform replaces the parent's file with an override whole, never merging: a key left out
reverts to the library default without any error. `Override` starts from the parent's
own file (read through ``download-metadata``) and refuses to be sent when a key the parent had
is missing, so a forgotten key is an error here instead of a silent change there.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from typing import Any, Literal

import yaml

from .._errors import APIError, DistilError, OverrideError

__all__ = ["Override", "OverrideKind", "override_from_text", "resolve_override"]

OverrideKind = Literal["config", "job_description"]


def _dropped(parent: Any, data: Any, prefix: str) -> list[str]:
    if not isinstance(parent, Mapping):
        return []
    if not isinstance(data, Mapping):
        # A section replaced by a scalar loses every key the parent had under it.
        return [f"{prefix}{key}" for key in parent] if parent else []
    out: list[str] = []
    for key, value in parent.items():
        if key not in data:
            out.append(f"{prefix}{key}")
        else:
            out += _dropped(value, data[key], f"{prefix}{key}.")
    return out


class Override:
    """A parent's whole ``config`` or ``job_description``, to edit and pass to a create.

    Get one with ``client.datasets.config_override(dataset_id)`` (or
    ``job_description_override``); edit it like a dict or with `set`; pass it as
    ``config=`` / ``job_description=``. Sending it checks that every key the parent had is still
    there (raises `OverrideError` otherwise): delete a key on purpose with
    `reset`, which records that you meant it.

    Example:
        >>> ov = Override("config", "dataset ds1", {"base": {"task": "classification"},
        ...                                          "tuning": {"num_train_epochs": 3}})
        >>> ov.set("tuning.num_train_epochs", 6)["tuning"]
        {'num_train_epochs': 6}
        >>> del ov.data["tuning"]
        >>> ov.dropped()
        ['tuning']
    """

    def __init__(self, kind: OverrideKind, source: str, parent: Mapping[str, Any]) -> None:
        if not isinstance(parent, Mapping):
            raise DistilError(f"the {kind} of {source} is not a mapping; it cannot be overridden")
        self.kind: OverrideKind = kind
        self.source = source
        self._parent: dict[str, Any] = copy.deepcopy(dict(parent))
        self._reset: set[str] = set()
        #: The file being edited (starts as a copy of the parent's).
        self.data: dict[str, Any] = copy.deepcopy(dict(parent))

    @property
    def parent(self) -> dict[str, Any]:
        """A copy of the parent's file as read."""
        return copy.deepcopy(self._parent)

    def __getitem__(self, key: str) -> Any:
        return self.data[key]

    def __setitem__(self, key: str, value: Any) -> None:
        self.data[key] = value

    def __contains__(self, key: object) -> bool:
        return key in self.data

    def get(self, key: str, default: Any = None) -> Any:
        return self.data.get(key, default)

    def setdefault(self, key: str, default: Any) -> Any:
        """``dict.setdefault``: an optional section the parent never set is simply absent."""
        return self.data.setdefault(key, default)

    def set(self, path: str, value: Any) -> Override:
        """Set a dotted ``path`` (``"base.student_model_name"``), creating missing sections."""
        *sections, last = path.split(".")
        node = self.data
        for name in sections:
            child = node.setdefault(name, {})
            if not isinstance(child, dict):
                raise DistilError(f"{self.kind} {path!r}: {name!r} is not a section ({child!r})")
            node = child
        node[last] = value
        return self

    def reset(self, path: str) -> Override:
        """Remove ``path`` on purpose so it takes the platform's default (not an error)."""
        *sections, last = path.split(".")
        node: Any = self.data
        for name in sections:
            node = node.get(name) if isinstance(node, dict) else None
        if isinstance(node, dict):
            node.pop(last, None)
        self._reset.add(path)
        return self

    def dropped(self) -> list[str]:
        """Dotted keys of the parent's file missing from `data` (not `reset`)."""
        return [
            key
            for key in _dropped(self._parent, self.data, "")
            if not any(key == r or key.startswith(r + ".") for r in self._reset)
        ]

    def to_dict(self) -> dict[str, Any]:
        """The override to send; raises `OverrideError` if keys were dropped."""
        dropped = self.dropped()
        if dropped:
            raise OverrideError(
                f"this {self.kind} override would drop {', '.join(dropped)} that {self.source} "
                "has; the platform replaces the whole file, so they would silently revert to "
                "the defaults. Keep them, or call .reset(key) for each one you mean to drop.",
                dropped=dropped,
            )
        return copy.deepcopy(self.data)

    def __repr__(self) -> str:
        return f"Override({self.kind!r}, {self.source!r}, {self.data!r})"


def override_from_text(kind: OverrideKind, source: str, text: str, url: str) -> Override:
    """Parse a downloaded ``config.yaml`` / ``job_description.json`` into an `Override`."""
    try:
        data = yaml.safe_load(text) if kind == "config" else json.loads(text)
    except (yaml.YAMLError, ValueError) as exc:
        raise APIError(
            f"the {kind} file of {source} could not be read ({exc})", method="GET", url=url
        ) from exc
    if data is None:
        data = {}
    return Override(kind, source, data)


def resolve_override(value: Any, kind: OverrideKind) -> dict[str, Any] | None:
    """The JSON object a create sends for ``config=`` / ``job_description=``.

    Accepts None, an `Override` (checked), a mapping (sent as given: it is your whole
    file), a `TaskConfig` or a `JobDescription`.
    """
    if value is None:
        return None
    if isinstance(value, Override):
        if value.kind != kind:
            raise DistilError(f"a {value.kind} override was passed as {kind}=")
        return value.to_dict()
    # Imported here: the task models pull in the data layer, which a status read never needs.
    from ..types.task import JobDescription, TaskConfig

    model = TaskConfig if kind == "config" else JobDescription
    if isinstance(value, (TaskConfig, JobDescription)):
        if not isinstance(value, model):
            raise DistilError(f"a {type(value).__name__} was passed as {kind}=")
        if isinstance(value, TaskConfig):  # what was set, as the file has it
            return value.to_dict()
        return value.model_dump(mode="json")
    if isinstance(value, Mapping):
        return copy.deepcopy(dict(value))
    raise DistilError(
        f"{kind}= takes an Override, a mapping or a {'TaskConfig' if kind == 'config' else 'JobDescription'}, "
        f"not {type(value).__name__}"
    )
