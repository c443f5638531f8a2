"""``DistilClient`` and ``AsyncDistilClient``: configuration, auth and resources wiring."""

from __future__ import annotations

import importlib
import os
import time
from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import Any, TypeVar

import httpx

from ._config import Settings, resolve_settings
from ._http import AsyncTransport, SyncTransport
from .resources import (
    AsyncDeployments,
    AsyncModels,
    AsyncTeacherEvaluations,
    AsyncTrainings,
    AsyncUploads,
    Deployments,
    Models,
    TeacherEvaluations,
    Trainings,
    Uploads,
)

__all__ = ["AsyncDistilClient", "DistilClient"]

C = TypeVar("C", bound="DistilClient")
A = TypeVar("A", bound="AsyncDistilClient")


def _settings(
    base_url: str | None,
    api_key: str | None,
    username: str | None,
    password: str | None,
    cognito_url: str | None,
    cognito_client_id: str | None,
    timeout: float | httpx.Timeout | None,
    max_retries: int | None,
) -> Settings:
    return resolve_settings(
        base_url=base_url,
        api_key=api_key,
        username=username,
        password=password,
        cognito_url=cognito_url,
        cognito_client_id=cognito_client_id,
        timeout=timeout,
        max_retries=max_retries,
    )


def _start_local(data_dir: str | os.PathLike[str] | None) -> Any:
    # Imported by name: the embedded platform is an optional part (the `local` extra) and is
    # only loaded when asked for.
    server = importlib.import_module("distil_sdk.local.server")
    return server.ensure_local_server(data_dir)


class DistilClient:
    """Synchronous client of the distil labs platform.

    Credentials come from the arguments or the environment (``DISTIL_API_KEY``, or
    ``DISTIL_USERNAME`` / ``DISTIL_PASSWORD``; ``DISTIL_BASE_URL``). See docs/client.md.

    Args:
        base_url: API root, default ``https://api.distillabs.ai``.
        api_key: a bearer token.
        username, password: Cognito credentials, exchanged for a token that is refreshed.
        cognito_url, cognito_client_id: override the Cognito endpoint / app client id.
        timeout: seconds or an :class:`httpx.Timeout` for every request (per call: ``timeout=``).
        max_retries: retries of a failed request, default 2 (per call: ``max_retries=``).
        http_client: your own :class:`httpx.Client` (proxies, certificates...); not closed by us.
        transport: an :class:`httpx.BaseTransport` for the client we create (tests, mocking).

    Example:
        >>> from distil_sdk import DistilClient
        >>> with DistilClient(api_key="...") as client:  # doctest: +SKIP
        ...     model = client.models.create("banking-intents")
        ...     upload = client.uploads.create(model.id, "my-task/")
        ...     training = client.trainings.create(model.id, upload.id)
        ...     client.trainings.wait(training.id, progress=True)
        ...     path = client.trainings.download_model(training.id, "out/")
    """

    models: Models
    uploads: Uploads
    teacher_evaluations: TeacherEvaluations
    trainings: Trainings
    deployments: Deployments

    def __init__(
        self,
        base_url: str | None = None,
        api_key: str | None = None,
        *,
        username: str | None = None,
        password: str | None = None,
        cognito_url: str | None = None,
        cognito_client_id: str | None = None,
        timeout: float | httpx.Timeout | None = None,
        max_retries: int | None = None,
        http_client: httpx.Client | None = None,
        transport: httpx.BaseTransport | None = None,
        _sleep: Callable[[float], None] = time.sleep,
        _clock: Callable[[], float] = time.monotonic,
    ) -> None:
        settings = _settings(base_url, api_key, username, password, cognito_url, cognito_client_id, timeout, max_retries)
        self._transport = SyncTransport(settings, http_client=http_client, transport=transport, sleep=_sleep, clock=_clock)
        self._on_close: list[Callable[[], None]] = []
        self.models = Models(self._transport)
        self.uploads = Uploads(self._transport)
        self.teacher_evaluations = TeacherEvaluations(self._transport)
        self.trainings = Trainings(self._transport)
        self.deployments = Deployments(self._transport)

    @classmethod
    def local(cls: type[C], data_dir: str | os.PathLike[str] | None = None, **kwargs: Any) -> C:
        """A client of the embedded local platform (started if needed, stopped on close)."""
        handle = _start_local(data_dir)
        try:
            client = cls(base_url=handle.base_url, api_key=handle.token, **kwargs)
        except BaseException:
            handle.close()
            raise
        client._on_close.append(handle.close)
        return client

    @property
    def base_url(self) -> str:
        return self._transport.base_url

    def close(self) -> None:
        """Close the connections (and the local platform started by :meth:`local`)."""
        self._transport.close()
        while self._on_close:
            self._on_close.pop()()

    def __enter__(self: C) -> C:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"{type(self).__name__}(base_url={self.base_url!r}, auth={self._transport.settings.auth!r})"


class AsyncDistilClient:
    """Asynchronous client of the distil labs platform: :class:`DistilClient` with ``await``.

    Example:
        >>> async with AsyncDistilClient() as client:  # doctest: +SKIP
        ...     status = await client.trainings.wait(training_id)
    """

    models: AsyncModels
    uploads: AsyncUploads
    teacher_evaluations: AsyncTeacherEvaluations
    trainings: AsyncTrainings
    deployments: AsyncDeployments

    def __init__(
        self,
        base_url: str | None = None,
        api_key: str | None = None,
        *,
        username: str | None = None,
        password: str | None = None,
        cognito_url: str | None = None,
        cognito_client_id: str | None = None,
        timeout: float | httpx.Timeout | None = None,
        max_retries: int | None = None,
        http_client: httpx.AsyncClient | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        _sleep: Callable[[float], Awaitable[None]] | None = None,
        _clock: Callable[[], float] = time.monotonic,
    ) -> None:
        settings = _settings(base_url, api_key, username, password, cognito_url, cognito_client_id, timeout, max_retries)
        self._transport = AsyncTransport(settings, http_client=http_client, transport=transport, sleep=_sleep, clock=_clock)
        self._on_close: list[Callable[[], None]] = []
        self.models = AsyncModels(self._transport)
        self.uploads = AsyncUploads(self._transport)
        self.teacher_evaluations = AsyncTeacherEvaluations(self._transport)
        self.trainings = AsyncTrainings(self._transport)
        self.deployments = AsyncDeployments(self._transport)

    @classmethod
    def local(cls: type[A], data_dir: str | os.PathLike[str] | None = None, **kwargs: Any) -> A:
        """A client of the embedded local platform (started if needed, stopped on close)."""
        handle = _start_local(data_dir)
        try:
            client = cls(base_url=handle.base_url, api_key=handle.token, **kwargs)
        except BaseException:
            handle.close()
            raise
        client._on_close.append(handle.close)
        return client

    @property
    def base_url(self) -> str:
        return self._transport.base_url

    async def close(self) -> None:
        """Close the connections (and the local platform started by :meth:`local`)."""
        await self._transport.close()
        while self._on_close:
            self._on_close.pop()()

    async def __aenter__(self: A) -> A:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    def __repr__(self) -> str:
        return f"{type(self).__name__}(base_url={self.base_url!r}, auth={self._transport.settings.auth!r})"
