"""``client.credits``: the calls left on each metered route."""

from __future__ import annotations

from typing_extensions import Unpack

from .._http import CallOptions, RequestSpec
from ..types.entities import CreditBalances
from ._base import AsyncResource, SyncResource

__all__ = ["AsyncCredits", "Credits"]


def _spec(options: CallOptions) -> RequestSpec:
    return RequestSpec("GET", "/credits/endpoints", **options)


class Credits(SyncResource):
    """Credits are metered per route, as a count of remaining calls.

    Example:
        >>> client.credits.balances().get("slms_from_datasets_post")  # doctest: +SKIP
        2
    """

    def balances(self, **options: Unpack[CallOptions]) -> CreditBalances:
        """Remaining calls per metered route key (``GET /credits/endpoints``; free, and it
        answers at zero). A route that is never charged is absent: use ``.get(key)``."""
        return self._t.request(CreditBalances, _spec(options))


class AsyncCredits(AsyncResource):
    """The async twin of `Credits`."""

    async def balances(self, **options: Unpack[CallOptions]) -> CreditBalances:
        return await self._t.request(CreditBalances, _spec(options))
