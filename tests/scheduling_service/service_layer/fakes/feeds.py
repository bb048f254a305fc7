"""Calendar feeds (adapters/calendar_feeds_sql.py's twin): enough for the use cases'
rules (a rotate ends the old token, tombstones only for users with a feed, the bucket).
The SQL itself is tested against PostgreSQL (tests/scheduling_service/test_calendar_feeds.py)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from scheduling_service.domain.calendar_feed import FeedSession, FeedWrites, Tombstone

if TYPE_CHECKING:
    from tests.scheduling_service.service_layer.fakes.database import FakeUnitOfWork


@dataclass
class Feed:
    token_hash: bytes
    allowance: float
    allowance_time: datetime


class FakeCalendarFeeds:
    def __init__(self, uow: FakeUnitOfWork) -> None:
        self._uow = uow
        self._store = uow.store

    def record(self, writes: FeedWrites) -> None:
        def write() -> None:
            for tombstone in writes.tombstones:
                if tombstone.user_id in self._store.feeds:
                    self._store.tombstones[(tombstone.user_id, tombstone.room_id)] = tombstone
            for user_id in writes.returned:
                self._store.tombstones.pop((user_id, writes.room_id), None)

        self._uow.queue(write)

    async def rotate(self, user_id: str, token_hash: bytes, now: datetime, burst: float) -> None:
        self._store.feeds[user_id] = Feed(token_hash, burst, now)

    async def revoke(self, user_id: str) -> bool:
        for key in [k for k in self._store.tombstones if k[0] == user_id]:
            del self._store.tombstones[key]
        return self._store.feeds.pop(user_id, None) is not None

    async def spend(
        self, token_hash: bytes, now: datetime, *, per_s: float, burst: float
    ) -> tuple[str, bytes, float] | None:
        for user_id, feed in self._store.feeds.items():
            if feed.token_hash == token_hash:
                elapsed = max(0.0, (now - feed.allowance_time).total_seconds())
                feed.allowance = max(-1.0, min(burst, feed.allowance + per_s * elapsed) - 1)
                feed.allowance_time = max(feed.allowance_time, now)
                return user_id, feed.token_hash, feed.allowance
        return None

    async def sessions(self, user_id: str, since: datetime, limit: int) -> list[FeedSession]:
        found = []
        for room in self._store.rooms.values():
            if user_id not in (room.host_id, room.guest_id) or room.ends < since:
                continue
            other = room.guest_id if room.host_id == user_id else room.host_id
            found.append(
                FeedSession(
                    room_id=room.room_id,
                    ics_uid=room.ics_uid,
                    sequence=room.sequence,
                    title=room.title,
                    description=room.description,
                    rounds=tuple((r.number, r.topic) for r in room.rounds),
                    starts=room.starts,
                    ends=room.ends,
                    update_time=room.update_time,
                    hosting=room.host_id == user_id,
                    other_name=(None if other is None else self._store.users[other][1].name or ""),
                )
            )
        return sorted(found, key=lambda s: (s.starts, str(s.room_id)))[:limit]

    async def tombstones(self, user_id: str, since: datetime, limit: int) -> list[Tombstone]:
        found = [
            t
            for (owner, _), t in self._store.tombstones.items()
            if owner == user_id and t.cancel_time >= since
        ]
        return sorted(found, key=lambda t: (t.starts, str(t.room_id)))[:limit]

    async def prune(self, before: datetime) -> int:
        old = [k for k, t in self._store.tombstones.items() if t.cancel_time < before]
        for key in old:
            del self._store.tombstones[key]
        return len(old)
