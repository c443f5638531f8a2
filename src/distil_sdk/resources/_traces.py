"""An inference endpoint's records: the time window both traces routes take, and the cursor
paging of ``GET /inference-endpoints/{name}/traces`` as sync and async iterators.

The paging rules are the reference's (``execution/backend-api.md`` § Read the traces): the query
carries ``from-start-time`` and ``to-start-time`` (always both) and, after the first page,
``pagination-cursor``; an answer is ``{"traces": [...], "pagination_cursor": ...}``, newest
first. Paging ends on a null cursor and on nothing else, because an empty page can still carry
one; a cursor seen before ends it too, so a platform repeating itself cannot loop forever.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import AsyncIterator, Callable, Iterator

from .._errors import DistilError
from .._http import AsyncTransport, CallOptions, RequestSpec, SyncTransport
from ..types.entities import EndpointTrace, EndpointTracesPage
from ._base import seg
from ._entity import Parent, explained

__all__ = ["AsyncTraces", "SyncTraces", "TimeLike", "traces_spec", "window"]

logger = logging.getLogger("distil_sdk")

#: A bound of a window: a datetime (naive ones are UTC), a date (its midnight, UTC) or an ISO
#: 8601 string sent as it is.
TimeLike = dt.datetime | dt.date | str
#: The window when no bound is given: the last day, as the CLI's ``download-traces`` does.
DEFAULT_WINDOW = dt.timedelta(days=1)


def _utc_now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def _as_datetime(value: TimeLike) -> dt.datetime | None:
    """``value`` as an aware UTC datetime; None for a string that is not ISO 8601."""
    if isinstance(value, dt.datetime):
        aware = value if value.tzinfo else value.replace(tzinfo=dt.timezone.utc)
        return aware.astimezone(dt.timezone.utc)
    if isinstance(value, dt.date):
        return dt.datetime(value.year, value.month, value.day, tzinfo=dt.timezone.utc)
    try:  # Python 3.10's fromisoformat does not read a trailing Z
        return _as_datetime(dt.datetime.fromisoformat(value.strip().replace("Z", "+00:00")))
    except ValueError:
        return None


def _iso(value: TimeLike, what: str) -> str:
    """``value`` as sent: UTC ISO 8601 with a ``Z`` when it reads as a time; a string this
    Python cannot read as one is sent as given (the platform is the judge)."""
    if isinstance(value, str) and not value.strip():
        raise DistilError(f"{what} is an empty string; give an ISO 8601 time or a datetime")
    if not isinstance(value, (str, dt.date)):
        raise DistilError(f"{what} must be a datetime, a date or an ISO 8601 string, not {value!r}")
    moment = _as_datetime(value)
    if moment is None:
        return str(value).strip()
    return moment.isoformat().replace("+00:00", "Z")


def window(
    since: TimeLike | None, until: TimeLike | None, now: Callable[[], dt.datetime] = _utc_now
) -> tuple[str, str]:
    """``(from-start-time, to-start-time)`` as sent: both bounds, always (the reference asks
    for both). ``until`` defaults to now, ``since`` to a day before ``until``."""
    end: TimeLike = now() if until is None else until
    if since is None:
        end_time = _as_datetime(end)
        if end_time is None:
            raise DistilError(
                f"until={end!r} is not an ISO 8601 time, so no default since= can be derived "
                "from it; give since= too"
            )
        start: TimeLike = end_time - DEFAULT_WINDOW
    else:
        start = since
    low, high = _as_datetime(start), _as_datetime(end)
    if low is not None and high is not None and low > high:
        raise DistilError(f"since={start!r} is after until={end!r}: the window is empty")
    return _iso(start, "since"), _iso(end, "until")


def traces_spec(
    name: str, bounds: tuple[str, str], cursor: str | None, options: CallOptions
) -> RequestSpec:
    """``GET /inference-endpoints/{name}/traces`` for one page."""
    params = {"from-start-time": bounds[0], "to-start-time": bounds[1]}
    if cursor is not None:
        params["pagination-cursor"] = cursor
    return RequestSpec(
        "GET", f"/inference-endpoints/{seg(name, 'name')}/traces", params=params, **options
    )


class _Cursor:
    """Where the paging stands: the cursor to send next, the ones seen, whether it is over."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.next: str | None = None
        self.seen: set[str] = set()
        self.done = False

    def advance(self, page: EndpointTracesPage) -> None:
        cursor = page.pagination_cursor
        if cursor is None:
            self.done = True
        elif cursor in self.seen:
            logger.warning(
                "traces of %s: the platform sent cursor %r a second time; stopping there",
                self.name,
                cursor,
            )
            self.done = True
        else:
            self.seen.add(cursor)
            self.next = cursor


def _check_limit(limit: int | None) -> int | None:
    if limit is not None and limit < 0:
        raise DistilError(f"limit must be None or at least 0, not {limit}")
    return limit


def _parent(name: str) -> Parent:
    return Parent("inference endpoint", name, "inference_endpoints")


class SyncTraces:
    """An endpoint's records in a window, newest first: iterate it for `EndpointTrace`
    records, or `pages` for whole pages. Nothing is fetched until it is iterated; each
    iteration starts again from the first page.

    Example:
        >>> for trace in client.inference_endpoints.traces(
        ...         "support-yeOdAS", since="2026-09-01T00:00:00Z", limit=1000):  # doctest: +SKIP
        ...     row = trace.to_trace_row()
    """

    def __init__(
        self,
        transport: SyncTransport,
        name: str,
        bounds: tuple[str, str],
        limit: int | None,
        options: CallOptions,
    ) -> None:
        self._t, self.name, self.bounds = transport, name, bounds
        self.limit, self._options = _check_limit(limit), options

    def pages(self) -> Iterator[EndpointTracesPage]:
        """Every page, as the platform sizes them (``limit`` does not apply here)."""
        cursor = _Cursor(self.name)
        while not cursor.done:
            spec = traces_spec(self.name, self.bounds, cursor.next, self._options)
            with explained(parent=_parent(self.name)):
                page = self._t.request(EndpointTracesPage, spec)
            yield page
            cursor.advance(page)

    def __iter__(self) -> Iterator[EndpointTrace]:
        if self.limit == 0:
            return
        count = 0
        for page in self.pages():
            for trace in page.traces:
                yield trace
                count += 1
                if self.limit is not None and count >= self.limit:
                    return


class AsyncTraces:
    """The async twin of `SyncTraces`: ``async for trace in ...``, or
    ``async for page in ....pages()``."""

    def __init__(
        self,
        transport: AsyncTransport,
        name: str,
        bounds: tuple[str, str],
        limit: int | None,
        options: CallOptions,
    ) -> None:
        self._t, self.name, self.bounds = transport, name, bounds
        self.limit, self._options = _check_limit(limit), options

    async def pages(self) -> AsyncIterator[EndpointTracesPage]:
        cursor = _Cursor(self.name)
        while not cursor.done:
            spec = traces_spec(self.name, self.bounds, cursor.next, self._options)
            with explained(parent=_parent(self.name)):
                page = await self._t.request(EndpointTracesPage, spec)
            yield page
            cursor.advance(page)

    async def _records(self) -> AsyncIterator[EndpointTrace]:
        if self.limit == 0:
            return
        count = 0
        async for page in self.pages():
            for trace in page.traces:
                yield trace
                count += 1
                if self.limit is not None and count >= self.limit:
                    return

    def __aiter__(self) -> AsyncIterator[EndpointTrace]:
        return self._records()
