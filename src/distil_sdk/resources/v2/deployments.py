"""``client.deployments``: serve a trained model on the platform (``/trainings/{id}/deployment``)."""

from __future__ import annotations

from typing_extensions import Unpack

from ..._http import CallOptions, RequestSpec
from ...types.jobs import Deployment
from .._base import AsyncResource, SyncResource, seg

__all__ = ["AsyncDeployments", "Deployments"]


def _spec(method: str, training_id: str, options: CallOptions) -> RequestSpec:
    return RequestSpec(
        method, f"/trainings/{seg(training_id, 'training_id')}/deployment", **options
    )


class Deployments(SyncResource):
    """Deployments of trained models (the embedded local platform answers 501).

    Example:
        >>> client.v2.deployments.create(training.id).status  # doctest: +SKIP
    """

    def create(self, training_id: str, **options: Unpack[CallOptions]) -> Deployment:
        """Deploy the training's model (``POST /trainings/{id}/deployment``)."""
        return self._t.request(Deployment, _spec("POST", training_id, options))

    def get(self, training_id: str, **options: Unpack[CallOptions]) -> Deployment:
        """The deployment record (``GET /trainings/{id}/deployment``)."""
        return self._t.request(Deployment, _spec("GET", training_id, options))

    def delete(self, training_id: str, **options: Unpack[CallOptions]) -> None:
        """Remove the deployment (``DELETE /trainings/{id}/deployment``)."""
        self._t.send(_spec("DELETE", training_id, options))


class AsyncDeployments(AsyncResource):
    """The async twin of `Deployments`."""

    async def create(self, training_id: str, **options: Unpack[CallOptions]) -> Deployment:
        return await self._t.request(Deployment, _spec("POST", training_id, options))

    async def get(self, training_id: str, **options: Unpack[CallOptions]) -> Deployment:
        return await self._t.request(Deployment, _spec("GET", training_id, options))

    async def delete(self, training_id: str, **options: Unpack[CallOptions]) -> None:
        await self._t.send(_spec("DELETE", training_id, options))
