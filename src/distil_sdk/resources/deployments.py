"""``client.deployments``: serve an SLM on the platform (``/deployments``)."""

from __future__ import annotations

from typing_extensions import Unpack

from .._errors import APIError, JobFailedError
from .._http import CallOptions, RequestSpec
from .._polling import wait_async, wait_sync
from ..types.entities import (
    CreateDeploymentRequest,
    Deployment,
    DeploymentEndpoint,
    DeploymentStatus,
    JobLogs,
)
from ._base import AsyncResource, SyncResource, WaitOptions, make_poller, seg
from ._entity import Parent, explained, with_log_tail

__all__ = ["AsyncDeployments", "Deployments"]

_KIND = "deployment"


def _create(slm_id: str, options: CallOptions) -> RequestSpec:
    body = CreateDeploymentRequest.model_validate({"from": slm_id}).to_body()
    return RequestSpec("POST", "/deployments/from-slms", json=body, **options)


def _get(deployment_id: str, sub: str, options: CallOptions) -> RequestSpec:
    return RequestSpec(
        "GET", f"/deployments/{seg(deployment_id, 'deployment_id')}/{sub}", **options
    )


def _delete(deployment_id: str, options: CallOptions) -> RequestSpec:
    return RequestSpec("DELETE", f"/deployments/{seg(deployment_id, 'deployment_id')}", **options)


class Deployments(SyncResource):
    """Deployments of SLMs: ``create``, ``status``, ``wait`` (on ``deployment_status``),
    ``endpoint``, ``logs``, ``delete``.

    A running deployment bills until its idle timeout: delete it when done, and check that
    ``endpoint_status`` reads ``stopped``.

    Example:
        >>> deployment = client.deployments.create(slm.id)  # doctest: +SKIP
        >>> client.deployments.wait(deployment.id)  # doctest: +SKIP
        >>> client.deployments.endpoint(deployment.id).url  # doctest: +SKIP
        >>> client.deployments.delete(deployment.id)  # doctest: +SKIP
    """

    def create(self, slm_id: str, **options: Unpack[CallOptions]) -> Deployment:
        """Deploy ``slm_id`` (``POST /deployments/from-slms``)."""
        with explained(
            route_key="deployments_from_slms_post", parent=Parent("SLM", slm_id, "slms")
        ):
            return self._t.request(Deployment, _create(slm_id, options))

    def status(self, deployment_id: str, **options: Unpack[CallOptions]) -> DeploymentStatus:
        """``deployment_status`` and ``endpoint_status`` (``GET /deployments/{id}/status``)."""
        with explained(parent=Parent(_KIND, deployment_id, "deployments")):
            return self._t.request(DeploymentStatus, _get(deployment_id, "status", options))

    def wait(self, deployment_id: str, **options: Unpack[WaitOptions]) -> DeploymentStatus:
        """Poll until ``deployment_status`` is final: ``JOB_SUCCESS`` means it is serving."""
        poller = make_poller(_KIND, deployment_id, self._t.clock, options, self._t.base_url)
        try:
            return wait_sync(poller, lambda: self.status(deployment_id), self._t.sleep)
        except JobFailedError as exc:
            try:
                logs: JobLogs | None = self.logs(deployment_id)
            except APIError:  # the failure is what matters; the log is a bonus
                logs = None
            new = with_log_tail(exc, logs)
            if new is exc:
                raise
            raise new from exc

    def endpoint(self, deployment_id: str, **options: Unpack[CallOptions]) -> DeploymentEndpoint:
        """The URL and key to call (``GET /deployments/{id}/endpoint``; the key stays hidden
        in reprs: ``.api_key.get_secret_value()``)."""
        return self._t.request(DeploymentEndpoint, _get(deployment_id, "endpoint", options))

    def logs(self, deployment_id: str, **options: Unpack[CallOptions]) -> JobLogs:
        """The deployment's log (``GET /deployments/{id}/logs``)."""
        return self._t.request(JobLogs, _get(deployment_id, "logs", options))

    def delete(self, deployment_id: str, **options: Unpack[CallOptions]) -> None:
        """Stop it (``DELETE /deployments/{id}``); ``endpoint_status`` then reads ``stopped``."""
        with explained(parent=Parent(_KIND, deployment_id, "deployments")):
            self._t.send(_delete(deployment_id, options))


class AsyncDeployments(AsyncResource):
    """The async twin of `Deployments`."""

    async def create(self, slm_id: str, **options: Unpack[CallOptions]) -> Deployment:
        with explained(
            route_key="deployments_from_slms_post", parent=Parent("SLM", slm_id, "slms")
        ):
            return await self._t.request(Deployment, _create(slm_id, options))

    async def status(self, deployment_id: str, **options: Unpack[CallOptions]) -> DeploymentStatus:
        with explained(parent=Parent(_KIND, deployment_id, "deployments")):
            return await self._t.request(DeploymentStatus, _get(deployment_id, "status", options))

    async def wait(self, deployment_id: str, **options: Unpack[WaitOptions]) -> DeploymentStatus:
        poller = make_poller(_KIND, deployment_id, self._t.clock, options, self._t.base_url)
        try:
            result: DeploymentStatus = await wait_async(
                poller, lambda: self.status(deployment_id), self._t.sleep
            )
            return result
        except JobFailedError as exc:
            try:
                logs: JobLogs | None = await self.logs(deployment_id)
            except APIError:
                logs = None
            new = with_log_tail(exc, logs)
            if new is exc:
                raise
            raise new from exc

    async def endpoint(
        self, deployment_id: str, **options: Unpack[CallOptions]
    ) -> DeploymentEndpoint:
        return await self._t.request(DeploymentEndpoint, _get(deployment_id, "endpoint", options))

    async def logs(self, deployment_id: str, **options: Unpack[CallOptions]) -> JobLogs:
        return await self._t.request(JobLogs, _get(deployment_id, "logs", options))

    async def delete(self, deployment_id: str, **options: Unpack[CallOptions]) -> None:
        with explained(parent=Parent(_KIND, deployment_id, "deployments")):
            await self._t.send(_delete(deployment_id, options))
