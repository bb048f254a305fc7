"""What the change log records of a change: the event WatchRooms streams, decided once
here; the change-log adapter (and its in-memory twin) only store it. Pure.

Each event is kept as its participants see the room and as everyone else does (the
second left out when it hides nothing). The participants are those before and after
the change, so a guest who leaves still sees their own leaving; whether the room was
open before and after lets an `open_only` watcher drop a room that left its view.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from scheduling_service.domain.changes import Change
from scheduling_service.domain.room import Room
from scheduling_service.domain.visibility import RoomView, public_view


@dataclass(frozen=True)
class ChangeLogEntry:
    """One change-log event, before the log gives it its revision."""

    change: Change
    room_id: uuid.UUID
    private: RoomView  # the room as its participants (and trusted backends) see it
    public: RoomView | None  # as everyone else does; None: the same as `private`
    participants: tuple[str, ...]  # sorted
    open_before: bool
    open_after: bool
    event_time: datetime

    @property
    def shown_to_others(self) -> RoomView:
        return self.private if self.public is None else self.public


def entry_for(change: Change, before: Room | None, after: Room, now: datetime) -> ChangeLogEntry:
    others = public_view(after)
    participants = set(after.participants) | set(before.participants if before else ())
    return ChangeLogEntry(
        change=change,
        room_id=after.room_id,
        private=RoomView(after, booked=after.guest_id is not None, private=True),
        public=None if others.room is after else others,
        participants=tuple(sorted(participants)),
        open_before=before.is_open if before else after.is_open,
        # A cancelled room is gone: it leaves every view, open ones included.
        open_after=after.is_open and change is not Change.CANCELLED,
        event_time=now,
    )
