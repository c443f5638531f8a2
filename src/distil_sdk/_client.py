"""``DistilClient`` and ``AsyncDistilClient``: configuration, auth and resources wiring."""

from __future__ import annotations

import importlib
import os
import time
from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import Any, TypeVar

import httpx

from ._config import resolve_settings
from ._http import AsyncTransport, SyncTransport
from .resources import V2, AsyncV2

__all__ = ["AsyncDistilClient", "DistilClient"]

C = TypeVar("C", bound="DistilClient")
A = TypeVar("A", bound="AsyncDistilClient")


B = TypeVar("B", bound="_ClientBase")


class _ClientBase:
    """What both clients share: the embedded-platform hook, ``base_url`` and a secret-free repr."""

    _transport: SyncTransport | AsyncTransport
    _on_close: list[Callable[[], None]]

    def __init__(self, **kwargs: Any) -> None:  # the subclasses define the real signature
        raise NotImplementedError

    @classmethod
    def local(cls: type[B], data_dir: str | os.PathLike[str] | None = None, **kwargs: Any) -> B:
        """A client of the embedded local platform (started if needed, stopped on close).

        ``kwargs`` go to the constructor (``timeout``, ``max_retries``...).
        """
        # Imported by name: the embedded platform is an optional part (the `local` extra) and
        # is only loaded when asked for.
        server = importlib.import_module("distil_sdk.local.server")
        handle = server.ensure_local_server(data_dir)
        try:
            client = cls(base_url=handle.base_url, api_key=handle.token, **kwargs)
        except BaseException:
            handle.close()
            raise
        client._on_close.append(handle.close)
        return client

    @property
    def base_url(self) -> str:
        """The API root this client talks to."""
        return self._transport.base_url

    def _close_hooks(self) -> None:
        while self._on_close:
            self._on_close.pop()()

    def __repr__(self) -> str:
        return f"{type(self).__name__}(base_url={self.base_url!r}, auth={self._transport.settings.auth!r})"


class DistilClient(_ClientBase):
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
        ...     model = client.v2.models.create("banking-intents")
        ...     upload = client.v2.uploads.create(model.id, "my-task/")
        ...     training = client.v2.trainings.create(model.id, upload.id)
        ...     client.v2.trainings.wait(training.id, progress=True)
        ...     path = client.v2.trainings.download_model(training.id, "out/")
    """

    v2: V2
    _transport: SyncTransport

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
        settings = resolve_settings(
            base_url,
            api_key,
            username,
            password,
            cognito_url,
            cognito_client_id,
            timeout,
            max_retries,
        )
        self._transport = SyncTransport(
            settings, http_client=http_client, transport=transport, sleep=_sleep, clock=_clock
        )
        self._on_close: list[Callable[[], None]] = []
        self.v2 = V2(self._transport)

    def close(self) -> None:
        """Close the connections (and the local platform started by :meth:`local`)."""
        self._transport.close()
        self._close_hooks()

    def __enter__(self: C) -> C:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class AsyncDistilClient(_ClientBase):
    """Asynchronous client of the distil labs platform: :class:`DistilClient` with ``await``.

    Example:
        >>> async with AsyncDistilClient() as client:  # doctest: +SKIP
        ...     status = await client.v2.trainings.wait(training_id)
    """

    v2: AsyncV2
    _transport: AsyncTransport

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
        settings = resolve_settings(
            base_url,
            api_key,
            username,
            password,
            cognito_url,
            cognito_client_id,
            timeout,
            max_retries,
        )
        self._transport = AsyncTransport(
            settings, http_client=http_client, transport=transport, sleep=_sleep, clock=_clock
        )
        self._on_close: list[Callable[[], None]] = []
        self.v2 = AsyncV2(self._transport)

    async def close(self) -> None:
        """Close the connections (and the local platform started by :meth:`local`)."""
        await self._transport.close()
        self._close_hooks()

    async def __aenter__(self: A) -> A:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()
