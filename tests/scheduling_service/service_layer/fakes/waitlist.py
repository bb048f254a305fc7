"""Waitlists (adapters/waitlist_sql.py's twin): the line and its hold by room, kept apart
from the room as the table is, changed only by applying the domain's WaitlistWrites.

The guard of a waitlist's own change is the room's version (sequence and revision), as
in SQL; the row lock that makes racing changes of one room wait for each other is
PostgreSQL's, tested end to end (tests/scheduling_service/test_waitlist_races.py)."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from scheduling_service.domain.invites import Invite, Method
from scheduling_service.domain.outbox import State
from scheduling_service.domain.room import Room
from scheduling_service.domain.users import Contact
from scheduling_service.domain.waitlist import Waitlist
from scheduling_service.domain.waitlist_changes import DueHold, WaitlistWrites

if TYPE_CHECKING:
    from tests.scheduling_service.service_layer.fakes.database import FakeUnitOfWork
from tests.scheduling_service.service_layer.fakes.store import GuardFailed, Message


class FakeWaitlist:
    def __init__(self, uow: FakeUnitOfWork) -> None:
        self._uow = uow
        self._store = uow.store

    def lock(self, before: Room) -> None:
        store = self._store

        def seen() -> None:
            current = store.rooms.get(before.room_id)
            if current is None or (current.sequence, current.revision) != (
                before.sequence,
                before.revision,
            ):
                raise GuardFailed

        self._uow.guard(seen, lambda: None)

    def record(self, writes: WaitlistWrites) -> None:
        if writes.nothing:
            return
        store, room = self._store, writes.room

        def write() -> None:
            line = store.waitlists.get(room.room_id, Waitlist())
            waiting = [u for u in line.waiting if u not in writes.removed]
            waiting += [u for u in writes.added if u not in waiting]
            holder, until = line.holder, line.hold_until
            if holder in writes.removed:
                holder, until = None, None
            if writes.hold_changed:
                holder, until = writes.holder, writes.hold_until
            assert holder is None or (waiting and waiting[0] == holder), "the holder is first"
            if waiting and room.room_id in store.rooms:
                store.waitlists[room.room_id] = Waitlist(tuple(waiting), until)
            else:
                store.waitlists.pop(room.room_id, None)
            for older in store.outbox:
                if (
                    older.notice is not None
                    and older.room_id == room.room_id
                    and older.recipient.user_id in writes.superseding
                    and older.state is State.PENDING
                    and older.lease is None
                ):
                    older.state = State.SUPERSEDED
            for notice in writes.notices:
                store.outbox.append(
                    Message(
                        next(store.outbox_ids),
                        room.room_id,
                        room.ics_uid,
                        room.sequence,
                        writes.change,
                        Invite(notice.recipient_id, Method.REQUEST),
                        notice.recipient or Contact(notice.recipient_id, None, None, None),
                        state=State.PENDING if notice.recipient else State.SKIPPED,
                        notice=notice,
                    )
                )

        self._uow.queue(write)

    async def due(self, now: datetime, limit: int) -> list[DueHold]:
        held = [
            DueHold(room_id, line.waiting[0], line.hold_until)
            for room_id, line in self._store.waitlists.items()
            if line.hold_until is not None and line.hold_until <= now
        ]
        return sorted(held, key=lambda h: h.until)[:limit]

    async def next_due(self) -> datetime | None:
        ends = [w.hold_until for w in self._store.waitlists.values() if w.hold_until is not None]
        return min(ends, default=None)
