"""`ModelServer`: uvicorn in a background thread serving one model; `serve_model` blocks."""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import os
import signal
import sys
import threading
from pathlib import Path
from types import FrameType, TracebackType
from typing import TYPE_CHECKING, Any

from .._errors import DistilError
from .._uvicorn_thread import ServerThread, listening_socket
from ._metrics import ServerMetrics

if TYPE_CHECKING:
    from ._state import ServerState

__all__ = ["API_KEYS_ENV", "ModelServer", "serve_model"]

logger = logging.getLogger("distil_sdk.serving")

API_KEYS_ENV = "DISTIL_SERVE_API_KEYS"
DRAIN_TIMEOUT_S = 600.0


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _default_name(model: Any) -> str:
    """The model's name on the server: its folder or file name, without archive suffixes."""
    path = getattr(model, "model_path", None) if not isinstance(model, str | os.PathLike) else model
    name = Path(str(path)).name if path is not None else "model"
    for suffix in (".tar.gz", ".tgz", ".tar", ".gguf"):
        if name.endswith(suffix):
            name = name[: -len(suffix)]
    return name or "model"


def keys_from_env() -> list[str]:
    """API keys from ``$DISTIL_SERVE_API_KEYS`` (comma-separated; blanks ignored)."""
    return [key.strip() for key in os.environ.get(API_KEYS_ENV, "").split(",") if key.strip()]


def _positive(name: str, value: float) -> None:
    if value <= 0:
        raise ValueError(f"{name} must be > 0, got {value}")


class ModelServer:
    """An HTTP server for one model, with dynamic micro-batching, in a background thread.

    Routes: TEI's ``POST /predict``, vLLM's ``POST /v1/classify``, OpenAI's ``POST
    /v1/chat/completions`` and ``GET /v1/models``, ``GET /health``, ``/info`` and ``/metrics``
    (docs/serving.md). Concurrent requests' texts share forward passes of up to
    ``max_batch_size`` texts.

    Args:
        model: a model folder, ``.tar``/``.tar.gz``, ``.gguf`` or hub id that
            `LocalClassifier.from_pretrained` loads (at `start`), or a loaded `LocalClassifier`.
        host: interface to bind; loopback by default.
        port: TCP port (default 11434, where generated ``model_client.py`` files look); 0
            picks a free one.
        api_keys: Bearer keys every route but ``/health`` requires (default: none, open).
        model_name: the name ``/v1/models`` lists and answers carry (default: the model's
            folder or file name). Requests naming another model are served all the same.
        max_batch_size: most texts per forward pass.
        max_wait_ms: how long a batch is held open for more texts once one waits. The default,
            None, waits adaptively: a batch runs as soon as the model is free, except while the
            clients of the batch just answered are coming back (at most a quarter of that
            batch's run time, 20 ms); a lone request never waits. A number fixes the wait (0:
            none).
        max_queue: most texts waiting; past it requests get 429 with ``Retry-After``.
        max_request_texts: most texts in one request; more get 413.
        workers: most batches running at once, each in its own thread (on CPU with an equal
            share of torch's threads). The default, None, is 2 for a classifier on a CPU with
            two or more threads (1 for an int8 one, run by ONNX Runtime), else 1; a
            generating model always has 1.
        generate: serve a chat LLM instead of a classifier: ``model`` is a hub id (in the local
            Hugging Face cache), folder or ``.gguf`` of a causal LM with a chat template (or a
            generative `LocalClassifier`), ``/v1/chat/completions`` generates text (requests
            one at a time) and ``/predict`` / ``/v1/classify`` answer 400.
        **load_kwargs: passed to `LocalClassifier.from_pretrained` (``device``,
            ``precision``, ``max_length``, ...); with ``generate`` only ``device``, ``dtype``
            and ``allow_pickle``.

    Example:
        >>> with ModelServer("model/", port=0) as server:  # doctest: +SKIP
        ...     print(server.base_url)
    """

    def __init__(
        self,
        model: Any,
        *,
        host: str = "127.0.0.1",
        port: int = 11434,
        api_keys: list[str] | tuple[str, ...] | None = None,
        model_name: str | None = None,
        max_batch_size: int = 64,
        max_wait_ms: float | None = None,
        max_queue: int = 1024,
        max_request_texts: int = 1024,
        workers: int | None = None,
        generate: bool = False,
        **load_kwargs: Any,
    ) -> None:
        for name, value in (
            ("max_batch_size", max_batch_size),
            ("max_queue", max_queue),
            ("max_request_texts", max_request_texts),
        ):
            _positive(name, value)
        if max_wait_ms is not None and max_wait_ms < 0:
            raise ValueError(f"max_wait_ms must be >= 0, got {max_wait_ms}")
        if workers is not None:
            _positive("workers", workers)
            if generate and workers > 1:
                raise ValueError("a generating model runs one request at a time: workers=1")
        keys = list(api_keys or ())
        if any(not isinstance(key, str) or not key.strip() for key in keys):
            raise ValueError("api_keys must be non-empty strings")
        unused = set(load_kwargs) - {"device", "dtype", "allow_pickle"} if generate else set()
        if unused:
            raise TypeError(
                f"loading options {', '.join(sorted(unused))} do not apply with generate=True "
                "(device, dtype and allow_pickle do)"
            )
        if load_kwargs and not isinstance(model, str | os.PathLike):
            raise TypeError(
                f"loading options ({', '.join(sorted(load_kwargs))}) need a model path, "
                "not a loaded classifier"
            )
        self.host, self.port = host, port
        self.model_name = model_name or _default_name(model)
        self.max_batch_size, self.max_wait_ms = max_batch_size, max_wait_ms
        self.max_queue, self.max_request_texts = max_queue, max_request_texts
        self.workers = workers
        self.metrics = ServerMetrics()
        self._source = model
        self._keys = tuple(key.strip().encode("utf-8") for key in keys)
        self._load_kwargs = load_kwargs
        self._generate = generate
        self._state: ServerState | None = None  # set by start
        self._http: ServerThread | None = None
        self._closed = False
        self.base_url = ""

    def __repr__(self) -> str:  # never show the keys
        return (
            f"{type(self).__name__}(model_name={self.model_name!r}, "
            f"base_url={self.base_url or None!r}, api_keys={len(self._keys)})"
        )

    @property
    def model(self) -> Any:
        """The served `LocalClassifier`, or text generator with ``generate`` (loaded by `start`)."""
        return self._state.model if self._state is not None else None

    def start(self) -> ModelServer:
        """Load the model, bind the port and serve; returns once requests are answered.

        Raises:
            DistilError: the server did not start (the port is taken, ...).
        """
        from ._app import create_app
        from ._state import ServerState

        model = self._source
        if self._generate:
            from ._generate import TextGenerator

            model = (
                TextGenerator.load(model, **self._load_kwargs)
                if isinstance(model, str | os.PathLike)
                else TextGenerator.from_classifier(model)
            )
        elif isinstance(model, str | os.PathLike):
            from ..inference import LocalClassifier

            model = LocalClassifier.from_pretrained(model, **self._load_kwargs)
        self._state = ServerState(
            model=model,
            model_name=self.model_name,
            api_keys=self._keys,
            max_batch_size=self.max_batch_size,
            max_wait_s=None if self.max_wait_ms is None else self.max_wait_ms / 1000.0,
            max_queue=self.max_queue,
            max_request_texts=self.max_request_texts,
            metrics=self.metrics,
            workers=self.workers,
        )
        try:
            self._bind_and_run(create_app(self._state))
        except BaseException:
            self._stop()
            raise
        host = f"[{self.host}]" if ":" in self.host else self.host
        self.base_url = f"http://{host}:{self.port}"
        if not self._keys and not _is_loopback(self.host):
            logger.warning(
                "serving on %s without API keys: anyone who reaches it can use the model "
                "(set --api-key or $%s)",
                self.host,
                API_KEYS_ENV,
            )
        logger.info("serving %s at %s", self.model_name, self.base_url)
        return self

    def _bind_and_run(self, app: Any) -> None:
        sock = listening_socket(self.host)
        try:
            sock.bind((self.host, self.port))
        except OSError as exc:
            sock.close()
            raise DistilError(
                f"cannot listen on {self.host}:{self.port} ({exc.strerror or exc}); "
                "pick another --port (0 picks a free one)"
            ) from exc
        self.port = sock.getsockname()[1]
        self._http = ServerThread(
            app,
            sock,
            name="distil-model-server",
            failure=f"the model server for {self.model_name} failed to start",
        )

    @property
    def running(self) -> bool:
        """Whether the server thread is alive."""
        return self._http is not None and self._http.running

    def wait(self) -> None:
        """Block until the server stops."""
        if self._http is not None:
            self._http.wait()

    def close(self) -> None:
        """Stop gracefully: refuse new requests (``/health`` says 503), answer every queued one,
        then stop serving."""
        if self._closed:
            return
        self._closed = True
        state = self._state
        loop = state.loop if state is not None else None
        if state is not None and state.batcher is not None and loop is not None and self.running:
            drained = asyncio.run_coroutine_threadsafe(_drain(state), loop)
            try:
                drained.result(DRAIN_TIMEOUT_S)
            except Exception:  # a timeout: stop anyway, uvicorn still ends open requests
                logger.warning("the model server did not drain in %.0f s", DRAIN_TIMEOUT_S)
        self._stop()

    def _stop(self) -> None:
        if self._http is not None:
            self._http.stop()

    def __enter__(self) -> ModelServer:
        return self if self._http is not None else self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


async def _drain(state: ServerState) -> None:
    """Refuse new requests, then wait for the queued texts and a text generator's replies."""
    assert state.batcher is not None
    await state.batcher.drain()
    idle = getattr(state.model, "idle", None)  # `TextGenerator.idle`
    if idle is not None:
        await idle()


def serve_model(model: Any, *, engine: str = "local", **options: Any) -> None:
    """Serve ``model`` in the foreground until Ctrl-C or SIGTERM, then drain and return.

    Takes `ModelServer`'s arguments; prints ``serving NAME at URL`` on stderr once serving.
    ``engine="ray"`` serves it on Ray Serve instead, with `RayModelServer`'s extra arguments
    (``replicas``, ``num_cpus``, ``num_gpus``, ``address``).
    """
    server = _server_for(engine, model, options).start()
    sys.stderr.write(f"serving {server.model_name} at {server.base_url}\n")
    sys.stderr.flush()

    def _graceful(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    in_main = threading.current_thread() is threading.main_thread()
    previous: Any = signal.signal(signal.SIGTERM, _graceful) if in_main else None
    try:
        server.wait()
    except KeyboardInterrupt:
        logger.info("stopping the model server: answering queued requests first")
    finally:
        server.close()
        if in_main:
            signal.signal(signal.SIGTERM, previous)


def _server_for(engine: str, model: Any, options: dict[str, Any]) -> ModelServer:
    """A `ModelServer` (``engine="local"``) or a `RayModelServer` (``"ray"``), not started."""
    if engine == "ray":
        from ._ray_serve import RayModelServer

        return RayModelServer(model, **options)
    if engine != "local":
        raise ValueError(f"engine must be 'local' or 'ray', got {engine!r}")
    ray_only = sorted({"replicas", "num_cpus", "num_gpus", "address"} & set(options))
    if ray_only:
        raise TypeError(f"{', '.join(ray_only)}: only with engine='ray'")
    return ModelServer(model, **options)
