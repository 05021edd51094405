"""A deadline for Discord's answer to each of Haven's REST requests.

aiohttp waits up to five minutes for an answer by default. A request that hangs would hold a
scheduler slot, and a member's reminder, that long. With a deadline, it raises `TimeoutError`
instead, which delivery treats as a passing failure. The job is retried before its deadline, with
the same nonce and `enforce_nonce`, so when Discord did act on the request whose answer was lost,
it drops the repeat and the member still gets one message.
"""

from __future__ import annotations

from typing import Any

import aiohttp
import discord

ANSWER_WITHIN_SECONDS = 30.0
CONNECT_WITHIN_SECONDS = 10.0


def bound_requests(http: discord.http.HTTPClient, seconds: float = ANSWER_WITHIN_SECONDS) -> None:
    """Give every request `http` makes a deadline for its answer (the gateway is not affected)."""
    timeout = aiohttp.ClientTimeout(
        total=None, sock_connect=min(seconds, CONNECT_WITHIN_SECONDS), sock_read=seconds
    )
    request = http.request

    async def bounded(route: discord.http.Route, **kwargs: Any) -> Any:
        kwargs.setdefault("timeout", timeout)
        return await request(route, **kwargs)

    # discord.py passes extra keywords through to aiohttp but offers no default for them.
    http.request = bounded  # type: ignore[method-assign]
