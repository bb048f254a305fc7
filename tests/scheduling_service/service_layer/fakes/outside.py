"""The ports outside the database: notices, the notification sender, the clock; and
the users the tests act as."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import datetime

from scheduling_service.domain.outbox import (
    Attempt,
    Claimed,
    Outcome,
)
from scheduling_service.domain.users import User


class FakeNotices:
    """Wakes the listener once at start, then whenever a test calls `notify`."""

    def __init__(self) -> None:
        self._wake = asyncio.Event()

    def notify(self) -> None:
        self._wake.set()

    async def listen_forever(
        self,
        channel: str,
        on_wake: Callable[[], Awaitable[None]],
        *,
        poll_s: float,
        connected: asyncio.Event | None = None,
    ) -> None:
        if connected is not None:
            connected.set()
        while True:
            await on_wake()
            await self._wake.wait()
            self._wake.clear()


class FakeSender:
    """Answers every delivery with the next outcome of `outcomes` (the last one repeats)."""

    def __init__(self, *outcomes: Outcome) -> None:
        self._outcomes = list(outcomes) or [Outcome.DELIVERED]
        self.sent: list[Claimed] = []
        self.sent_event = asyncio.Event()

    async def deliver(self, message: Claimed) -> Attempt:
        self.sent.append(message)
        self.sent_event.set()
        outcome = self._outcomes.pop(0) if len(self._outcomes) > 1 else self._outcomes[0]
        return Attempt(outcome, f"mid-{message.id}", "" if outcome is Outcome.DELIVERED else "x")


class FakeClock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def person(user_id: str, *, email: bool = True) -> User:
    return User(
        user_id,
        email=f"{user_id}@example.test" if email else None,
        name=user_id.title(),
        zoneinfo="Europe/Paris",
    )
