"""``client.inference_endpoints``: OpenAI-compatible gateways that record traces and can put a
deployed SLM in front of a fallback model.

Besides create/get/list: the endpoint's records (`InferenceEndpoints.traces`, cursor
paged), their exports (``.traces_exports``), linking API keys (a 409 while a key change
propagates is waited out) and `InferenceEndpoints.openai_config`, the three strings an
OpenAI client needs to call the endpoint on the inference host (the local platform's own
gateway, ``{base_url}/inference/v1``, when the client talks to a local platform).
"""

from __future__ import annotations

import logging
import os
from typing import Any

import httpx
from pydantic import SecretStr
from typing_extensions import Unpack

from .._errors import ConflictError, DistilError
from .._http import AsyncTransport, CallOptions, RequestSpec, SyncTransport, parse_model
from ..types.entities import (
    CreatedApiKey,
    CreateInferenceEndpointRequest,
    InferenceEndpoint,
    OpenAIConfig,
)
from ._base import AsyncResource, SyncResource, seg
from ._entity import Parent, explained, list_items
from ._traces import AsyncTraces, SyncTraces, TimeLike, window
from .api_keys import (
    PROPAGATION_TIMEOUT_S,
    link_action,
    link_errors,
    link_spec,
    next_link_pause,
    propagation_pauses,
)
from .traces_exports import AsyncTracesExports, TracesExports

__all__ = [
    "INFERENCE_BASE_URL",
    "INFERENCE_URL_ENV",
    "LOCAL_INFERENCE_PATH",
    "AsyncInferenceEndpoints",
    "InferenceEndpoints",
    "inference_url",
]

logger = logging.getLogger("distil_sdk")

#: The inference host (``execution/backend-api.md`` § The call the application makes): a
#: different host from the API, taking a key's secret rather than an access token.
INFERENCE_BASE_URL = "https://inference.distillabs.ai/v1"
#: Environment variable overriding `INFERENCE_BASE_URL` (a development environment).
INFERENCE_URL_ENV = "DISTIL_INFERENCE_URL"
#: Where the local platform serves its endpoints' gateway, under its own base URL.
LOCAL_INFERENCE_PATH = "/inference/v1"


def _create(
    name_prefix: str,
    fallback_model: str,
    primary: str | dict[str, str] | None,
    trace_sample_rate: float | None,
    options: CallOptions,
) -> RequestSpec:
    body = CreateInferenceEndpointRequest.model_validate(
        {
            "name-prefix": name_prefix,
            "fallback": {"model": fallback_model},
            "primary": primary,
            "trace-sample-rate": trace_sample_rate,
        }
    ).to_body()
    return RequestSpec("POST", "/inference-endpoints", json=body, **options)


def _parent(primary: str | dict[str, str] | None) -> Parent | None:
    # A 409 on create means the primary deployment has not reached JOB_SUCCESS yet.
    return Parent("deployment", primary, "deployments") if isinstance(primary, str) else None


def _get(name: str, options: CallOptions) -> RequestSpec:
    return RequestSpec("GET", f"/inference-endpoints/{seg(name, 'name')}", **options)


def _list(options: CallOptions) -> RequestSpec:
    return RequestSpec("GET", "/inference-endpoints", **options)


def _parse(data: Any, spec: RequestSpec, base_url: str) -> list[InferenceEndpoint]:
    items = list_items(data, "inference_endpoints", "inference endpoints", spec, base_url)
    return [parse_model(InferenceEndpoint, item, spec, base_url) for item in items]


# ---------------------------------------------------------------------------- the OpenAI call


def _is_loopback(platform_url: str) -> bool:
    """Whether the platform at ``platform_url`` is the local one (a loopback host), as
    ``require_local`` decides."""
    host = httpx.URL(platform_url).host
    return host in ("localhost", "::1") or host.startswith("127.")


def inference_url(platform_url: str, base_url: str | None = None) -> str:
    """The inference host for endpoints of the platform at ``platform_url``: ``base_url``,
    else ``$DISTIL_INFERENCE_URL``, else the local platform's own gateway
    (``{platform_url}/inference/v1``) when it is local, else `INFERENCE_BASE_URL`."""
    url = base_url or os.environ.get(INFERENCE_URL_ENV)
    if not url:
        local = _is_loopback(platform_url)
        url = platform_url.rstrip("/") + LOCAL_INFERENCE_PATH if local else INFERENCE_BASE_URL
    return url.rstrip("/")


def openai_config_of(
    endpoint: InferenceEndpoint,
    api_key: str | SecretStr | CreatedApiKey,
    base_url: str | None,
    platform_url: str = "",
) -> OpenAIConfig:
    """The base URL (see `inference_url`), key and model an OpenAI client calls ``endpoint``
    with."""
    secret = api_key.secret if isinstance(api_key, CreatedApiKey) else api_key
    if not isinstance(secret, SecretStr):
        secret = SecretStr(secret)
    if not secret.get_secret_value():
        raise DistilError("api_key is empty: give the secret of a key linked to the endpoint")
    url = inference_url(platform_url, base_url)
    return OpenAIConfig(base_url=url, api_key=secret, model=endpoint.unique_endpoint_name)


class InferenceEndpoints(SyncResource):
    """Inference endpoints: ``create``, ``get`` (by unique name), ``list``, ``traces``,
    ``traces_exports``, ``link_api_key`` / ``unlink_api_key`` and ``openai_config``.

    An endpoint is permanent and cannot be edited; its ``id`` is ``unique_endpoint_name``.

    Example:
        >>> ep = client.inference_endpoints.create("support", "openai/gpt-4.1-mini",
        ...                                        trace_sample_rate=1)  # doctest: +SKIP
        >>> ep.id  # doctest: +SKIP
        'support-yeOdAS'
        >>> key = client.api_keys.create("support-prod")  # doctest: +SKIP
        >>> client.inference_endpoints.link_api_key(ep.id, key.name)  # doctest: +SKIP
        >>> cfg = client.inference_endpoints.openai_config(ep.id, key)  # doctest: +SKIP
        >>> openai.OpenAI(**cfg.client_kwargs())  # doctest: +SKIP
    """

    traces_exports: TracesExports

    def __init__(self, transport: SyncTransport) -> None:
        super().__init__(transport)
        self.traces_exports = TracesExports(transport)

    def create(
        self,
        name_prefix: str,
        fallback_model: str,
        *,
        primary: str | dict[str, str] | None = None,
        trace_sample_rate: float | None = None,
        **options: Unpack[CallOptions],
    ) -> InferenceEndpoint:
        """Create one (``POST /inference-endpoints``).

        ``fallback_model``: an OpenRouter ``owner/model`` slug. ``primary``: a deployment id,
        or ``{"url": ..., "api-key": ...}`` for your own server. ``trace_sample_rate``: 0..1
        (the platform's default records one call in a hundred).
        """
        spec = _create(name_prefix, fallback_model, primary, trace_sample_rate, options)
        with explained(route_key="inference_endpoints_post", parent=_parent(primary)):
            return self._t.request(InferenceEndpoint, spec)

    def get(self, name: str, **options: Unpack[CallOptions]) -> InferenceEndpoint:
        """One endpoint by its unique name (``GET /inference-endpoints/{name}``)."""
        with explained(parent=Parent("inference endpoint", name, "inference_endpoints")):
            return self._t.request(InferenceEndpoint, _get(name, options))

    def list(self, **options: Unpack[CallOptions]) -> list[InferenceEndpoint]:
        """Every endpoint, newest first (``GET /inference-endpoints``)."""
        spec = _list(options)
        return _parse(self._t.json(spec), spec, self._t.base_url)

    def traces(
        self,
        name: str,
        *,
        since: TimeLike | None = None,
        until: TimeLike | None = None,
        limit: int | None = None,
        **options: Unpack[CallOptions],
    ) -> SyncTraces:
        """The endpoint's records between ``since`` and ``until`` (``from-start-time`` /
        ``to-start-time``; default: the last day), newest first, fetched page by page
        (``GET /inference-endpoints/{name}/traces``) as the result is iterated.

        ``limit`` caps the records yielded, not the pages fetched (the page size is the
        platform's). Each record is an `EndpointTrace`.
        """
        return SyncTraces(self._t, name, window(since, until), limit, options)

    def link_api_key(
        self,
        name: str,
        key_name: str,
        *,
        propagation_timeout: float = PROPAGATION_TIMEOUT_S,
        **options: Unpack[CallOptions],
    ) -> None:
        """Let key ``key_name`` call endpoint ``name``
        (``PUT /inference-endpoints/{name}/api-keys/{key}``).

        A 409 means the endpoint has not caught up with a key change moments earlier: it is
        retried for up to ``propagation_timeout`` seconds, then raised as a
        `ConflictError` that says so. Even after success the endpoint may
        take a moment longer to honour the key.
        """
        self._linking("PUT", name, key_name, propagation_timeout, options)

    def unlink_api_key(
        self,
        name: str,
        key_name: str,
        *,
        propagation_timeout: float = PROPAGATION_TIMEOUT_S,
        **options: Unpack[CallOptions],
    ) -> None:
        """Stop key ``key_name`` calling endpoint ``name`` (``DELETE`` on the link path); 409s
        are waited out as in `link_api_key`. The key itself stays
        (``client.api_keys.delete`` revokes it everywhere)."""
        self._linking("DELETE", name, key_name, propagation_timeout, options)

    def _linking(
        self, method: str, name: str, key_name: str, budget: float, options: CallOptions
    ) -> None:
        spec, pauses, waited = (
            link_spec(method, name, key_name, options),
            propagation_pauses(budget),
            0.0,
        )
        with link_errors(name, key_name):
            while True:
                try:
                    self._t.send(spec)
                    return
                except ConflictError as exc:
                    action = link_action(method, name, key_name)
                    pause = next_link_pause(exc, pauses, action, waited)
                    self._t.sleep(pause)
                    waited += pause

    def openai_config(
        self,
        name: str,
        api_key: str | SecretStr | CreatedApiKey,
        *,
        base_url: str | None = None,
        **options: Unpack[CallOptions],
    ) -> OpenAIConfig:
        """What ``openai.OpenAI`` needs to call endpoint ``name``: the inference host's URL
        (``base_url``, else ``$DISTIL_INFERENCE_URL``, else the local platform's gateway
        ``{client.base_url}/inference/v1`` when this client talks to a local platform, else
        `INFERENCE_BASE_URL`), the secret of a key linked to it, and ``model`` = the
        endpoint's unique name. The endpoint is read first (``GET /inference-endpoints/{name}``),
        so a wrong name fails here."""
        endpoint = self.get(name, **options)
        return openai_config_of(endpoint, api_key, base_url, self._t.base_url)


class AsyncInferenceEndpoints(AsyncResource):
    """The async twin of `InferenceEndpoints` (``traces()`` returns an async
    iterable: ``async for trace in client.inference_endpoints.traces(name)``)."""

    traces_exports: AsyncTracesExports

    def __init__(self, transport: AsyncTransport) -> None:
        super().__init__(transport)
        self.traces_exports = AsyncTracesExports(transport)

    async def create(
        self,
        name_prefix: str,
        fallback_model: str,
        *,
        primary: str | dict[str, str] | None = None,
        trace_sample_rate: float | None = None,
        **options: Unpack[CallOptions],
    ) -> InferenceEndpoint:
        spec = _create(name_prefix, fallback_model, primary, trace_sample_rate, options)
        with explained(route_key="inference_endpoints_post", parent=_parent(primary)):
            return await self._t.request(InferenceEndpoint, spec)

    async def get(self, name: str, **options: Unpack[CallOptions]) -> InferenceEndpoint:
        with explained(parent=Parent("inference endpoint", name, "inference_endpoints")):
            return await self._t.request(InferenceEndpoint, _get(name, options))

    async def list(self, **options: Unpack[CallOptions]) -> list[InferenceEndpoint]:
        spec = _list(options)
        return _parse(await self._t.json(spec), spec, self._t.base_url)

    def traces(
        self,
        name: str,
        *,
        since: TimeLike | None = None,
        until: TimeLike | None = None,
        limit: int | None = None,
        **options: Unpack[CallOptions],
    ) -> AsyncTraces:
        return AsyncTraces(self._t, name, window(since, until), limit, options)

    async def link_api_key(
        self,
        name: str,
        key_name: str,
        *,
        propagation_timeout: float = PROPAGATION_TIMEOUT_S,
        **options: Unpack[CallOptions],
    ) -> None:
        await self._linking("PUT", name, key_name, propagation_timeout, options)

    async def unlink_api_key(
        self,
        name: str,
        key_name: str,
        *,
        propagation_timeout: float = PROPAGATION_TIMEOUT_S,
        **options: Unpack[CallOptions],
    ) -> None:
        await self._linking("DELETE", name, key_name, propagation_timeout, options)

    async def _linking(
        self, method: str, name: str, key_name: str, budget: float, options: CallOptions
    ) -> None:
        spec, pauses, waited = (
            link_spec(method, name, key_name, options),
            propagation_pauses(budget),
            0.0,
        )
        with link_errors(name, key_name):
            while True:
                try:
                    await self._t.send(spec)
                    return
                except ConflictError as exc:
                    action = link_action(method, name, key_name)
                    pause = next_link_pause(exc, pauses, action, waited)
                    await self._t.sleep(pause)
                    waited += pause

    async def openai_config(
        self,
        name: str,
        api_key: str | SecretStr | CreatedApiKey,
        *,
        base_url: str | None = None,
        **options: Unpack[CallOptions],
    ) -> OpenAIConfig:
        endpoint = await self.get(name, **options)
        return openai_config_of(endpoint, api_key, base_url, self._t.base_url)
