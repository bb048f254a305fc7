"""LISTEN on a PostgreSQL channel, forever, as a wake-up hint with a poll behind it.

A notification only says "look now": the callback reads the table itself, so a
lost notification or a reconnect loses nothing. Runs on its own autocommit
connection outside the pool (LISTEN needs a session; PgBouncer in transaction mode
breaks it), reconnecting with backoff after the database restarts.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from typing import Any

import psycopg

from scheduling_service.domain import errors
from servicekit.logs import get_logger

log = get_logger(__name__)

Connect = Callable[[str], Awaitable[psycopg.AsyncConnection[Any]]]


class PostgresListener:
    """Wake-up hints (ports.Notices) from LISTEN on connections `connect` makes."""

    def __init__(self, connect: Connect) -> None:
        self._connect = connect

    async def listen_forever(
        self,
        channel: str,
        on_wake: Callable[[], Awaitable[None]],
        *,
        poll_s: float,
        connected: asyncio.Event | None = None,
    ) -> None:
        await _listen_forever(self._connect, channel, on_wake, poll_s, connected)


async def _listen_forever(
    connect: Connect,
    channel: str,
    on_wake: Callable[[], Awaitable[None]],
    poll_s: float,
    connected: asyncio.Event | None,
) -> None:
    delay = 0.1
    while True:
        try:
            async with await connect(f"scheduling_service.{channel}") as conn:
                await conn.execute(f"LISTEN {channel}")
                if connected is not None:
                    connected.set()
                log.info("listening", channel=channel)
                delay = 0.1
                while True:
                    await on_wake()
                    # The first notification or the poll period, whichever comes first;
                    # one wake-up covers any number of notifications.
                    async for _ in conn.notifies(timeout=poll_s, stop_after=1):
                        pass
        except Exception as error:  # a bug in on_wake too: log it, never die silently
            if connected is not None:
                connected.clear()
            expected = isinstance(error, psycopg.Error | OSError | errors.Unavailable)
            log.log(
                logging.WARNING if expected else logging.ERROR,
                "listener disconnected; reconnecting",
                exc_info=not expected,
                channel=channel,
                error=str(error),
                retry_in_s=delay,
            )
            await asyncio.sleep(delay * random.uniform(0.5, 1.0))
            delay = min(delay * 2, 5.0)
