"""``traces.jsonl``: conversations seen in production, in the configured observation format.

The platform reads a Dataset's traces according to ``trace_processing.observation_format``
(``data-preparation/traces.md`` of the platform's reference):

- ``openai_messages`` (the default): each line has a ``messages`` array (roles ``system``,
  ``user``, ``assistant``, ``tool``; assistant turns may carry ``tool_calls``);
- ``openai_messages_with_images``: the same, a user ``content`` may be a list of ``text`` /
  ``image_url`` parts;
- ``unstructured_with_openai_messages``: each line has a ``context`` string that wraps a
  messages array;
- ``langfuse``: each line is an inference endpoint's record of one call (``input``: the request
  as JSON text, ``output``: the response as JSON text, ``metadata.status`` / ``.source``), as a
  PreparedTraces made from an endpoint holds them. Never written by hand. A record is read as
  the reference converts it (``data-preparation/traces.md`` § From an inference endpoint): the
  request's messages plus the reply as the assistant turn; a failed call (status not 200) or an
  empty reply is no conversation and is passed over.

Rows are kept exactly as written (they are sent as they are); reading never raises for a bad
row, it records a finding. The texts of the user turns are what the local platform labels with
its teacher (its unlabelled pool), and what the seed's ``unstructured.csv`` becomes
(`Traces.from_texts`).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal, get_args

from .._errors import DataValidationError
from ._io import decode
from ._limits import LIMITS, LimitError, file_too_large, load_json
from ._words import with_article
from .validation import Finding, ValidationReport

__all__ = [
    "DEFAULT_OBSERVATION_FORMAT",
    "OBSERVATION_FORMATS",
    "TRACES_FILE",
    "ObservationFormat",
    "Traces",
    "observation_format_of",
]

ObservationFormat = Literal[
    "openai_messages",
    "openai_messages_with_images",
    "unstructured_with_openai_messages",
    "langfuse",
]
OBSERVATION_FORMATS: tuple[str, ...] = get_args(ObservationFormat)
DEFAULT_OBSERVATION_FORMAT: ObservationFormat = "openai_messages"
TRACES_FILE = "traces.jsonl"
_ROLES = ("system", "user", "assistant", "tool")


def _error(
    file: str | None, message: str, row: int | None = None, column: str | None = None
) -> Finding:
    return Finding(
        severity="error", code="invalid_trace", file=file, row=row, column=column, message=message
    )


def _text_of(content: Any) -> str | None:
    """A message's text: the string, or the ``text`` parts of a list joined by spaces."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = [p.get("text") for p in content if isinstance(p, dict) and p.get("type") == "text"]
        return " ".join(p for p in parts if isinstance(p, str)) or None
    return None


class Traces:
    """The rows of a ``traces.jsonl`` file, kept as written.

    Example:
        >>> traces = Traces.from_texts(["my card hasn't arrived", "refund please"])
        >>> traces.rows[0]
        {'messages': [{'role': 'user', 'content': "my card hasn't arrived"}]}
        >>> traces.user_texts()
        ["my card hasn't arrived", 'refund please']
    """

    def __init__(
        self,
        rows: Iterable[Mapping[str, Any]] = (),
        *,
        source: str | None = None,
        line_numbers: Sequence[int] | None = None,
        findings: Iterable[Finding] = (),
    ) -> None:
        self.rows: list[dict[str, Any]] = [dict(r) for r in rows]
        self._source = source
        self._lines = list(line_numbers) if line_numbers is not None else None
        self._findings = tuple(findings)

    # -- reading ---------------------------------------------------------------------------------
    @classmethod
    def from_bytes(cls, data: bytes | str, *, file: str = TRACES_FILE) -> Traces:
        """Read JSONL content (one object per line); lines that are not objects are findings.

        Raises:
            DataValidationError: the content is over the data-file size limit.
        """
        if len(data) > LIMITS.max_data_file_bytes:
            limit = file_too_large(
                len(data), LIMITS.max_data_file_bytes, "DISTIL_MAX_DATA_FILE_BYTES"
            )
            finding = Finding(severity="error", code=limit.code, file=file, message=limit.message)
            raise DataValidationError(ValidationReport(findings=[finding]))
        text, findings = decode(data, file)
        rows: list[dict[str, Any]] = []
        lines: list[int] = []
        for number, line in enumerate(text.split("\n"), start=1):
            if not line.strip():
                continue
            try:
                obj = load_json(line, line=number)
            except LimitError as exc:
                findings.append(_error(file, f"{exc.message} The line was skipped.", number))
                continue
            except json.JSONDecodeError as exc:
                findings.append(
                    _error(
                        file,
                        f"not valid JSON ({exc.msg} at character {exc.colno}); each line must be "
                        "one complete JSON object. The line was skipped.",
                        number,
                    )
                )
                continue
            if not isinstance(obj, dict):
                findings.append(
                    _error(
                        file,
                        f"is a JSON {type(obj).__name__}, not an object; write "
                        '{"messages": [...]} on each line. The line was skipped.',
                        number,
                    )
                )
                continue
            rows.append(obj)
            lines.append(number)
        return cls(rows, source=file, line_numbers=lines, findings=findings)

    @classmethod
    def from_file(cls, path: str | Path) -> Traces:
        """Read a ``traces.jsonl`` file.

        Raises:
            DataValidationError: the file cannot be read, or is over the size limit.
        """
        path = Path(path)
        try:
            data = path.read_bytes()
        except OSError as exc:
            finding = Finding(
                severity="error",
                code="missing_file",
                file=path.name,
                message=f"cannot read {path}: {exc.strerror or exc}; check the path.",
            )
            raise DataValidationError(ValidationReport(findings=[finding])) from exc
        return cls.from_bytes(data, file=path.name)

    @classmethod
    def from_texts(
        cls, texts: Iterable[str], observation_format: str = DEFAULT_OBSERVATION_FORMAT
    ) -> Traces:
        """One trace per text: a conversation of one user message (the input as production
        saw it, no model answer yet) in ``observation_format``."""
        rows: list[dict[str, Any]] = []
        for text in texts:
            messages = [{"role": "user", "content": text}]
            if observation_format == "unstructured_with_openai_messages":
                rows.append({"context": json.dumps(messages, ensure_ascii=False)})
            else:
                rows.append({"messages": messages})
        return cls(rows)

    # -- what the rows hold ----------------------------------------------------------------------
    @property
    def source(self) -> str | None:
        """The file name these traces were read from (``None`` when built in memory)."""
        return self._source

    @property
    def findings(self) -> list[Finding]:
        """Problems found while reading (lines that are not JSON objects...)."""
        return list(self._findings)

    def line_of(self, index: int) -> int:
        """The file line of row ``index`` (its 1-based position when built in memory)."""
        return self._lines[index] if self._lines is not None else index + 1

    def __len__(self) -> int:
        return len(self.rows)

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return iter(self.rows)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Traces) and self.rows == other.rows

    __hash__ = None  # type: ignore[assignment]  # mutable container

    def __repr__(self) -> str:
        where = f", source={self._source!r}" if self._source else ""
        return f"Traces({len(self)} rows{where})"

    def __add__(self, other: Traces) -> Traces:
        return Traces([*self.rows, *other.rows], source=self._source or other._source)

    @staticmethod
    def messages_of(row: Mapping[str, Any], observation_format: str) -> Any:
        """The messages array of ``row`` in ``observation_format`` (whatever it holds; for an
        endpoint record, ``None`` when the call failed or its reply is empty)."""
        if observation_format == "langfuse":
            return _record_messages(row)
        if observation_format == "unstructured_with_openai_messages":
            context = row.get("context")
            if not isinstance(context, str):
                return None
            try:
                return json.loads(context)
            except ValueError:
                return None
        return row.get("messages")

    @classmethod
    def user_text(cls, row: Mapping[str, Any], observation_format: str) -> str | None:
        """The text of the first user message of trace ``row`` (``None``: it has none)."""
        messages = cls.messages_of(row, observation_format)
        if not isinstance(messages, list):
            return None
        user = next((m for m in messages if isinstance(m, dict) and m.get("role") == "user"), None)
        text = _text_of(user.get("content")) if user is not None else None
        return text if text and text.strip() else None  # as written: the pool keeps texts exact

    def user_texts(self, observation_format: str = DEFAULT_OBSERVATION_FORMAT) -> list[str]:
        """The first user message's text of each trace, blank and repeated ones left out: the
        inputs the production system saw, in file order."""
        texts = (self.user_text(row, observation_format) for row in self.rows)
        return list(dict.fromkeys(t for t in texts if t))

    def to_text(self) -> str:
        """The JSONL content (one row per line, UTF-8 kept)."""
        return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in self.rows)

    # -- checks ----------------------------------------------------------------------------------
    def check(self, observation_format: str, max_length: int) -> list[Finding]:
        """Findings for rows that do not fit ``observation_format`` (named in each message)."""
        file = self._source or TRACES_FILE
        findings: list[Finding] = []
        images = observation_format == "openai_messages_with_images"
        for i, row in enumerate(self.rows):
            line = self.line_of(i)
            problem = _trace_problem(row, observation_format, images)
            if problem:
                findings.append(
                    _error(
                        file,
                        f"{problem}; with trace_processing.observation_format "
                        f"{observation_format!r} each line is {_SHAPES[observation_format]}.",
                        line,
                    )
                )
                continue
            length = len(json.dumps(row, ensure_ascii=False))
            if length > max_length:
                findings.append(
                    Finding(
                        severity="warning",
                        code="text_too_long",
                        file=file,
                        row=line,
                        message=f"the trace has {length} characters, over "
                        f"synthgen.validation_max_total_length ({max_length}); examples made "
                        "from it may be dropped. Shorten it or raise the limit.",
                    )
                )
        return findings


_SHAPES = {
    "openai_messages": '{"messages": [{"role": "user", "content": "..."}, ...]}',
    "openai_messages_with_images": '{"messages": [{"role": "user", "content": "..." or '
    '[{"type": "text", "text": "..."}, {"type": "image_url", "image_url": {"url": "..."}}]}, ...]}',
    "unstructured_with_openai_messages": '{"context": "<a JSON messages array as a string>"}',
    "langfuse": 'an inference endpoint\'s record, {"input": "<the request as JSON text>", '
    '"output": "<the response as JSON text>", "metadata": {"status": 200, "source": "..."}}, '
    "as a PreparedTraces made from an endpoint holds it",
}


def _record_messages(row: Mapping[str, Any]) -> list[Any] | None:
    """An endpoint record's conversation: the request's messages and the reply (the
    reference's conversion); ``None`` for a failed call, an empty reply or no record."""
    metadata = row.get("metadata")
    if not isinstance(metadata, Mapping) or metadata.get("status") != 200:
        return None
    try:
        request = json.loads(row["input"])
        reply = json.loads(row["output"])["choices"][0]["message"]
    except (KeyError, IndexError, TypeError, ValueError):
        return None
    if not isinstance(request, dict) or not isinstance(request.get("messages"), list):
        return None
    if not isinstance(reply, dict) or not (reply.get("content") or reply.get("tool_calls")):
        return None
    assistant: dict[str, Any] = {"role": "assistant", "content": reply.get("content") or ""}
    if reply.get("tool_calls"):
        assistant["tool_calls"] = reply["tool_calls"]
    return [*request["messages"], assistant]


def _record_problem(row: Mapping[str, Any]) -> str | None:
    """What keeps ``row`` from being an endpoint record (``None``: it is one)."""
    if not isinstance(row.get("input"), str) or not isinstance(row.get("output"), str):
        return "'input' or 'output' is missing or not a string"
    if not isinstance(row.get("metadata"), Mapping):
        return "'metadata' is missing or not an object"
    return None


def _trace_problem(row: Mapping[str, Any], observation_format: str, images: bool) -> str | None:
    if observation_format == "langfuse":
        problem = _record_problem(row)
        if problem is not None or _record_messages(row) is None:
            return problem  # a failed call or an empty reply is passed over, not an error
        return _messages_problem(_record_messages(row), images)
    if observation_format == "unstructured_with_openai_messages":
        if not isinstance(row.get("context"), str):
            return "'context' is missing or not a string"
        messages = Traces.messages_of(row, observation_format)
        if not isinstance(messages, list):
            return "'context' does not hold a JSON messages array"
    else:
        messages = row.get("messages")
        if not isinstance(messages, list):
            return "'messages' is missing or not a list"
    return _messages_problem(messages, images)


def _messages_problem(messages: Any, images: bool) -> str | None:
    if not messages:
        return "the conversation has no message"
    for i, message in enumerate(messages):
        if not isinstance(message, dict):
            return f"messages[{i}] is {with_article(type(message).__name__)}, not an object"
        role = message.get("role")
        if role not in _ROLES:
            return f"messages[{i}] has role {role!r}, expected one of {', '.join(_ROLES)}"
        content = message.get("content")
        if isinstance(content, list) and not (images and role == "user"):
            return f"messages[{i}] has a list as content, which only user turns of 'openai_messages_with_images' may have"
        if content is not None and not isinstance(content, str | list):
            return f"messages[{i}] has {with_article(type(content).__name__)} as content, expected text"
    if not any(isinstance(m, dict) and m.get("role") == "user" for m in messages):
        return "the conversation has no user message"
    return None


def observation_format_of(config: Any) -> str:
    """``trace_processing.observation_format`` of a `TaskConfig` (the default when it
    is unset or not a known format: the config's own checks report that)."""
    section = getattr(config, "trace_processing", None)
    value = section.get("observation_format") if isinstance(section, Mapping) else None
    if value is None and section is not None and not isinstance(section, Mapping):
        value = getattr(section, "observation_format", None)
    return value if value in OBSERVATION_FORMATS else DEFAULT_OBSERVATION_FORMAT
