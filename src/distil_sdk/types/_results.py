"""Wire models of job results: metrics (classification and other tasks), predictions rows,
deployments. Re-exported by `distil_sdk.types.jobs`, which documents the contract.

The reference for the shapes is the platform's skill (``distil-labs/distil-cli-skill``):
``references/evaluation-metrics.md`` (metric names per task, the primary metric),
``references/execution/cli.md`` and ``backend-api.md`` § Fetch metrics (a metric the run did not
compute is ``null`` rather than absent; predictions rows are ``prompt`` / ``completion`` /
``prediction`` plus that row's score under each metric name, the prompt a message list and
completion and prediction assistant messages) and ``data-preparation/overview.md`` § Empty
splits (an SLM trained without a test split has null scores, which is not a failed job).
"""

from __future__ import annotations

import json
import math
from typing import Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    SerializerFunctionWrapHandler,
    field_validator,
    model_serializer,
    model_validator,
)

__all__ = [
    "CLASSIFICATION_PRIMARY_METRIC",
    "PRIMARY_METRIC",
    "ChatMessage",
    "ClassMetrics",
    "Deployment",
    "DeploymentSecrets",
    "Metrics",
    "Prediction",
    "ToolCall",
    "ToolCallFunction",
]

#: The primary metric of every task but classification (``question-answering``,
#: ``chat-completion``, ``chat-completion-agentic``): evaluation-metrics.md § Primary metric.
PRIMARY_METRIC = "llm-as-a-judge-reference-free"
#: The primary metric of ``classification``.
CLASSIFICATION_PRIMARY_METRIC = "accuracy"


class _Response(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True)


class Completed:
    """Mixin of the ``Completed*`` models: a wire model's subclass whose results are required.

    Such a model is the same answer read with a stricter type, so it equals the wire model's
    instance it was made from (pydantic's own ``==`` wants the exact same class).
    """

    def __eq__(self, other: object) -> bool:
        if (
            isinstance(self, BaseModel)
            and isinstance(other, BaseModel)
            and not isinstance(other, Completed)
            and type(other) in type(self).__mro__
        ):
            return dict(other) == dict(self)
        return super().__eq__(other)


# Spellings of "no score" other than null, read as None (defensive: the reference says null).
_NOT_AVAILABLE = frozenset({"", "not available", "n/a", "na", "none", "null"})


def _null_if_not_available(value: Any) -> Any:
    if isinstance(value, str) and value.strip().lower() in _NOT_AVAILABLE:
        return None
    return value


def _is_score(value: Any) -> bool:
    """A computed score: a number that is not NaN (an unparseable judge verdict is NaN)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and not math.isnan(value)


class ClassMetrics(_Response):
    """Precision, recall, F1 and support of one class (or of an average)."""

    precision: float | None = None
    recall: float | None = None
    f1_score: float | None = Field(default=None, alias="f1-score")
    support: float | None = None

    @field_validator("precision", "recall", "f1_score", "support", mode="before")
    @classmethod
    def _not_available(cls, value: Any) -> Any:
        return _null_if_not_available(value)


_AVERAGES = ("macro avg", "weighted avg", "micro avg")

#: The flat (one number each) metrics of the tasks other than classification, as
#: ``(attribute, wire name)``, in evaluation-metrics.md's order.
_FLAT_METRICS: tuple[tuple[str, str], ...] = (
    ("rouge", "rouge"),
    ("binary", "binary"),
    ("llm_as_a_judge", "llm-as-a-judge"),
    ("llm_as_a_judge_reference_free", "llm-as-a-judge-reference-free"),
    ("tool_call_equivalence", "tool_call_equivalence"),
    ("binary_tool_call", "binary_tool_call"),
    ("staged_tool_call", "staged_tool_call"),
    ("meteor", "meteor"),
)


class Metrics(_Response):
    """A job's metrics (a ``*_performance`` object): for classification scikit-learn's
    ``classification_report(output_dict=True)`` (``accuracy`` plus one row per class), for the
    other tasks one score per metric name.

    The metrics of evaluation-metrics.md are typed attributes (``float | None``, all 0-1):
    ``accuracy`` (classification); ``rouge``, ``binary``, ``llm_as_a_judge``,
    ``llm_as_a_judge_reference_free`` (question answering, and the conversation tasks
    ``chat-completion`` / ``chat-completion-agentic`` with ``tool_call_equivalence``,
    ``binary_tool_call``, ``staged_tool_call``); ``meteor`` (answers of 2025). Other names are
    kept as extra fields. The metrics of several models come in a container, one ``Metrics``
    each: ``SLMMetrics.base_model_performance`` / ``tuned_model_performance``,
    ``TeacherEvaluationMetrics.teacher_performance``, ``EvaluationResults.evaluation_results``
    (``{"teacher": ..., "student-base": ..., "student-tuned": ...}``).

    A metric the run did not compute is ``null`` on the wire and ``None`` here; an SLM trained
    on a Dataset without a test split has nothing but nulls, which `available` tells
    (report such a model as unmeasured). `primary` is the score to judge a model by.

    Serialises back to the wire shape (wire names, class names and averages at the top level;
    a metric sent as null stays null, one never sent stays absent).

    Example:
        >>> m = Metrics.model_validate({"accuracy": 0.5, "a": {"f1-score": 0.4}, "b": {"f1-score": 0.6},
        ...                             "macro avg": {"f1-score": 0.5}})
        >>> m.accuracy, sorted(m.per_class), m.macro_f1, m.primary_metric
        (0.5, ['a', 'b'], 0.5, 'accuracy')
        >>> Metrics.model_validate({"llm-as-a-judge": 0.82, "rouge": 0.21}).llm_as_a_judge
        0.82
        >>> m = Metrics.model_validate({"rouge": 1, "binary": 0.82, "llm-as-a-judge": 1,
        ...                             "llm-as-a-judge-reference-free": 1})
        >>> m.primary_metric, m.primary
        ('llm-as-a-judge-reference-free', 1.0)
        >>> Metrics.model_validate({"rouge": None, "llm-as-a-judge-reference-free": None}).available
        False
    """

    accuracy: float | None = None
    macro_avg: ClassMetrics | None = Field(default=None, alias="macro avg")
    weighted_avg: ClassMetrics | None = Field(default=None, alias="weighted avg")
    per_class: dict[str, ClassMetrics] = Field(default_factory=dict)
    rouge: float | None = None
    binary: float | None = None
    llm_as_a_judge: float | None = Field(default=None, alias="llm-as-a-judge")
    llm_as_a_judge_reference_free: float | None = Field(
        default=None, alias="llm-as-a-judge-reference-free"
    )
    tool_call_equivalence: float | None = None
    binary_tool_call: float | None = None
    staged_tool_call: float | None = None
    meteor: float | None = None

    @model_validator(mode="before")
    @classmethod
    def _split_classes(cls, data: Any) -> Any:
        # The wire shape mixes class names and fixed keys at the same level; a label may be any
        # string, so everything that is a per-class dict and not an average is a class.
        if not isinstance(data, dict) or "per_class" in data:
            return data
        out: dict[str, Any] = {}
        per_class: dict[str, Any] = {}
        for key, value in data.items():
            if (
                isinstance(value, dict)
                and key not in _AVERAGES
                and key not in ("macro_avg", "weighted_avg")
            ):
                per_class[key] = value
            else:
                out[key] = value
        out["per_class"] = per_class
        return out

    @field_validator("accuracy", *(attribute for attribute, _ in _FLAT_METRICS), mode="before")
    @classmethod
    def _not_available(cls, value: Any) -> Any:
        return _null_if_not_available(value)

    @model_serializer(mode="plain")
    def _to_wire(self) -> dict[str, Any]:
        return self.to_report()

    @property
    def macro_f1(self) -> float | None:
        """Macro-averaged F1: the report's ``macro avg`` or, if absent, the mean over classes."""
        if self.macro_avg is not None and self.macro_avg.f1_score is not None:
            return self.macro_avg.f1_score
        scores = [c.f1_score for c in self.per_class.values() if c.f1_score is not None]
        return sum(scores) / len(scores) if scores else None

    @property
    def is_classification(self) -> bool:
        """Whether these are a classification report (``accuracy``, classes or averages sent,
        even as null)."""
        return (
            "accuracy" in self.model_fields_set
            or bool(self.per_class)
            or self.macro_avg is not None
            or self.weighted_avg is not None
        )

    @property
    def primary_metric(self) -> str:
        """The wire name of the metric to judge the model by (evaluation-metrics.md § Primary
        metric per task): ``"accuracy"`` for classification, ``"llm-as-a-judge-reference-free"``
        for every other task. An answer that has no reference-free judge at all (the platform's
        answers of 2025 predate it) falls back to ``"llm-as-a-judge"``, their primary metric;
        one that sent it as null does not fall back."""
        if self.is_classification:
            return CLASSIFICATION_PRIMARY_METRIC
        sent = self.model_fields_set
        if "llm_as_a_judge_reference_free" not in sent and "llm_as_a_judge" in sent:
            return "llm-as-a-judge"
        return PRIMARY_METRIC

    @property
    def primary(self) -> float | None:
        """The score of `primary_metric`; ``None`` when it was not computed."""
        value = self.scores.get(self.primary_metric)
        return value if _is_score(value) else None

    @property
    def scores(self) -> dict[str, float | None]:
        """Every top-level score the answer carried, by wire name, nulls included:
        ``accuracy`` and the flat metrics (numeric extra fields too); class rows and averages
        are left out (see `per_class`)."""
        out: dict[str, float | None] = {}
        if "accuracy" in self.model_fields_set or self.accuracy is not None:
            out["accuracy"] = self.accuracy
        for attribute, wire in _FLAT_METRICS:
            value = getattr(self, attribute)
            if attribute in self.model_fields_set or value is not None:
                out[wire] = value
        for key, extra in (self.model_extra or {}).items():
            extra = _null_if_not_available(extra)
            if extra is None or _is_score(extra):
                out[key] = None if extra is None else float(extra)
        return out

    @property
    def available(self) -> bool:
        """Whether any score was computed. ``False`` when every metric is null (or NaN), as for
        an SLM trained on a Dataset with an empty test split (data-preparation/overview.md
        § Empty splits): not a failed job, a model with no measurement, to report as unmeasured.
        """
        rows = [*self.per_class.values(), self.macro_avg, self.weighted_avg]
        return any(_is_score(v) for v in self.scores.values()) or any(
            _is_score(getattr(row, name))
            for row in rows
            if row is not None
            for name in ("precision", "recall", "f1_score")
        )

    def to_report(self) -> dict[str, Any]:
        """The wire shape again (metrics sent as null stay null, absent ones stay absent)."""
        report: dict[str, Any] = {}
        if "accuracy" in self.model_fields_set or self.accuracy is not None:
            report["accuracy"] = self.accuracy
        for label, metrics in self.per_class.items():
            report[label] = _class_row(metrics)
        for key, avg in (("macro avg", self.macro_avg), ("weighted avg", self.weighted_avg)):
            if avg is not None:
                report[key] = _class_row(avg)
        for attribute, wire in _FLAT_METRICS:
            value = getattr(self, attribute)
            if attribute in self.model_fields_set or value is not None:
                report[wire] = value
        report.update(self.model_extra or {})
        return report


def _class_row(row: ClassMetrics) -> dict[str, Any]:
    # Numbers, and the nulls the answer sent; fields never sent stay absent.
    data: dict[str, Any] = row.model_dump(by_alias=True)
    sent = {ClassMetrics.model_fields[f].alias or f for f in row.model_fields_set}
    return {k: v for k, v in data.items() if v is not None or k in sent}


# --------------------------------------------------------------------------- predictions rows


class _Sparse(_Response):
    """A model that serialises only the fields the answer had (no ``null`` for absent keys)."""

    @model_serializer(mode="wrap")
    def _only_sent(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        data: dict[str, Any] = handler(self)
        keep = set(self.model_fields_set) | set(self.model_extra or {})
        return {k: v for k, v in data.items() if k in keep}


class ToolCallFunction(_Sparse):
    """The function a tool call names, with its arguments (a JSON object; a JSON-encoded
    string in OpenAI's own wire format)."""

    name: str | None = None
    arguments: dict[str, Any] | str | None = None


class ToolCall(_Sparse):
    """One entry of an assistant message's ``tool_calls``:
    ``{"id"?, "type": "function", "function": {"name", "arguments"}}``."""

    id: str | None = None
    type: str | None = None
    function: ToolCallFunction | None = None

    @property
    def text(self) -> str:
        """``name(arguments)``, the arguments as compact JSON."""
        function = self.function or ToolCallFunction()
        arguments = function.arguments
        if not isinstance(arguments, str):
            arguments = json.dumps(arguments or {}, ensure_ascii=False)
        return f"{function.name or ''}({arguments})"


_ROLES = frozenset({"system", "developer", "user", "assistant", "tool", "function"})
_MESSAGE_KEYS = frozenset(
    {
        "role",
        "content",
        "tool_calls",
        "tool_call_id",
        "name",
        "reasoning_content",
        "refusal",
        "function_call",
    }
)


class ChatMessage(_Sparse):
    """One OpenAI-style chat message: ``{"role", "content"?, "tool_calls"?, ...}``.

    ``content`` is a string (or a list of content parts); an assistant turn of the
    conversation tasks may carry ``tool_calls`` instead of content, or both. Other keys
    (``tool_call_id``, ``reasoning_content``...) are kept as extra fields.
    """

    role: str | None = None
    content: str | list[Any] | None = None
    tool_calls: list[ToolCall] | None = None

    @property
    def text(self) -> str:
        """The message as text: its content (the text parts of a list, one per line) and then
        one line ``name(arguments)`` per tool call."""
        lines: list[str] = []
        if isinstance(self.content, str):
            lines.append(self.content)
        elif isinstance(self.content, list):
            for part in self.content:
                if isinstance(part, str):
                    lines.append(part)
                elif isinstance(part, dict) and isinstance(part.get("text"), str):
                    lines.append(part["text"])
        lines.extend(call.text for call in self.tool_calls or [])
        return "\n".join(line for line in lines if line)


def _looks_like_message(value: Any) -> bool:
    return isinstance(value, dict) and value.get("role") in _ROLES and set(value) <= _MESSAGE_KEYS


def _messages(value: str | ChatMessage | list[ChatMessage] | None) -> list[ChatMessage] | None:
    """``value`` as messages: a list as it is, one message as a list of it, a string holding a
    JSON-encoded message or message list decoded; ``None`` for plain text or nothing."""
    if isinstance(value, list):
        return value
    if isinstance(value, ChatMessage):
        return [value]
    if not isinstance(value, str) or value.lstrip()[:1] not in ("[", "{"):
        return None
    try:
        decoded = json.loads(value)
    except ValueError:
        return None
    if _looks_like_message(decoded):
        return [ChatMessage.model_validate(decoded)]
    if isinstance(decoded, list) and decoded and all(_looks_like_message(m) for m in decoded):
        return [ChatMessage.model_validate(m) for m in decoded]
    return None


def _text_of(value: str | ChatMessage | list[ChatMessage] | None, role: str) -> str | None:
    """Plain text as it is; of messages, the text of the last one of ``role`` (of the last
    message when none has that role)."""
    messages = _messages(value)
    if messages is None:
        return value if isinstance(value, str) else None
    if not messages:
        return ""
    chosen = next((m for m in reversed(messages) if m.role == role), messages[-1])
    return chosen.text


class Prediction(_Sparse):
    """One row of a predictions file, in any of the platform's forms.

    - classification rows of 2025: ``{"question", "answer" (gold), "prediction", "scores"}``
      (``scores``: the label probabilities);
    - rows of the current platform: ``{"prompt", "completion" (gold), "prediction", ...}`` plus
      that row's score under each metric name (`metrics`). ``prompt``, ``completion``
      and ``prediction`` are plain text, or chat messages: the prompt a message list (the test
      row's messages before the scored turn), completion and prediction an assistant message
      (or a list of them), possibly JSON-encoded as a string.

    The fields keep the value as sent (typed: ``str`` or `ChatMessage` / a list of
    them) and a row serialises back to the keys it had; `input`, `expected` and `predicted` read any form as text (of a
    message list: the last ``user`` message for the input, the last ``assistant`` message for
    the outputs, rendered by `ChatMessage.text`), and `prompt_messages`,
    `completion_messages`, `prediction_messages` as messages.

    Example:
        >>> row = Prediction.model_validate({
        ...     "prompt": [{"role": "user", "content": "Search for events in Berlin."}],
        ...     "completion": {"role": "assistant", "tool_calls": [{"type": "function",
        ...         "function": {"name": "search", "arguments": {"query": "events in Berlin"}}}]},
        ...     "prediction": {"role": "assistant", "content": "No events found."},
        ...     "staged_tool_call": 0.0, "llm-as-a-judge-reference-free": 0.0})
        >>> row.input, row.expected, row.predicted
        ('Search for events in Berlin.', 'search({"query": "events in Berlin"})', 'No events found.')
        >>> row.metrics.staged_tool_call
        0.0
    """

    question: str | None = None
    answer: str | None = None
    prompt: str | list[ChatMessage] | None = None
    completion: str | ChatMessage | list[ChatMessage] | None = None
    prediction: str | ChatMessage | list[ChatMessage] | None = None
    scores: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _has_input(self) -> Prediction:
        if self.question is None and self.prompt is None:
            raise ValueError("a prediction row needs a `question` or a `prompt`")
        return self

    @property
    def input(self) -> str:
        """The test input: ``question``, or the prompt's text (of a message list, the last
        ``user`` message)."""
        if self.question is not None:
            return self.question
        text = _text_of(self.prompt, "user")
        return text if text is not None else str(self.prompt)

    @property
    def expected(self) -> str | None:
        """The gold output as text: ``answer``, or the completion's (of messages, the last
        ``assistant`` message)."""
        return self.answer if self.answer is not None else _text_of(self.completion, "assistant")

    @property
    def predicted(self) -> str | None:
        """The model's output as text (of messages, the last ``assistant`` message)."""
        return _text_of(self.prediction, "assistant")

    @property
    def prompt_messages(self) -> list[ChatMessage] | None:
        """The prompt as messages (a JSON-encoded list decoded); ``None`` for a text prompt."""
        return _messages(self.prompt)

    @property
    def completion_messages(self) -> list[ChatMessage] | None:
        """The gold output as messages; ``None`` for text."""
        return _messages(self.completion)

    @property
    def prediction_messages(self) -> list[ChatMessage] | None:
        """The model's output as messages; ``None`` for text."""
        return _messages(self.prediction)

    @property
    def metrics(self) -> Metrics:
        """This row's own scores (its extra fields that are numbers or null, e.g. ``rouge``,
        ``llm-as-a-judge-reference-free``, ``staged_tool_call``) as `Metrics`."""
        extra = self.model_extra or {}
        return Metrics.model_validate(
            {
                k: v
                for k, v in extra.items()
                if v is None or (isinstance(v, (int, float)) and not isinstance(v, bool))
            }
        )


class DeploymentSecrets(_Response):
    """Credentials of a deployment (never shown in ``repr``)."""

    api_key: SecretStr | None = None


class Deployment(_Response):
    """``/trainings/{id}/deployment``: ``deployment_status`` is ``building``, ``active``,
    ``inactive`` or ``credits_exhausted``."""

    id: str | None = None
    training_id: str | None = None
    deployment_status: str | None = None
    url: str | None = None
    secrets: DeploymentSecrets | None = None
    client_script: str | None = Field(default=None, repr=False)

    @property
    def status(self) -> str | None:
        """``deployment_status`` (or an older answer's ``status``)."""
        if self.deployment_status is not None:
            return self.deployment_status
        value = (self.model_extra or {}).get("status")
        return value if isinstance(value, str) else None
