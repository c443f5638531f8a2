"""``client.inference_endpoints``: OpenAI-compatible gateways that record traces and can put a
deployed SLM in front of a fallback model."""

from __future__ import annotations

from typing import Any

from typing_extensions import Unpack

from .._http import CallOptions, RequestSpec
from ..types.entities import CreateInferenceEndpointRequest, InferenceEndpoint
from ._base import AsyncResource, SyncResource, seg
from ._entity import Parent, explained, list_items

__all__ = ["AsyncInferenceEndpoints", "InferenceEndpoints"]


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
    return RequestSpec("GET", f"/inference-endpoints/{seg(name)}", **options)


def _list(options: CallOptions) -> RequestSpec:
    return RequestSpec("GET", "/inference-endpoints", **options)


def _parse(data: Any, spec: RequestSpec, base_url: str) -> list[InferenceEndpoint]:
    items = list_items(data, "inference_endpoints", "inference endpoints", spec, base_url)
    return [InferenceEndpoint.model_validate(item) for item in items]


class InferenceEndpoints(SyncResource):
    """Inference endpoints: ``create``, ``get`` (by unique name), ``list``.

    An endpoint is permanent and cannot be edited; its ``id`` is ``unique_endpoint_name``.

    Example:
        >>> ep = client.inference_endpoints.create("support", "openai/gpt-4.1-mini",
        ...                                        trace_sample_rate=1)  # doctest: +SKIP
        >>> ep.id  # doctest: +SKIP
        'support-yeOdAS'
    """

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


class AsyncInferenceEndpoints(AsyncResource):
    """The async twin of :class:`InferenceEndpoints`."""

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
