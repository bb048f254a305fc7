"""The change log, as the feed and the watch read it (adapters/change_log_sql.py's twin).

It stores the ChangeLogEntry the domain decided, as the SQL adapter does; only the
serialized form differs (a line of text naming the change, the room and its guest as
each audience sees it, instead of a scheduling.v1.RoomEvent).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import datetime
from typing import TYPE_CHECKING

from scheduling_service.domain.change_log import ChangeLogEntry
from scheduling_service.domain.users import User
from scheduling_service.domain.visibility import RoomView, view_for
from scheduling_service.domain.watch import WatchEvent, WatchFilter

if TYPE_CHECKING:
    from tests.scheduling_service.service_layer.fakes.database import FakeUnitOfWork


class FakeChangeLog:
    def __init__(self, uow: FakeUnitOfWork) -> None:
        self._uow = uow
        self._store = uow.store

    def record(self, entry: ChangeLogEntry) -> None:
        store = self._store

        def write() -> None:
            revision = store.revision + 1
            store.events.append((revision, entry))
            if entry.room_id in store.rooms:
                store.rooms[entry.room_id] = replace(store.rooms[entry.room_id], revision=revision)
            self._uow._revision = revision

        self._uow.queue(write)

    async def head(self) -> tuple[int, int]:
        return self._store.revision, 0

    async def after(self, revision: int, limit: int) -> list[WatchEvent]:
        return [_event(r, entry) for r, entry in self._store.events if r > revision][:limit]

    async def stream_snapshot(
        self, watch_filter: WatchFilter, viewer: User, now: datetime
    ) -> AsyncIterator[bytes]:
        for room in sorted(self._store.rooms.values(), key=lambda r: (r.starts, r.room_id)):
            wanted = watch_filter.participant_id
            in_view = not wanted or wanted in room.participants
            if room.ends > now and (not watch_filter.open_only or room.is_open) and in_view:
                yield f"SNAPSHOT {room.room_id} {_guest(view_for(room, viewer))}".encode()

    async def prune(self, cutoff: datetime) -> tuple[int, int]:
        return 0, 0

    async def prune_requests(self, cutoff: datetime) -> int:
        return 0


def _guest(view: RoomView) -> str:
    return view.room.guest_id or ("booked" if view.booked else "open")


def _event(revision: int, entry: ChangeLogEntry) -> WatchEvent:
    about = f"{entry.change.value} {entry.room_id}"
    return WatchEvent(
        revision=revision,
        participants=frozenset(entry.participants),
        open_before=entry.open_before,
        open_after=entry.open_after,
        private=f"{about} {_guest(entry.private)}".encode(),
        public=f"{about} {_guest(entry.shown_to_others)}".encode(),
    )
