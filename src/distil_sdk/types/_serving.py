"""Deployments, inference endpoints (their records, traces exports and API keys), prepared
traces and credits of the current generation (re-exported by `.entities`, whose docstring
says which reference the shapes follow).

The endpoint shapes are those of ``execution/backend-api.md`` § Inference endpoints (newest
stored version, distil-cli-skill 8848a333) and ``data-preparation/traces.md`` § From an
inference endpoint (the record's fields). Where the reference names a field without showing
the answer it sits in (the name of an API key, the window of an export), the spellings the
platform uses elsewhere are read as well (``api_key_name``, ``from-start-time``).
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from pydantic import (
    AliasChoices,
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    WithJsonSchema,
    model_validator,
)

from ._wire import _Entity, _Request, _Response
from .jobs import JobStatus

__all__ = [
    "ApiKey",
    "CreateApiKeyRequest",
    "CreateDeploymentRequest",
    "CreateInferenceEndpointRequest",
    "CreatePreparedTracesRequest",
    "CreateTracesExportRequest",
    "CreatedApiKey",
    "CreditBalances",
    "Deployment",
    "DeploymentEndpoint",
    "DeploymentStatus",
    "EndpointTrace",
    "EndpointTraceMetadata",
    "EndpointTracesPage",
    "InferenceEndpoint",
    "InferenceEndpointFallback",
    "OpenAIConfig",
    "PreparedTraces",
    "PreparedTracesDownload",
    "TracesExport",
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
    ``endpoint_status``. `status` is ``deployment_status``, so ``wait()`` works as for any
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


# ------------------------------------------------------------------------ an endpoint's records


class EndpointTraceMetadata(_Response):
    """``metadata`` of a record: the HTTP ``status`` the caller received and the ``source`` that
    answered (``fallback``, or ``primary`` when a trained model fronts the endpoint)."""

    status: int | str | None = None
    source: str | None = None


def _json_object(value: Any) -> dict[str, Any] | None:
    """A record's ``input`` / ``output``: a JSON string (the reference), or already an object."""
    if isinstance(value, dict):
        return value
    if isinstance(value, (str, bytes)):
        try:
            parsed = json.loads(value)
        except ValueError:
            return None
        return parsed if isinstance(parsed, dict) else None
    return None


class EndpointTrace(_Response):
    """One recorded call of an inference endpoint (``GET /inference-endpoints/{name}/traces``).

    Not a trace-file row: ``input`` is the request body and ``output`` the chat completions
    response, each a JSON string; `to_trace_row` converts a record the way the reference
    does (``data-preparation/traces.md`` § From an inference endpoint).

    Example:
        >>> record = EndpointTrace.model_validate({
        ...     "input": '{"model": "m", "messages": [{"role": "user", "content": "Hi"}]}',
        ...     "output": '{"choices": [{"message": {"role": "assistant", "content": "Hello"}}]}',
        ...     "metadata": {"status": 200, "source": "fallback"}})
        >>> record.to_trace_row()["messages"][-1]
        {'role': 'assistant', 'content': 'Hello'}
    """

    input: Any = None
    output: Any = None
    metadata: EndpointTraceMetadata | None = None
    start_time: str | None = None
    latency: float | None = None

    @property
    def request(self) -> dict[str, Any] | None:
        """The request body (``model``, ``messages``, ``tools``) parsed, or None."""
        return _json_object(self.input)

    @property
    def response(self) -> dict[str, Any] | None:
        """The chat completions response parsed, or None."""
        return _json_object(self.output)

    def to_trace_row(self) -> dict[str, Any] | None:
        """``{"messages": [...]}`` (plus ``tools``) for a ``traces.jsonl`` in the
        ``openai_messages`` format, or None for a record that should not become one: a failed
        call (``metadata.status`` not 200), or a reply with neither content nor tool calls."""
        status = self.metadata.status if self.metadata else None
        if str(status) != "200":
            return None
        request, response = self.request, self.response
        choices = (response or {}).get("choices")
        if request is None or not isinstance(choices, list) or not choices:
            return None
        reply = choices[0].get("message") if isinstance(choices[0], dict) else None
        if not isinstance(reply, dict) or not (reply.get("content") or reply.get("tool_calls")):
            return None
        assistant: dict[str, Any] = {"role": "assistant", "content": reply.get("content") or ""}
        if reply.get("tool_calls"):
            assistant["tool_calls"] = reply["tool_calls"]
        row: dict[str, Any] = {"messages": [*request.get("messages", []), assistant]}
        if request.get("tools"):
            row["tools"] = request["tools"]
        return row


class EndpointTracesPage(_Response):
    """One page of ``GET /inference-endpoints/{name}/traces``: the records, newest first, and
    the cursor of the next page (``null`` on the last one; an empty page can carry a cursor)."""

    traces: list[EndpointTrace]
    pagination_cursor: str | None = None


class CreateTracesExportRequest(_Request):
    """Body of ``POST /inference-endpoints/{name}/traces-exports``: the window, both bounds as
    ISO 8601 timestamps."""

    from_start_time: str = Field(alias="from-start-time", min_length=1)
    to_start_time: str = Field(alias="to-start-time", min_length=1)


class TracesExport(_Response):
    """A traces export: an endpoint's records in a window, written to one file behind the
    presigned ``download_url``.

    The reference shows the create answering with ``download_url`` at once; a platform that
    answers before the file is written may leave it null (and may send a job ``status``), which
    `state` reads as still running.
    """

    id: str
    created_at: str | None = None
    from_start_time: str | None = Field(
        default=None, validation_alias=AliasChoices("from_start_time", "from-start-time")
    )
    to_start_time: str | None = Field(
        default=None, validation_alias=AliasChoices("to_start_time", "to-start-time")
    )
    download_url: str | None = None
    status: JobStatus | None = None
    message: str | None = None

    def state(self) -> JobStatus:
        """``JOB_SUCCESS`` once the file can be downloaded, a failure as the platform says it,
        ``JOB_RUNNING`` otherwise."""
        if self.status is not None and self.status.is_failure:
            return self.status
        if self.download_url:
            return JobStatus.SUCCESS
        if self.status is not None and not self.status.is_terminal:
            return self.status
        return JobStatus.RUNNING


# ------------------------------------------------------------------------------------ API keys


class CreateApiKeyRequest(_Request):
    """Body of ``POST /api-keys``."""

    api_key_name: str = Field(alias="api-key-name", min_length=1)


class ApiKey(_Response):
    """An inference API key as ``GET /api-keys`` lists it: its name and creation date, never
    its secret."""

    name: str = Field(validation_alias=AliasChoices("name", "api_key_name", "api-key-name"))
    created_at: str | None = None


class CreatedApiKey(ApiKey):
    """The answer of ``POST /api-keys``: the only one that carries the key's ``secret``.

    The secret never shows in a repr, a log line or an error message; read it with
    ``key.secret.get_secret_value()`` and put it straight into a secret store.
    """

    # Documented as a plain string: pydantic marks a SecretStr "writeOnly", which says a
    # response never carries it - and this one is the response that does.
    secret: Annotated[
        SecretStr,
        WithJsonSchema(
            {"type": "string", "description": "the key's secret, answered by this route only"}
        ),
    ]


class OpenAIConfig(BaseModel):
    """What an OpenAI-compatible client needs to call an inference endpoint: the inference
    host's ``base_url``, a linked key's secret as ``api_key``, and the endpoint's unique name
    as ``model``.

    Example:
        >>> from openai import OpenAI  # doctest: +SKIP
        >>> cfg = client.inference_endpoints.openai_config("support-yeOdAS", key)  # doctest: +SKIP
        >>> OpenAI(**cfg.client_kwargs()).chat.completions.create(
        ...     model=cfg.model, messages=[{"role": "user", "content": "Say hi."}])  # doctest: +SKIP
    """

    model_config = ConfigDict(frozen=True)

    base_url: str
    api_key: SecretStr
    model: str

    def client_kwargs(self) -> dict[str, str]:
        """``{"base_url": ..., "api_key": ...}`` for ``openai.OpenAI(**...)`` (the secret in
        clear: pass it on, do not print it)."""
        return {"base_url": self.base_url, "api_key": self.api_key.get_secret_value()}


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

    A route the platform never charges for is absent (not unlimited): use `get`.

    Example:
        >>> CreditBalances.model_validate({"balances": {"datasets_post": 99}}).get("slms_post")
    """

    balances: dict[str, int] = Field(default_factory=dict)

    def get(self, route_key: str) -> int | None:
        """The balance of ``route_key``, or None when the route is not metered."""
        return self.balances.get(route_key)

    def __getitem__(self, route_key: str) -> int:
        return self.balances[route_key]
