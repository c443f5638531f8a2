"""What every resource shares: the transport, path quoting, the wait() plumbing."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypedDict
from urllib.parse import quote

from .._errors import APIError
from .._http import AsyncTransport, RequestSpec, SyncTransport, redact
from .._polling import DEFAULT_POLL_INTERVAL_S, DEFAULT_WAIT_TIMEOUT_S, MAX_POLL_INTERVAL_S, Poller
from ..types.jobs import Prediction

__all__ = ["AsyncResource", "SyncResource", "WaitOptions", "make_poller", "parse_predictions", "predictions_spec", "redact", "seg"]


def seg(value: str) -> str:
    """An id as one URL path segment (ids come from users and must not inject path parts)."""
    if not isinstance(value, str) or not value:
        raise ValueError(f"expected a non-empty id string, got {value!r}")
    return quote(value, safe="")


class WaitOptions(TypedDict, total=False):
    """Options of every ``wait()``.

    timeout: overall seconds before :class:`~distil_sdk.JobTimeoutError` (None: no limit).
    poll_interval: first pause between polls; it grows by 1.5x up to ``max_interval``.
    on_progress: called with every record fetched.
    progress: show a status line on stderr.
    """

    timeout: float | None
    poll_interval: float
    max_interval: float
    on_progress: Callable[[Any], None] | None
    progress: bool


def make_poller(kind: str, job_id: str, clock: Callable[[], float], options: WaitOptions) -> Poller:
    return Poller(
        kind,
        job_id,
        timeout=options.get("timeout", DEFAULT_WAIT_TIMEOUT_S),
        poll_interval=options.get("poll_interval", DEFAULT_POLL_INTERVAL_S),
        max_interval=options.get("max_interval", MAX_POLL_INTERVAL_S),
        on_progress=options.get("on_progress"),
        progress=options.get("progress", False),
        clock=clock,
    )


class SyncResource:
    def __init__(self, transport: SyncTransport) -> None:
        self._t = transport


class AsyncResource:
    def __init__(self, transport: AsyncTransport) -> None:
        self._t = transport


def predictions_spec(url: str, options: Any) -> RequestSpec:
    # Relative URLs resolve against the API; the token is only attached on the API's origin.
    return RequestSpec("GET", url, headers={"Accept": "application/x-ndjson, application/json, */*"}, **options)


def parse_predictions(text: str, source: str) -> list[Prediction]:
    """A predictions JSONL file, one :class:`Prediction` per non-empty line."""
    out: list[Prediction] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            out.append(Prediction.model_validate_json(line))
        except ValueError as exc:
            raise APIError(f"{source} line {number} is not a prediction record: {exc}") from exc
    return out
