"""`RayModelServer`: the model server's app as a Ray Serve deployment of N replicas.

Each replica loads the model once and runs the same FastAPI app as `ModelServer` (routes, keys,
error shapes, its own micro-batcher and metrics); Ray Serve's HTTP proxy spreads the requests
over the replicas. Ray is imported only here, when ``engine="ray"`` asks for it.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .._errors import DistilError
from ._server import DRAIN_TIMEOUT_S, ModelServer, _is_loopback

__all__ = ["RayModelServer"]

logger = logging.getLogger("distil_sdk.serving")

#: How long the replicas may take to load the model and answer ``/health`` through the proxy.
READY_TIMEOUT_S = 300.0


class _Keys:
    """The API keys on their way to the replicas (in what Serve pickles): a repr that never
    shows them, should Ray or a traceback print what it holds."""

    def __init__(self, keys: tuple[bytes, ...]) -> None:
        self.keys = keys

    def __repr__(self) -> str:
        return f"<{len(self.keys)} API key(s)>"


@dataclass(frozen=True)
class _Settings:
    """What every replica needs besides the model and the keys."""

    model_name: str
    max_batch_size: int
    max_wait_s: float | None
    max_queue: int
    max_request_texts: int
    workers: int | None


def _replica_app(
    source: Any, load_kwargs: dict[str, Any], keys: _Keys, settings: _Settings
) -> Callable[[], Any]:
    """What Ray Serve calls once in each replica: load the model, return the app serving it.

    A plain function (Serve pickles it with what it holds and calls it at replica start), so the
    model loads once per replica and never on the driver. The app's lifespan, which Serve runs,
    starts the replica's own micro-batcher and drains it when the replica stops.
    """

    def build() -> Any:
        from ..inference import LocalClassifier
        from ._app import create_app
        from ._metrics import ServerMetrics
        from ._state import ServerState

        # A LocalClassifier arrives already reloaded from its path (its __setstate__).
        model = (
            source
            if isinstance(source, LocalClassifier)
            else LocalClassifier.from_pretrained(source, **load_kwargs)
        )
        state = ServerState(
            model=model,
            model_name=settings.model_name,
            api_keys=keys.keys,
            max_batch_size=settings.max_batch_size,
            max_wait_s=settings.max_wait_s,
            max_queue=settings.max_queue,
            max_request_texts=settings.max_request_texts,
            metrics=ServerMetrics(),
            workers=settings.workers,
        )
        return create_app(state)

    return build


def _free_port(host: str) -> int:
    """A port nothing listens on now (Ray Serve's proxy cannot be told to pick one)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def _check_port(host: str, port: int) -> None:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            raise DistilError(
                f"cannot listen on {host}:{port} ({exc.strerror or exc}); "
                "pick another --port (0 picks a free one)"
            ) from exc


class RayModelServer(ModelServer):
    """`ModelServer` as a Ray Serve application: ``replicas`` copies of the model behind Ray
    Serve's HTTP proxy, each with its own micro-batcher.

    The routes, keys, limits and error answers are `ModelServer`'s; the limits (queue, batch
    size) and ``/metrics`` are per replica, and Ray Serve's proxy picks the replica of each
    request. Without a running Ray (``ray.init``) and no ``address`` (nor ``$RAY_ADDRESS``), a
    Ray instance starts on this machine for the server and stops with it.

    Args:
        model: a model folder or ``.tar`` (a path every Ray node can read), or a
            `LocalClassifier` loaded from one (sent as its path and options).
        replicas: copies of the model; each loads it once.
        num_cpus: CPUs Ray reserves per replica; Ray sets the replica's torch threads to it.
        num_gpus: GPUs per replica (``1`` on GPU nodes; the model then loads on its GPU).
        address: the Ray cluster to join (default ``$RAY_ADDRESS``, else a local instance).
        app_name: the Ray Serve application's name.
        **options: `ModelServer`'s arguments (``host``, ``port``, ``api_keys``, limits, and
            `LocalClassifier.from_pretrained` keywords). ``port=0`` picks a port free here.

    Example:
        >>> with RayModelServer("model/", replicas=2, port=0) as server:  # doctest: +SKIP
        ...     print(server.base_url)
    """

    def __init__(
        self,
        model: Any,
        *,
        replicas: int = 1,
        num_cpus: float = 1.0,
        num_gpus: float = 0.0,
        address: str | None = None,
        app_name: str = "distil-model-server",
        **options: Any,
    ) -> None:
        if options.get("generate"):
            raise ValueError(
                "generate=True (--generate) is not served on Ray; serve it with engine='local'"
            )
        options.pop("generate", None)
        super().__init__(model, **options)
        if replicas < 1:
            raise ValueError(f"replicas must be >= 1, got {replicas}")
        if num_cpus < 0 or num_gpus < 0:
            raise ValueError(f"num_cpus and num_gpus must be >= 0, got {num_cpus}, {num_gpus}")
        self.replicas, self.num_cpus, self.num_gpus = replicas, num_cpus, num_gpus
        self.address, self.app_name = address, app_name
        self._ray: Any = None  # the ray and ray.serve modules, once started
        self._serve: Any = None
        self._own_ray = False  # Ray started here: stopped by close
        self._own_serve = False  # Ray Serve started here: shut down by close
        self._deployed = False  # the application was (perhaps partly) deployed
        self._running = False

    def __repr__(self) -> str:  # never show the keys
        return (
            f"{type(self).__name__}(model_name={self.model_name!r}, replicas={self.replicas}, "
            f"base_url={self.base_url or None!r}, api_keys={len(self._keys)})"
        )

    @property
    def model(self) -> Any:
        """``None``: the model lives in the replicas."""
        return None

    def start(self) -> RayModelServer:
        """Start Ray (if needed) and Ray Serve, deploy the replicas and wait until the proxy
        answers ``/health``.

        Raises:
            DistilError: Ray is missing, the port is taken, or the replicas did not start.
            ModelLoadError: the model path does not exist.
        """
        ray, serve = _import_ray_serve()
        from ..batch._ray import _model_source

        source = _model_source(self._source)
        self._ray, self._serve = ray, serve
        try:
            self._start_serve(ray, serve)
            self._deployed = True
            serve.run(self._application(serve, source), name=self.app_name, route_prefix="/")
            self._running = True
            self._wait_ready()
        except BaseException:
            self._stop()
            raise
        if not self._keys and not _is_loopback(self.host):
            logger.warning(
                "serving on %s without API keys: anyone who reaches it can use the model "
                "(set --api-key or $DISTIL_SERVE_API_KEYS)",
                self.host,
            )
        logger.info("serving %s on Ray Serve at %s", self.model_name, self.base_url)
        return self

    def _start_serve(self, ray: Any, serve: Any) -> None:
        """Ray (joined or started here, quiet) and Ray Serve's proxy on ``host:port``."""
        from ..batch._ray import ray_log_level, start_ray

        level = ray_log_level(None)
        if not ray.is_initialized():
            local = not (self.address or os.environ.get("RAY_ADDRESS"))
            if local and self.port == 0:
                self.port = _free_port(self.host)
            if local:
                _check_port(self.host, self.port)
            start_ray(ray, level, address=self.address)
            self._own_ray = True
        elif self.port == 0:
            self.port = _free_port(self.host)
        logging.getLogger("ray.serve").setLevel(level)  # Serve's own INFO lines, as Ray's
        self._check_resources(ray)
        from ray.serve.context import _get_global_client

        if _get_global_client(raise_if_no_controller_running=False) is None:
            # No Serve on this cluster yet: start it, its proxy on our address.
            serve.start(http_options={"host": self.host, "port": self.port})
            self._own_serve = True
        else:
            logger.warning(
                "Ray Serve already runs on this cluster: its HTTP address stands, whatever "
                "--host/--port say"
            )
        host = f"[{self.host}]" if ":" in self.host else self.host
        self.base_url = f"http://{host}:{self.port}"

    def _check_resources(self, ray: Any) -> None:
        """Replicas that can never be placed fail here, not as a start that waits forever."""
        total = ray.cluster_resources()
        for kind, each in (("CPU", self.num_cpus), ("GPU", self.num_gpus)):
            needed, have = each * self.replicas, float(total.get(kind, 0))
            if needed > have:
                message = (
                    f"{self.replicas} replica(s) x {each:g} {kind} need {needed:g} {kind}s; the "
                    f"Ray cluster has {have:g}: pass fewer replicas or a smaller "
                    f"num_{kind.lower()}s (--num-{kind.lower()}s)"
                )
                if self._own_ray:  # a local instance never grows
                    raise DistilError(message)
                logger.warning("%s (waiting for the cluster to grow)", message)

    def _application(self, serve: Any, source: Any) -> Any:
        """The application: one deployment of ``replicas`` copies; Serve's own router picks
        the replica of each request."""
        settings = _Settings(
            model_name=self.model_name,
            max_batch_size=self.max_batch_size,
            max_wait_s=None if self.max_wait_ms is None else self.max_wait_ms / 1000.0,
            max_queue=self.max_queue,
            max_request_texts=self.max_request_texts,
            workers=self.workers,
        )
        keys = _Keys(self._keys)
        build = _replica_app(source, dict(self._load_kwargs), keys, settings)
        deployment = serve.deployment(
            serve.ingress(build)(),
            name="model",
            num_replicas=self.replicas,
            ray_actor_options={"num_cpus": self.num_cpus, "num_gpus": self.num_gpus},
            # Serve's default (5 requests in a replica) would keep the micro-batcher from
            # filling a batch; its own queue limit (429) bounds the replica instead.
            max_ongoing_requests=self.max_queue,
            graceful_shutdown_timeout_s=DRAIN_TIMEOUT_S,
        )
        return deployment.bind()

    def _wait_ready(self) -> None:
        """Until ``/health`` answers 200 through the proxy (it learns the routes after the
        replicas are up)."""
        import httpx

        deadline = time.monotonic() + READY_TIMEOUT_S
        url = f"{self.base_url}/health"
        while True:
            try:
                if httpx.get(url, timeout=5.0).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise DistilError(
                    f"the Ray Serve proxy at {self.base_url} did not answer /health within "
                    f"{READY_TIMEOUT_S:.0f} s; see Ray's logs (/tmp/ray/session_latest/logs)"
                )
            time.sleep(0.2)

    @property
    def running(self) -> bool:
        """Whether the application is deployed (from `start` until `close`)."""
        return self._running

    def __enter__(self) -> RayModelServer:
        return self if self._running else self.start()

    def wait(self) -> None:
        """Block until the application stops (another driver deleted it, or Ctrl-C here)."""
        while self._running:
            time.sleep(1.0)
            status = self._serve.status().applications.get(self.app_name)
            if status is None or str(status.status).endswith(("DELETING", "DEPLOY_FAILED")):
                self._running = False

    def close(self) -> None:
        """Delete the application (each replica answers its queued requests first), then stop
        the Ray Serve and Ray started by `start`."""
        if self._closed:
            return
        self._closed = True
        self._stop()

    def _stop(self) -> None:
        ray, serve, self._running = self._ray, self._serve, False
        if ray is None or not ray.is_initialized():
            return
        try:
            if self._own_serve and not self._own_ray:
                serve.shutdown()  # deletes the application too
            elif self._deployed:
                # The replicas drain; then Ray's own shutdown takes Serve with it (Serve's
                # shutdown would add a line of Ray noise), or a Serve that was running before
                # keeps serving the rest.
                serve.delete(self.app_name)
        finally:
            if self._own_ray:
                ray.shutdown()


def _import_ray_serve() -> tuple[Any, Any]:
    try:
        import ray
        from ray import serve
    except ImportError as exc:
        raise DistilError(
            f"serving on Ray needs Ray Serve ({exc.name} is missing): pip install 'distil-sdk[ray]'"
        ) from exc
    return ray, serve
