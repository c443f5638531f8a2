"""``client.v2.models``: create, list and get models (and delete them on the local platform)."""

from __future__ import annotations

from typing_extensions import Unpack

from ..._http import CallOptions, RequestSpec
from ...types.jobs import CreateModelRequest, Model, ModelList
from .._base import AsyncResource, SyncResource, require_local, seg

__all__ = ["AsyncModels", "Models"]


def _create(name: str, options: CallOptions) -> RequestSpec:
    return RequestSpec(
        "POST", "/models", json=CreateModelRequest(name=name).model_dump(), **options
    )


def _delete_local(base_url: str, model_id: str, options: CallOptions) -> RequestSpec:
    # DELETE /models/{id} is the local platform's route only: no public source documents it.
    require_local(base_url, f"delete_local() (model {model_id})")
    return RequestSpec("DELETE", f"/models/{seg(model_id, 'model_id')}", **options)


def _list(options: CallOptions) -> RequestSpec:
    # ModelList reads {"models": [...]} or a bare list; anything else ({}, wrong types) is an
    # APIError naming the URL, never an empty list.
    return RequestSpec("GET", "/models", **options)


class Models(SyncResource):
    """Models: the named tasks that own uploads, evaluations and trainings.

    Example:
        >>> model = client.v2.models.create("banking-intents")  # doctest: +SKIP
        >>> [m.name for m in client.v2.models.list()]  # doctest: +SKIP
    """

    def create(self, name: str, **options: Unpack[CallOptions]) -> Model:
        """Create a model called ``name`` (``POST /models``)."""
        return self._t.request(Model, _create(name, options))

    def list(self, **options: Unpack[CallOptions]) -> list[Model]:
        """All models of the account (``GET /models``)."""
        return self._t.request(ModelList, _list(options)).models

    def get(self, model_id: str, **options: Unpack[CallOptions]) -> Model:
        """One model (``GET /models/{id}``)."""
        return self._t.request(
            Model, RequestSpec("GET", f"/models/{seg(model_id, 'model_id')}", **options)
        )

    def delete_local(self, model_id: str, **options: Unpack[CallOptions]) -> None:
        """Local platform only: delete a model with its uploads, jobs and artifacts
        (``DELETE /models/{id}``, a route of the embedded local platform that no public source
        documents for the hosted one). Refuses (`DistilError`, nothing
        sent) any base URL that is not a loopback address."""
        self._t.send(_delete_local(self._t.base_url, model_id, options))


class AsyncModels(AsyncResource):
    """The async twin of `Models`."""

    async def create(self, name: str, **options: Unpack[CallOptions]) -> Model:
        return await self._t.request(Model, _create(name, options))

    async def list(self, **options: Unpack[CallOptions]) -> list[Model]:
        return (await self._t.request(ModelList, _list(options))).models

    async def get(self, model_id: str, **options: Unpack[CallOptions]) -> Model:
        return await self._t.request(
            Model, RequestSpec("GET", f"/models/{seg(model_id, 'model_id')}", **options)
        )

    async def delete_local(self, model_id: str, **options: Unpack[CallOptions]) -> None:
        """Local platform only: the async twin of `Models.delete_local`."""
        await self._t.send(_delete_local(self._t.base_url, model_id, options))
