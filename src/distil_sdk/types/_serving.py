"""Deployments, inference endpoints, prepared traces and credits of the current generation
(re-exported by :mod:`.entities`, whose docstring says which reference the shapes follow)."""

from __future__ import annotations

from typing import Any

from pydantic import Field, SecretStr, model_validator

from ._wire import _Entity, _Request, _Response
from .jobs import JobStatus

__all__ = [
    "CreateDeploymentRequest",
    "CreateInferenceEndpointRequest",
    "CreatePreparedTracesRequest",
    "CreditBalances",
    "Deployment",
    "DeploymentEndpoint",
    "DeploymentStatus",
    "InferenceEndpoint",
    "InferenceEndpointFallback",
    "PreparedTraces",
    "PreparedTracesDownload",
]


# ----------------------------------------------------------------------------------- deploying


class CreateDeploymentRequest(_Request):
    """Body of ``POST /deployments/from-slms``."""

    from_: str = Field(alias="from", min_length=1)


class Deployment(_Response):
    """A Deployment of an SLM. ``deployment_status`` is the job; ``endpoint_status`` reads
    ``stopped`` once it is down."""

    id: str
    created_at: str | None = None
    slm_id: str | None = None
    deployment_status: JobStatus | None = None
    endpoint_status: str | None = None


class DeploymentStatus(_Response):
    """``GET /deployments/{id}/status``: ``deployment_status`` (a job status) and
    ``endpoint_status``. :attr:`status` is ``deployment_status``, so ``wait()`` works as for any
    job."""

    id: str | None = None
    deployment_status: JobStatus
    endpoint_status: str | None = None
    message: str | None = None

    @property
    def status(self) -> JobStatus:
        """The deployment job's status (``deployment_status``)."""
        return self.deployment_status


class DeploymentEndpoint(_Response):
    """``GET /deployments/{id}/endpoint``: the URL and its key (never shown in reprs)."""

    url: str | None = None
    api_key: SecretStr | None = None


class InferenceEndpointFallback(_Request):
    """The ``fallback`` of an inference endpoint: an OpenRouter ``owner/model`` slug."""

    model: str = Field(min_length=1)


class CreateInferenceEndpointRequest(_Request):
    """Body of ``POST /inference-endpoints``.

    ``primary``: a deployment id, or ``{"url": ..., "api-key": ...}`` for a server of your own.
    """

    name_prefix: str = Field(alias="name-prefix", min_length=1)
    fallback: InferenceEndpointFallback
    primary: str | dict[str, str] | None = None
    trace_sample_rate: float | None = Field(default=None, alias="trace-sample-rate", ge=0, le=1)


class InferenceEndpoint(_Response):
    """An inference endpoint (an OpenAI-compatible gateway); its id is ``unique_endpoint_name``."""

    unique_endpoint_name: str
    created_at: str | None = None
    trace_sampling_rate: float | None = None
    fallback: Any = None
    primary: Any = None

    @property
    def id(self) -> str:
        """The endpoint's name, which every other route takes."""
        return self.unique_endpoint_name


# ------------------------------------------------------------------------------ prepared traces


class CreatePreparedTracesRequest(_Request):
    """Body of ``POST /prepared-traces``: a staged ``traces_jsonl`` or an endpoint's name."""

    traces_jsonl: str | None = None
    inference_endpoint_name: str | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> CreatePreparedTracesRequest:
        if (self.traces_jsonl is None) == (self.inference_endpoint_name is None):
            raise ValueError("send exactly one of traces_jsonl and inference_endpoint_name")
        return self


class PreparedTraces(_Entity):
    """A PreparedTraces (a trace file, or an endpoint's records); ``source`` is
    ``direct_upload`` or ``inference_endpoint``."""

    source: str | None = None


class PreparedTracesDownload(_Response):
    """``GET /prepared-traces/{id}/download``."""

    traces_url: str | None = None


# -------------------------------------------------------------------------------------- credits


class CreditBalances(_Response):
    """``GET /credits/endpoints``: remaining calls per metered route key.

    A route the platform never charges for is absent (not unlimited): use :meth:`get`.

    Example:
        >>> CreditBalances.model_validate({"balances": {"datasets_post": 99}}).get("slms_post")
    """

    balances: dict[str, int] = Field(default_factory=dict)

    def get(self, route_key: str) -> int | None:
        """The balance of ``route_key``, or None when the route is not metered."""
        return self.balances.get(route_key)

    def __getitem__(self, route_key: str) -> int:
        return self.balances[route_key]
