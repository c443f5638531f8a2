"""Wire models of job results: metrics (classification and other tasks), predictions rows,
deployments. Re-exported by :mod:`distil_sdk.types.jobs`, which documents the contract."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_serializer, model_validator

__all__ = ["ClassMetrics", "Deployment", "DeploymentSecrets", "Metrics", "Prediction"]


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


class ClassMetrics(_Response):
    """Precision, recall, F1 and support of one class (or of an average)."""

    precision: float | None = None
    recall: float | None = None
    f1_score: float | None = Field(default=None, alias="f1-score")
    support: float | None = None


_AVERAGES = ("macro avg", "weighted avg", "micro avg")


class Metrics(_Response):
    """A job's metrics: scikit-learn's ``classification_report(output_dict=True)`` for
    classification, ``binary`` / ``llm-as-a-judge`` / ``meteor`` / ``rouge`` for other tasks.

    Serialises back to the wire shape (class names and averages at the top level).

    Example:
        >>> m = Metrics.model_validate({"accuracy": 0.5, "a": {"f1-score": 0.4}, "b": {"f1-score": 0.6},
        ...                             "macro avg": {"f1-score": 0.5}})
        >>> m.accuracy, sorted(m.per_class), m.macro_f1
        (0.5, ['a', 'b'], 0.5)
        >>> Metrics.model_validate({"llm-as-a-judge": 0.82, "rouge": 0.21}).llm_as_a_judge
        0.82
    """

    accuracy: float | None = None
    macro_avg: ClassMetrics | None = Field(default=None, alias="macro avg")
    weighted_avg: ClassMetrics | None = Field(default=None, alias="weighted avg")
    per_class: dict[str, ClassMetrics] = Field(default_factory=dict)
    binary: float | None = None
    llm_as_a_judge: float | None = Field(default=None, alias="llm-as-a-judge")
    meteor: float | None = None
    rouge: float | None = None

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

    def to_report(self) -> dict[str, Any]:
        """The wire shape again (metrics that are absent stay absent)."""
        report: dict[str, Any] = {}
        if self.accuracy is not None:
            report["accuracy"] = self.accuracy
        for label, metrics in self.per_class.items():
            report[label] = metrics.model_dump(by_alias=True, exclude_none=True)
        for key, avg in (("macro avg", self.macro_avg), ("weighted avg", self.weighted_avg)):
            if avg is not None:
                report[key] = avg.model_dump(by_alias=True, exclude_none=True)
        for key, value in (
            ("binary", self.binary),
            ("llm-as-a-judge", self.llm_as_a_judge),
            ("meteor", self.meteor),
            ("rouge", self.rouge),
        ):
            if value is not None:
                report[key] = value
        report.update(self.model_extra or {})
        return report


class Prediction(_Response):
    """One row of a predictions file, in either of the platform's forms.

    Classification rows are ``{"question", "answer" (gold), "prediction", "scores"}``; rows of
    the current generation are ``{"prompt", "completion", "prediction", ...}``. :attr:`input` and
    :attr:`expected` read either.
    """

    question: str | None = None
    answer: str | None = None
    prompt: str | None = None
    completion: str | None = None
    prediction: str | None = None
    scores: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _has_input(self) -> Prediction:
        if self.question is None and self.prompt is None:
            raise ValueError("a prediction row needs a `question` or a `prompt`")
        return self

    @property
    def input(self) -> str:
        """The test input (``question`` or ``prompt``)."""
        return self.question if self.question is not None else str(self.prompt)

    @property
    def expected(self) -> str | None:
        """The gold output (``answer`` or ``completion``)."""
        return self.answer if self.answer is not None else self.completion


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
