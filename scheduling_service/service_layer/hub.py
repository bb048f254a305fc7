"""Fan-out of change-log events to the watchers on this replica.

One listener publishes every event, in revision order, to every subscription's
bounded queue without waiting: a slow watcher can only fill its own queue, and a full
queue ends that watcher (it resumes from its last revision), never delays another.
Events arrive already serialized, so each is encoded once for all watchers.
"""

from __future__ import annotations

import asyncio
import enum

from scheduling_service.domain.watch import WatchEvent


class EndReason(enum.Enum):
    OVERFLOW = "overflow"
    CLOSING = "closing"


class Subscription:
    """A watcher's queue. Ending it cancels the watcher's task wherever that waits
    (even on a write to a connection that no longer drains); the task then sees
    `end_reason` and says why in its status."""

    def __init__(self, maxsize: int, owner: asyncio.Task[object] | None) -> None:
        self.queue: asyncio.Queue[WatchEvent] = asyncio.Queue(maxsize)
        self.end_reason: EndReason | None = None
        self._owner = owner

    def end(self, reason: EndReason) -> None:
        if self.end_reason is None:
            self.end_reason = reason
            if self._owner is not None:
                self._owner.cancel()


class Hub:
    def __init__(self, queue_size: int) -> None:
        self._queue_size = queue_size
        self._subscriptions: set[Subscription] = set()
        self._closed = False
        # The revision of the last event published: a new subscription receives
        # every event after it.
        self.position = 0

    @property
    def subscribers(self) -> int:
        return len(self._subscriptions)

    def subscribe(self, owner: asyncio.Task[object] | None = None) -> Subscription:
        subscription = Subscription(self._queue_size, owner)
        if self._closed:
            subscription.end(EndReason.CLOSING)
        else:
            self._subscriptions.add(subscription)
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        self._subscriptions.discard(subscription)

    def publish(self, events: list[WatchEvent]) -> None:
        if not events:
            return
        for subscription in list(self._subscriptions):
            try:
                for event in events:
                    subscription.queue.put_nowait(event)
            except asyncio.QueueFull:
                subscription.end(EndReason.OVERFLOW)
                self._subscriptions.discard(subscription)
        self.position = events[-1].revision

    def close(self) -> None:
        """End every watcher (on shutdown, so clients reconnect to another replica)."""
        self._closed = True
        for subscription in self._subscriptions:
            subscription.end(EndReason.CLOSING)
        self._subscriptions.clear()
