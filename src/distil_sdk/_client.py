"""``DistilClient`` and ``AsyncDistilClient``: configuration, auth and resources wiring."""

from __future__ import annotations

import importlib
import os
import time
from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypeVar

import httpx

from ._config import resolve_settings
from ._http import AsyncTransport, SyncTransport
from ._polling import DEFAULT_WAIT_TIMEOUT_S
from .resources import (
    V2,
    ApiKeys,
    AsyncApiKeys,
    AsyncCredits,
    AsyncDatasets,
    AsyncDeployments,
    AsyncInferenceEndpoints,
    AsyncPreparedTraces,
    AsyncSeedDatasets,
    AsyncSLMs,
    AsyncTeacherEvaluations,
    AsyncTrainingDatasets,
    AsyncV2,
    Credits,
    Datasets,
    Deployments,
    InferenceEndpoints,
    PreparedTracesResource,
    SeedDatasets,
    SLMs,
    TeacherEvaluations,
    TrainingDatasets,
)
from .resources._train import train_async, train_sync
from .types.entities import TrainedModel

if TYPE_CHECKING:
    from .resources.datasets import TaskLike

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
        api_key: a fixed bearer token (it expires: tokens last about an hour, trainings hours).
        username, password: Cognito credentials, exchanged for a token that is refreshed.
        cognito_url, cognito_client_id: override the Cognito endpoint / app client id.
        token_provider: a callable returning a fresh token; called at the first request and
            again whenever the platform rejects the token (``DISTIL_TOKEN_COMMAND`` runs a
            command instead).
        timeout: seconds or an `httpx.Timeout` for every request (per call: ``timeout=``).
        max_retries: retries of a failed request, default 2 (per call: ``max_retries=``).
        http_client: your own `httpx.Client` (proxies, certificates...); not closed by us.
        transport: an `httpx.BaseTransport` for the client we create (tests, mocking).

    Example:
        >>> from distil_sdk import DistilClient
        >>> with DistilClient(api_key="...") as client:  # doctest: +SKIP
        ...     dataset = client.datasets.create("my-task/")
        ...     slm = client.slms.create(dataset.id)
        ...     client.slms.wait(slm.id, progress=True)
        ...     path = client.slms.download_model(slm.id, "out/")
        ...     # or all of it at once: client.train("my-task/", "out/")
    """

    datasets: Datasets
    teacher_evaluations: TeacherEvaluations
    slms: SLMs
    deployments: Deployments
    inference_endpoints: InferenceEndpoints
    api_keys: ApiKeys
    prepared_traces: PreparedTracesResource
    credits: Credits
    seed_datasets: SeedDatasets
    training_datasets: TrainingDatasets
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
        token_provider: Callable[[], str] | None = None,
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
            token_provider=token_provider,
        )
        self._transport = SyncTransport(
            settings, http_client=http_client, transport=transport, sleep=_sleep, clock=_clock
        )
        self._on_close: list[Callable[[], None]] = []
        self._wire()

    def _wire(self) -> None:
        t = self._transport
        self.datasets = Datasets(t)
        self.teacher_evaluations = TeacherEvaluations(t)
        self.slms = SLMs(t)
        self.deployments = Deployments(t)
        self.inference_endpoints = InferenceEndpoints(t)
        self.api_keys = ApiKeys(t)
        self.prepared_traces = PreparedTracesResource(t)
        self.credits = Credits(t)
        self.seed_datasets = SeedDatasets(t)
        self.training_datasets = TrainingDatasets(t)
        self.v2 = V2(t)

    def train(
        self,
        task: TaskLike,
        output_dir: str | os.PathLike[str],
        *,
        config: Any = None,
        job_description: Any = None,
        teacher_evaluation: bool = True,
        smoke: bool = False,
        progress: bool = False,
        force: bool = False,
        timeout: float | None = DEFAULT_WAIT_TIMEOUT_S,
        on_event: Callable[[str], None] | None = None,
    ) -> TrainedModel:
        """Train a classifier in one call: dataset, teacher evaluation, SLM, download.

        Args:
            task: a `TaskBundle` or a task folder (validated locally first).
            output_dir: where the model's whole layout goes (``model/``, ``config.yaml``...);
                it is replaced only when the new model is complete.
            config, job_description: whole overrides for the jobs (``Override``, mapping...).
            teacher_evaluation: run the teacher evaluation first (its score is the target).
            smoke: train on the platform's smoke route (a short memory check).
            progress: status lines and a download bar on stderr.
            force: replace a non-empty ``output_dir``.
            timeout: seconds each job may take (None: no limit).
            on_event: called with one human line per step (default: logged at INFO).

        Returns a `TrainedModel`: the ids, the three scores and
        ``model_dir``, the folder `LocalClassifier` loads. The student
        scores (``base_model``, ``tuned_model``) are never ``None``: a job that succeeds
        without its scores raises `JobResultsMissingError` naming it,
        before anything is downloaded.

        Example:
            >>> with DistilClient.local() as client:  # doctest: +SKIP
            ...     trained = client.train("examples/helpdesk-triage", "runs/triage")
            >>> trained.tuned_model.accuracy, trained.model_dir  # doctest: +SKIP
        """
        return train_sync(
            self,
            task,
            output_dir,
            config=config,
            job_description=job_description,
            teacher_evaluation=teacher_evaluation,
            smoke=smoke,
            progress=progress,
            force=force,
            timeout=timeout,
            on_event=on_event,
        )

    def close(self) -> None:
        """Close the connections (and the local platform started by `local`)."""
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
    """Asynchronous client of the distil labs platform: `DistilClient` with ``await``.

    Example:
        >>> async with AsyncDistilClient() as client:  # doctest: +SKIP
        ...     status = await client.slms.wait(slm_id)
    """

    datasets: AsyncDatasets
    teacher_evaluations: AsyncTeacherEvaluations
    slms: AsyncSLMs
    deployments: AsyncDeployments
    inference_endpoints: AsyncInferenceEndpoints
    api_keys: AsyncApiKeys
    prepared_traces: AsyncPreparedTraces
    credits: AsyncCredits
    seed_datasets: AsyncSeedDatasets
    training_datasets: AsyncTrainingDatasets
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
        token_provider: Callable[[], str] | None = None,
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
            token_provider=token_provider,
        )
        self._transport = AsyncTransport(
            settings, http_client=http_client, transport=transport, sleep=_sleep, clock=_clock
        )
        self._on_close: list[Callable[[], None]] = []
        self._wire()

    def _wire(self) -> None:
        t = self._transport
        self.datasets = AsyncDatasets(t)
        self.teacher_evaluations = AsyncTeacherEvaluations(t)
        self.slms = AsyncSLMs(t)
        self.deployments = AsyncDeployments(t)
        self.inference_endpoints = AsyncInferenceEndpoints(t)
        self.api_keys = AsyncApiKeys(t)
        self.prepared_traces = AsyncPreparedTraces(t)
        self.credits = AsyncCredits(t)
        self.seed_datasets = AsyncSeedDatasets(t)
        self.training_datasets = AsyncTrainingDatasets(t)
        self.v2 = AsyncV2(t)

    async def train(
        self,
        task: TaskLike,
        output_dir: str | os.PathLike[str],
        *,
        config: Any = None,
        job_description: Any = None,
        teacher_evaluation: bool = True,
        smoke: bool = False,
        progress: bool = False,
        force: bool = False,
        timeout: float | None = DEFAULT_WAIT_TIMEOUT_S,
        on_event: Callable[[str], None] | None = None,
    ) -> TrainedModel:
        """The async twin of `DistilClient.train`."""
        return await train_async(
            self,
            task,
            output_dir,
            config=config,
            job_description=job_description,
            teacher_evaluation=teacher_evaluation,
            smoke=smoke,
            progress=progress,
            force=force,
            timeout=timeout,
            on_event=on_event,
        )

    async def close(self) -> None:
        """Close the connections (and the local platform started by `local`)."""
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
