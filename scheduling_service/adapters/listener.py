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

log = logging.getLogger(__name__)

OnWake = Callable[[psycopg.AsyncConnection[Any]], Awaitable[None]]


async def listen_forever(
    dsn: str,
    channel: str,
    on_wake: OnWake,
    *,
    poll_s: float,
    application_name: str,
    connected: asyncio.Event | None = None,
) -> None:
    delay = 0.1
    while True:
        try:
            async with await psycopg.AsyncConnection.connect(
                dsn, autocommit=True, application_name=application_name
            ) as conn:
                await conn.execute(f"LISTEN {channel}")
                if connected is not None:
                    connected.set()
                log.info("listening", extra={"fields": {"channel": channel}})
                delay = 0.1
                while True:
                    await on_wake(conn)
                    # The first notification or the poll period, whichever comes first;
                    # one wake-up covers any number of notifications.
                    async for _ in conn.notifies(timeout=poll_s, stop_after=1):
                        pass
        except Exception as error:  # a bug in on_wake too: log it, never die silently
            if connected is not None:
                connected.clear()
            log.log(
                logging.WARNING if isinstance(error, psycopg.Error | OSError) else logging.ERROR,
                "listener disconnected; reconnecting",
                exc_info=not isinstance(error, psycopg.Error | OSError),
                extra={"fields": {"channel": channel, "error": str(error), "retry_in_s": delay}},
            )
            await asyncio.sleep(delay * random.uniform(0.5, 1.0))
            delay = min(delay * 2, 5.0)
