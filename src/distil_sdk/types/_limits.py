"""Bounded parsing of the task's JSON and YAML: hostile input becomes a finding, not a crash.

``json.loads`` and PyYAML trust their input: JSON nested 100 000 deep raises ``RecursionError``,
a 5000-digit integer raises ``ValueError``, and a 700-byte YAML file of nested aliases expands
into a document of hundreds of millions of nodes once validated or re-dumped. Every reader of
the task's files goes through `load_json` / `load_yaml` here, which refuse such
input with a `LimitError` whose message says what to do; the callers turn it into a
finding with the file and row.

The limits are module attributes of `LIMITS` (tests and embedders may change them); the
file-size limits also read ``DISTIL_MAX_DATA_FILE_BYTES`` and ``DISTIL_MAX_CONFIG_FILE_BYTES``
from the environment (see docs/task-format.md).
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

__all__ = ["LIMITS", "LimitError", "Limits", "find_surrogate", "load_json", "load_yaml"]


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name, "").strip()
    try:
        return int(value) if value else default
    except ValueError:
        return default


@dataclass
class Limits:
    """What the task readers accept (see docs/task-format.md, "Limits")."""

    #: Deepest nesting of JSON/YAML arrays and objects (a job description needs about 5).
    max_depth: int = 64
    #: Most digits in one number; larger numbers are refused rather than converted.
    max_number_digits: int = 100
    #: Most nodes a YAML/JSON document may hold once its aliases are expanded.
    max_nodes: int = 100_000
    #: Largest train/test/unstructured file, in bytes.
    max_data_file_bytes: int = _env_int("DISTIL_MAX_DATA_FILE_BYTES", 1 << 30)
    #: Largest job_description.json / config.yaml, in bytes.
    max_config_file_bytes: int = _env_int("DISTIL_MAX_CONFIG_FILE_BYTES", 1 << 20)


LIMITS = Limits()


class LimitError(ValueError):
    """Input over a limit or otherwise unparseable; ``code`` is the finding's code and
    ``line`` the 1-based line when known."""

    def __init__(self, code: str, message: str, line: int | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.line = line


# Lone (unpaired) UTF-16 surrogates: valid in a Python str, not encodable as UTF-8, so a text
# holding one can be read but never sent. The undecodable-byte markers U+DC80..U+DCFF of
# surrogateescape decoding are located earlier, as "not_utf8".
_SURROGATE = re.compile("[\ud800-\udfff]")
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


def find_surrogate(value: str) -> int | None:
    """The index of the first lone surrogate in ``value``, or ``None``."""
    match = _SURROGATE.search(value)
    return match.start() if match else None


def surrogate_error(line: int | None = None) -> LimitError:
    return LimitError(
        "lone_surrogate",
        "holds an escaped lone surrogate (e.g. \\ud800), a character that cannot be "
        "encoded as UTF-8 and cannot be uploaded; remove it or write the real character.",
        line,
    )


def file_too_large(size: int, limit: int, env: str) -> LimitError:
    return LimitError(
        "file_too_large",
        f"the file has {size} bytes, over the limit of {limit}; split or shorten it, or raise "
        f"the limit with the environment variable {env}.",
    )


def _depth_error(line: int | None = None) -> LimitError:
    return LimitError(
        "too_deeply_nested",
        f"nested more than {LIMITS.max_depth} levels deep; flatten the structure "
        "(a task file needs only a few levels).",
        line,
    )


def _number_error(digits: int, line: int | None = None) -> LimitError:
    return LimitError(
        "number_too_large",
        f"holds a number of {digits} digits, over the limit of {LIMITS.max_number_digits}; "
        "write it as a string or use a smaller number.",
        line,
    )


def _too_deep_at(text: str) -> int | None:
    """Where JSON text first nests deeper than the limit (skipping string contents), or
    ``None``."""
    # Fast path: a text with few brackets cannot be deep; most rows have two or three.
    if text.count("[") + text.count("{") <= LIMITS.max_depth:
        return None
    depth = 0
    in_string = escaped = False
    for index, char in enumerate(text):
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            if depth > LIMITS.max_depth:
                return index
        elif char in "]}":
            depth -= 1
    return None


def _check_number(text: str) -> None:
    digits = sum(c.isdigit() for c in text)
    if digits > LIMITS.max_number_digits:
        raise _number_error(digits)


def _parse_int(text: str) -> int:
    _check_number(text)
    return int(text)


def _parse_float(text: str) -> float:
    _check_number(text)
    return float(text)


# One decoder for every line: json.loads with hooks would build a new one per call.
_DECODER = json.JSONDecoder(parse_int=_parse_int, parse_float=_parse_float)


def load_json(text: str, *, line: int | None = None) -> Any:
    """``json.loads`` within the limits, lone surrogates refused.

    Raises:
        json.JSONDecodeError: the text is not JSON (callers report its position).
        LimitError: too deep, a number too large, a lone surrogate.
    """
    deep = _too_deep_at(text)
    if deep is not None:
        raise _depth_error(line if line is not None else text.count("\n", 0, deep) + 1)
    try:
        value = _DECODER.decode(text)
    except LimitError as exc:
        exc.line = line
        raise
    except RecursionError:  # pragma: no cover - the depth scan refuses these first
        raise _depth_error(line) from None
    # In JSON a lone surrogate can only come from a \uD800-\uDFFF escape: skip the walk
    # for the (usual) text without one.
    if _SURROGATE_ESCAPE.search(text):
        _check_tree(value, line)
    return value


def _check_tree(value: Any, line: int | None) -> None:
    """Refuse lone surrogates anywhere (keys too) in parsed JSON; depth is already bounded."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if find_surrogate(item) is not None:
                raise surrogate_error(line)
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


class _BoundedLoader(yaml.SafeLoader):
    """A SafeLoader that refuses deep nesting while composing (PyYAML's composer recurses once
    per level) and huge numbers while constructing (``int()`` refuses 4300+ digits)."""

    _depth = 0

    def compose_node(self, parent: Node | None, index: Any) -> Node | None:
        self._depth += 1
        try:
            if self._depth > LIMITS.max_depth:
                mark = self.peek_event().start_mark  # type: ignore[no-untyped-call]
                raise _depth_error(mark.line + 1 if mark else None)
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def construct_yaml_int(self, node: ScalarNode) -> int:
        _check_yaml_number(node)
        return super().construct_yaml_int(node)

    def construct_yaml_float(self, node: ScalarNode) -> float:
        _check_yaml_number(node)
        return super().construct_yaml_float(node)


def _check_yaml_number(node: ScalarNode) -> None:
    digits = sum(c.isdigit() for c in str(node.value))
    if digits > LIMITS.max_number_digits:
        raise _number_error(digits, node.start_mark.line + 1 if node.start_mark else None)


_BoundedLoader.add_constructor("tag:yaml.org,2002:int", _BoundedLoader.construct_yaml_int)
_BoundedLoader.add_constructor("tag:yaml.org,2002:float", _BoundedLoader.construct_yaml_float)


def _expanded_size(root: Node) -> int:
    """How many nodes the document holds once every alias is expanded (what validating or
    re-dumping it costs), computed on the shared node graph; a recursive alias is refused."""
    sizes: dict[int, int] = {}
    active: set[int] = set()

    def size(node: Node) -> int:
        key = id(node)
        if key in sizes:
            return sizes[key]
        if key in active:
            line = node.start_mark.line + 1 if node.start_mark else None
            raise LimitError(
                "recursive_alias",
                "an alias refers to a node that contains it, which would be infinite; "
                "remove the alias.",
                line,
            )
        active.add(key)
        total = 1
        if isinstance(node, SequenceNode):
            total += sum(size(child) for child in node.value)
        elif isinstance(node, MappingNode):
            total += sum(size(k) + size(v) for k, v in node.value)
        active.discard(key)
        # Cap what is remembered so the sums stay small integers even for a bomb.
        sizes[key] = min(total, LIMITS.max_nodes + 1)
        return sizes[key]

    return size(root)


def load_yaml(text: str) -> Any:
    """``yaml.safe_load`` within the limits: depth, number size, alias expansion, surrogates.

    Raises:
        yaml.YAMLError: the text is not YAML (callers report its position).
        LimitError: over a limit.
    """
    loader = _BoundedLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        if _expanded_size(node) > LIMITS.max_nodes:
            raise LimitError(
                "alias_expansion",
                f"YAML aliases (*name) expand this file to more than {LIMITS.max_nodes} "
                "values; write the values out or use fewer aliases.",
            )
        value = loader.construct_document(node)
    finally:
        loader.dispose()
    _check_tree(value, None)
    return value
