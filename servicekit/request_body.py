"""A call's one request message, awaited under bounds, before anything else of the call.

A client may open a stream with HEADERS and never send the message (a half-open
request). gRPC holds such a call, and its memory, for as long as the connection lives;
a unary handler is not even called until the message arrives, so the service could
neither see nor end it. So every method is registered as request-streaming (the wire
protocol is the same: one message, then end of stream) and the message is read here:
within `timeout_s`, with at most `max_per_connection` calls of one connection waiting
for theirs at once. Both hold before authentication: a caller without a token can
hold no more than anyone else.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any


class RequestNotSent(Exception):
    """The request message did not arrive in time."""


class TooManyPending(Exception):
    """The connection already has its most calls waiting for their request message."""


class NoRequest(Exception):
    """The client ended its side of the call without a request message."""


class RequestBodies:
    def __init__(self, *, timeout_s: float, max_per_connection: int) -> None:
        self._timeout_s = timeout_s
        self._max_per_connection = max_per_connection
        self._waiting: Counter[str] = Counter()

    @property
    def waiting(self) -> int:
        return sum(self._waiting.values())

    async def receive(self, requests: AsyncIterator[Any], connection: str) -> Any:
        """The call's request message. `connection` names the caller's connection
        (the peer address: one per TCP connection)."""
        if self._waiting[connection] >= self._max_per_connection:
            raise TooManyPending(
                f"at most {self._max_per_connection} calls of one connection may wait for"
                " their request message at once"
            )
        self._waiting[connection] += 1
        try:
            async with asyncio.timeout(self._timeout_s):
                return await anext(requests)
        except TimeoutError:
            raise RequestNotSent(
                f"the request message did not arrive within {self._timeout_s:g} s"
            ) from None
        except StopAsyncIteration:
            raise NoRequest("the call ended without a request message") from None
        finally:
            self._waiting[connection] -= 1
            if not self._waiting[connection]:
                del self._waiting[connection]
