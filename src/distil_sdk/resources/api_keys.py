"""``client.api_keys``: the inference API keys an application calls an endpoint with.

The reference (``execution/backend-api.md`` § Keys, ``inference-endpoints.md`` § Keys): ``POST
/api-keys`` with ``{"api-key-name": ...}`` answers the key's ``secret``, "returned by this
response and by nothing else"; ``GET /api-keys`` lists names and creation dates, never secrets;
``DELETE /api-keys/<name>`` revokes the key everywhere. A key authenticates nothing until it is
linked to an endpoint (``client.inference_endpoints.link_api_key``); an account holds at most 5.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from pydantic import ValidationError
from typing_extensions import Unpack

from .._errors import APIError, ConflictError, NotFoundError
from .._http import CallOptions, RequestSpec, full_url, parse_model, redact
from ..types.entities import ApiKey, CreateApiKeyRequest, CreatedApiKey
from ._base import AsyncResource, SyncResource, seg
from ._entity import list_items

logger = logging.getLogger("distil_sdk")

__all__ = [
    "PROPAGATION_TIMEOUT_S",
    "ApiKeys",
    "AsyncApiKeys",
    "link_action",
    "link_errors",
    "link_spec",
    "propagation_pauses",
    "still_propagating",
]

_NAME_KEYS = ("name", "api_key_name", "api-key-name")


def _create(name: str, options: CallOptions) -> RequestSpec:
    body = CreateApiKeyRequest.model_validate({"api-key-name": name}).to_body()
    return RequestSpec("POST", "/api-keys", json=body, **options)


def _created(data: Any, name: str, spec: RequestSpec, base_url: str) -> CreatedApiKey:
    """The create's answer as a `CreatedApiKey`, named after the key asked for when the
    answer does not say.

    A body that does not fit raises an `APIError` naming only the fields at
    fault: pydantic's own error would quote the input, and the input holds the secret.
    """
    if isinstance(data, dict) and not any(data.get(key) for key in _NAME_KEYS):
        data = {**data, "name": name}
    try:
        return CreatedApiKey.model_validate(data)
    except ValidationError as exc:
        fields = sorted({".".join(str(p) for p in error["loc"]) or "$" for error in exc.errors()})
        url = redact(full_url(base_url, spec))
        raise APIError(
            f"POST {url} created API key {name!r} but its answer has no usable "
            f"{', '.join(fields)}; the secret cannot be read again: delete the key "
            f"(client.api_keys.delete({name!r})) and create it anew",
            method="POST",
            url=url,
        ) from None


def _list(options: CallOptions) -> RequestSpec:
    return RequestSpec("GET", "/api-keys", **options)


def _parse(data: Any, spec: RequestSpec, base_url: str) -> list[ApiKey]:
    items = list_items(data, "api_keys", "API keys", spec, base_url)
    return [parse_model(ApiKey, item, spec, base_url) for item in items]


def _delete(name: str, options: CallOptions) -> RequestSpec:
    return RequestSpec("DELETE", f"/api-keys/{seg(name, 'name')}", **options)


# --------------------------------------------------------------- links to endpoints (409s)

#: How long a link route's 409 is waited out: the reference says key changes "take up to a
#: minute to propagate", and to wait and retry rather than report a failure.
PROPAGATION_TIMEOUT_S = 75.0
_FIRST_PAUSE_S, _MAX_PAUSE_S = 1.0, 8.0


def link_spec(method: str, name: str, key_name: str, options: CallOptions) -> RequestSpec:
    """``PUT`` (link) or ``DELETE`` (unlink) ``/inference-endpoints/{name}/api-keys/{key}``."""
    return RequestSpec(
        method,
        f"/inference-endpoints/{seg(name, 'name')}/api-keys/{seg(key_name, 'key_name')}",
        **options,
    )


def propagation_pauses(budget: float) -> Iterator[float]:
    """Pauses between the tries of a link route that answers 409: 1, 2, 4, 8, 8... seconds,
    ``budget`` seconds in all."""
    spent, pause = 0.0, _FIRST_PAUSE_S
    while spent < budget:
        step = min(pause, budget - spent)
        yield step
        spent += step
        pause = min(pause * 2, _MAX_PAUSE_S)


def still_propagating(exc: ConflictError, action: str, waited: float) -> ConflictError:
    """The 409 that outlasted the wait, saying what it means and what to do."""
    return ConflictError(
        f"{action}: the platform still answers 409 after {waited:.0f}s of retries "
        f"({exc.message}). Key changes take up to a minute to propagate; try again in a "
        "minute, and do not move traffic onto the key or revoke the one it replaces meanwhile",
        status_code=exc.status_code,
        method=exc.method,
        url=exc.url,
        body=exc.body,
        response=exc.response,
    )


@contextmanager
def link_errors(name: str, key_name: str) -> Iterator[None]:
    """A link route's 404 re-raised naming both the endpoint and the key."""
    try:
        yield
    except NotFoundError as exc:
        raise NotFoundError(
            f"no inference endpoint {name!r} or no API key {key_name!r} on this platform "
            f"({exc.message}); client.inference_endpoints.list() and client.api_keys.list() "
            "show what there is",
            status_code=exc.status_code,
            method=exc.method,
            url=exc.url,
            body=exc.body,
            response=exc.response,
        ) from exc


def next_link_pause(
    exc: ConflictError, pauses: Iterator[float], action: str, waited: float
) -> float:
    """The pause before the next try of a link route that answered 409 (logged), or the
    409 that outlasted the wait, raised."""
    pause = next(pauses, None)
    if pause is None:
        raise still_propagating(exc, action, waited) from exc
    logger.info("%s: 409 while the key propagates; again in %.0fs", action, pause)
    return pause


def link_action(method: str, name: str, key_name: str) -> str:
    """What a link route does, for messages."""
    verb = "linking" if method == "PUT" else "unlinking"
    return f"{verb} API key {key_name!r} {'to' if method == 'PUT' else 'from'} endpoint {name!r}"


class ApiKeys(SyncResource):
    """Inference API keys: ``create`` (the secret, once), ``list``, ``delete``.

    Example:
        >>> key = client.api_keys.create("support-prod")  # doctest: +SKIP
        >>> key.secret  # doctest: +SKIP
        SecretStr('**********')
        >>> client.inference_endpoints.link_api_key("support-yeOdAS", key.name)  # doctest: +SKIP
    """

    def create(self, name: str, **options: Unpack[CallOptions]) -> CreatedApiKey:
        """Create key ``name`` (``POST /api-keys``). Its secret (``.secret``, a
        `SecretStr`) is in this answer and nowhere else: store it now."""
        spec = _create(name, options)
        return _created(self._t.json(spec), name, spec, self._t.base_url)

    def list(self, **options: Unpack[CallOptions]) -> list[ApiKey]:
        """The account's keys, names and creation dates only (``GET /api-keys``)."""
        spec = _list(options)
        return _parse(self._t.json(spec), spec, self._t.base_url)

    def delete(self, name: str, **options: Unpack[CallOptions]) -> None:
        """Revoke key ``name`` everywhere (``DELETE /api-keys/{name}``); the endpoints it was
        linked to stop accepting it within about a minute."""
        self._t.send(_delete(name, options))


class AsyncApiKeys(AsyncResource):
    """The async twin of `ApiKeys`."""

    async def create(self, name: str, **options: Unpack[CallOptions]) -> CreatedApiKey:
        spec = _create(name, options)
        return _created(await self._t.json(spec), name, spec, self._t.base_url)

    async def list(self, **options: Unpack[CallOptions]) -> list[ApiKey]:
        spec = _list(options)
        return _parse(await self._t.json(spec), spec, self._t.base_url)

    async def delete(self, name: str, **options: Unpack[CallOptions]) -> None:
        await self._t.send(_delete(name, options))
