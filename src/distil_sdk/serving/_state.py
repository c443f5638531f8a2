"""What the model server's routes share: its state and its error answers."""

from __future__ import annotations

import asyncio
import hmac
import time
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from fastapi.responses import JSONResponse

from ._batcher import Batcher, Draining, QueueFull
from ._metrics import ServerMetrics

__all__ = ["ROUTES", "ApiError", "ServerState", "error_response"]

ROUTES = (
    "/predict",
    "/v1/classify",
    "/v1/chat/completions",
    "/v1/models",
    "/health",
    "/info",
    "/metrics",
)
RETRY_AFTER_S = "1"


class ApiError(Exception):
    """An answer other than 200: its status, message and extra headers."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}


_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    413: "invalid_request_error",
    422: "invalid_request_error",
    429: "rate_limit_error",
    503: "service_unavailable",
}


def error_response(
    path: str, status: int, message: str, headers: dict[str, str] | None = None
) -> JSONResponse:
    """OpenAI's error shape on ``/v1/*`` (what its clients parse), ``{"error": ...}`` elsewhere."""
    if path.startswith("/v1/"):
        kind = _ERROR_TYPES.get(status, "server_error")
        body: dict[str, Any] = {
            "error": {"message": message, "type": kind, "param": None, "code": status}
        }
    else:
        body = {"error": message}
    return JSONResponse(body, status_code=status, headers=headers)


@dataclass
class ServerState:
    """What the routes need: the model, its name, the batcher and the limits."""

    model: Any  # a LocalClassifier (or anything with its labels/kind/predict_proba)
    model_name: str
    api_keys: tuple[bytes, ...] = field(repr=False)  # secrets: never in a repr
    max_batch_size: int
    max_wait_s: float | None  # None: adaptive
    max_queue: int
    max_request_texts: int
    metrics: ServerMetrics
    labels: list[str] = field(default_factory=list)
    templates: tuple[str, ...] = ()
    batcher: Batcher | None = None
    loop: asyncio.AbstractEventLoop | None = None  # the server's, once it runs
    created: int = 0
    generates: bool = False  # a chat LLM (no labels), set from the model
    workers: int | None = None  # batches at once; None: `default_workers`

    def __post_init__(self) -> None:
        from ..inference._prompt import USER_TEMPLATE
        from ._generate import GENERATION_KIND  # it imports this module
        from ._workers import default_workers

        self.generates = getattr(self.model, "kind", None) == GENERATION_KIND
        if self.generates or self.workers is None:
            self.workers = default_workers(self.model, self.generates)

        self.labels = [str(label) for label in self.model.labels]
        prompt = getattr(self.model, "prompt", None)
        own = getattr(prompt, "user_template", None)
        self.templates = (*((own,) if isinstance(own, str) else ()), USER_TEMPLATE)
        self.created = int(time.time())

    def info(self) -> dict[str, Any]:
        """``/info``: what is served and how."""
        from .. import __version__

        model = self.model
        return {
            "model_id": self.model_name,
            "model_name": self.model_name,
            "kind": getattr(model, "kind", None),
            "labels": self.labels,
            "num_classes": len(self.labels),
            "precision": getattr(model, "precision", None),
            "device": str(getattr(model, "device", "")) or None,
            "dtype": str(getattr(model, "dtype", "")).replace("torch.", "") or None,
            "max_batch_size": self.max_batch_size,
            "max_wait_ms": None if self.max_wait_s is None else self.max_wait_s * 1000.0,
            "batch_wait": "adaptive" if self.max_wait_s is None else "fixed",
            "max_queue": self.max_queue,
            "max_client_batch_size": self.max_request_texts,
            "workers": self.workers,
            "version": __version__,
        }

    def predict(self, texts: list[str]) -> np.ndarray:
        """The model's probabilities (runs in the batcher's thread)."""
        with warnings.catch_warnings():
            # Truncation of long texts is documented; a warning per batch would flood the log.
            warnings.simplefilter("ignore", UserWarning)
            return np.asarray(self.model.predict_proba(texts), dtype=np.float32)

    async def run(self, texts: list[str]) -> np.ndarray:
        """Rows for ``texts`` through the batcher, its refusals as HTTP errors."""
        if len(texts) > self.max_request_texts:
            raise ApiError(
                413,
                f"the request holds {len(texts)} texts, more than this server's limit of "
                f"{self.max_request_texts}; split it into smaller requests",
            )
        assert self.batcher is not None
        try:
            return await self.batcher.submit(texts)
        except QueueFull:
            raise ApiError(
                429,
                f"the server's queue is full ({self.max_queue} texts waiting); retry later",
                {"Retry-After": RETRY_AFTER_S},
            ) from None
        except Draining:
            raise ApiError(
                503, "the server is shutting down", {"Retry-After": RETRY_AFTER_S}
            ) from None
        except ApiError:
            raise
        except Exception as exc:  # the model failed on this batch: say so, keep serving
            raise ApiError(500, f"prediction failed: {type(exc).__name__}: {exc}") from exc

    def authorized(self, header: str | None) -> bool:
        if not self.api_keys:
            return True
        scheme, _, token = (header or "").partition(" ")
        if scheme.lower() != "bearer" or not token:
            return False
        given = token.strip().encode("utf-8")
        # Every key compared, in constant time each, so timing tells nothing about which matched.
        return any([hmac.compare_digest(given, key) for key in self.api_keys])
