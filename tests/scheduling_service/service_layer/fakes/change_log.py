"""The change log, as the feed and the watch read it (adapters/change_log_sql.py's twin)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import datetime
from typing import TYPE_CHECKING

from scheduling_service.domain.changes import Change
from scheduling_service.domain.room import Room
from scheduling_service.domain.users import User
from scheduling_service.domain.views import public, seen_by
from scheduling_service.domain.watch import WatchEvent, WatchFilter

if TYPE_CHECKING:
    from tests.scheduling_service.service_layer.fakes.database import FakeUnitOfWork


class FakeChangeLog:
    def __init__(self, uow: FakeUnitOfWork) -> None:
        self._uow = uow
        self._store = uow.store

    def record(self, change: Change, before: Room | None, after: Room, now: datetime) -> None:
        store = self._store

        def write() -> None:
            revision = store.revision + 1
            store.events.append((revision, change, after))
            if after.room_id in store.rooms:
                store.rooms[after.room_id] = replace(store.rooms[after.room_id], revision=revision)
            self._uow._revision = revision

        self._uow.queue(write)

    async def head(self) -> tuple[int, int]:
        return self._store.revision, 0

    async def after(self, revision: int, limit: int) -> list[WatchEvent]:
        return [_event(e) for e in self._store.events if e[0] > revision][:limit]

    async def stream_snapshot(
        self, f: WatchFilter, viewer: User, now: datetime
    ) -> AsyncIterator[bytes]:
        for room in sorted(self._store.rooms.values(), key=lambda r: (r.starts, r.room_id)):
            in_view = not f.participant_id or f.participant_id in room.participants
            if room.ends > now and (not f.open_only or room.is_open) and in_view:
                seen = seen_by(room, viewer)
                guest = seen.room.guest_id or ("booked" if seen.booked else "open")
                yield f"SNAPSHOT {room.room_id} {guest}".encode()

    async def prune(self, cutoff: datetime) -> tuple[int, int]:
        return 0, 0

    async def prune_requests(self, cutoff: datetime) -> int:
        return 0


def _event(event: tuple[int, Change, Room]) -> WatchEvent:
    revision, change, room = event
    shown = public(room)
    return WatchEvent(
        revision=revision,
        participants=frozenset(room.participants),
        open_before=room.is_open,
        open_after=room.is_open and change is not Change.CANCELLED,
        private=f"{change.value} {room.room_id} {room.guest_id or 'open'}".encode(),
        public=f"{change.value} {room.room_id} {'booked' if shown.booked else 'open'}".encode(),
    )
