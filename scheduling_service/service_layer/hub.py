"""Fan-out of change-log events to the watchers on this replica.

One listener publishes every event, in revision order, to every subscription's
bounded queue without waiting: a slow watcher can only fill its own queue, and a full
queue ends that watcher (it resumes from its last revision), never delays another.
Events arrive already serialized, so each is encoded once for all watchers.
"""

from __future__ import annotations

import asyncio
import enum
from collections import Counter

from scheduling_service.domain import errors
from scheduling_service.domain.watch import WatchEvent


class EndReason(enum.Enum):
    OVERFLOW = "overflow"
    CLOSING = "closing"


class Subscription:
    """A watcher's queue. Ending it cancels the watcher's task wherever that waits
    (even on a write to a connection that no longer drains); the task then sees
    `end_reason` and says why in its status."""

    def __init__(self, maxsize: int, owner: asyncio.Task[object] | None, user_id: str) -> None:
        self.queue: asyncio.Queue[WatchEvent] = asyncio.Queue(maxsize)
        self.end_reason: EndReason | None = None
        self.owner = owner
        self.user_id = user_id

    def end(self, reason: EndReason) -> None:
        if self.end_reason is None:
            self.end_reason = reason
            if self.owner is not None:
                self.owner.cancel()


class Hub:
    def __init__(self, queue_size: int, max_per_user: int) -> None:
        self._queue_size = queue_size
        self._max_per_user = max_per_user
        self._subscriptions: set[Subscription] = set()
        self._per_user: Counter[str] = Counter()
        self._ended: set[asyncio.Task[object]] = set()
        self._closed = False
        # The revision of the last event published: a new subscription receives
        # every event after it.
        self.position = 0

    @property
    def subscribers(self) -> int:
        return len(self._subscriptions)

    def subscribe(self, owner: asyncio.Task[object] | None, user_id: str) -> Subscription:
        """A subscription receiving every event after `position`; TooManyWatches when
        `user_id` already holds WATCH_MAX_PER_USER of them here."""
        if self._per_user[user_id] >= self._max_per_user:
            raise errors.TooManyWatches(
                f"at most {self._max_per_user} watch streams per user on one server;"
                " close one first"
            )
        subscription = Subscription(self._queue_size, owner, user_id)
        if self._closed:
            subscription.end(EndReason.CLOSING)
        else:
            self._subscriptions.add(subscription)
            self._per_user[user_id] += 1
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        if subscription in self._subscriptions:
            self._subscriptions.discard(subscription)
            self._per_user[subscription.user_id] -= 1
            if not self._per_user[subscription.user_id]:
                del self._per_user[subscription.user_id]

    def publish(self, events: list[WatchEvent]) -> None:
        if not events:
            return
        for subscription in list(self._subscriptions):
            try:
                for event in events:
                    subscription.queue.put_nowait(event)
            except asyncio.QueueFull:
                subscription.end(EndReason.OVERFLOW)
                self.unsubscribe(subscription)  # its user may open another at once
        self.position = events[-1].revision

    def close(self) -> None:
        """End every watcher (on shutdown, so clients reconnect to another replica)."""
        self._closed = True
        for subscription in self._subscriptions:
            subscription.end(EndReason.CLOSING)
            if subscription.owner is not None:
                self._ended.add(subscription.owner)
        self._subscriptions.clear()
        self._per_user.clear()

    async def wait_closed(self, timeout_s: float) -> None:
        """Until the watchers `close` ended have sent their status (UNAVAILABLE with its
        reason): stopping the server before that would cut them with gRPC's own."""
        if self._ended:
            await asyncio.wait(self._ended, timeout=timeout_s)
