"""Rooms: reads, and the guarded writes of each change (adapters/rooms_sql.py's twin).

Each write does what its port method says, as the SQL does (a booking adds the guest's
slot, a leave frees it, a reschedule moves every slot), without working out from the
rooms before and after what changed."""

from __future__ import annotations

import re
import uuid
from dataclasses import replace
from datetime import datetime
from typing import TYPE_CHECKING

from scheduling_service.domain import errors
from scheduling_service.domain.queries import RoomQuery
from scheduling_service.domain.room import Room
from scheduling_service.domain.users import People, User
from scheduling_service.domain.waitlist import Waitlist

if TYPE_CHECKING:
    from tests.scheduling_service.service_layer.fakes.database import FakeUnitOfWork
from tests.scheduling_service.service_layer.fakes.store import GuardFailed, Slot


class FakeRooms:
    def __init__(self, uow: FakeUnitOfWork) -> None:
        self._uow = uow
        self._store = uow.store

    async def get(self, room_id: uuid.UUID, viewer: User) -> Room | None:
        self._store.reads += 1
        return self._read(room_id)

    def _read(self, room_id: uuid.UUID) -> Room | None:
        """The room with its waitlist, read with it as the SQL's join does."""
        room = self._store.rooms.get(room_id)
        if room is None:
            return None
        return replace(room, waitlist=self._store.waitlists.get(room_id, Waitlist()))

    async def get_for_change(
        self, room_id: uuid.UUID, caller_id: str
    ) -> tuple[Room, People] | None:
        self._store.reads += 1
        room = self._read(room_id)
        if room is None:
            return None
        holders = self._store.holders.get(room_id, frozenset())
        wanted = {room.host_id, caller_id, *holders, *room.waitlist.waiting}
        wanted |= {room.guest_id} if room.guest_id else set()
        contacts = {u: self._store.users[u][1] for u in wanted if u in self._store.users}
        return room, People(holders, contacts)

    async def list(
        self,
        query: RoomQuery,
        viewer: User,
        *,
        viewer_no: int,
        now: datetime,
        after: tuple[datetime, uuid.UUID] | None,
        limit: int,
    ) -> list[Room]:
        self._store.reads += 1
        rooms = sorted(self._store.rooms.values(), key=lambda r: (r.starts, r.room_id))
        rooms = [r for r in (self._read(r.room_id) for r in rooms) if r is not None]
        chosen = [
            r
            for r in rooms
            if (not query.open_only or r.is_open)
            and (not query.participant_id or query.participant_id in r.participants)
            and (query.start_after is None or r.starts >= query.start_after)
            and (query.start_before is None or r.starts < query.start_before)
            and (not query.bookable or self._bookable(r, viewer, viewer_no, now))
            and (not query.text or _matches(r, query.text, viewer))
            and (query.min_length is None or r.ends - r.starts >= query.min_length)
            and (query.max_length is None or r.ends - r.starts <= query.max_length)
            and (after is None or (r.starts, r.room_id) > after)
        ]
        return chosen[:limit]

    def _bookable(self, room: Room, viewer: User, viewer_no: int, now: datetime) -> bool:
        clash = any(
            s.user_no == viewer_no and s.starts < room.ends and room.starts < s.ends
            for s in self._store.slots
        )
        hold = room.waitlist
        held = hold.hold_until is not None and not (
            hold.holder == viewer.user_id and hold.hold_until > now
        )
        return (
            room.is_open
            and room.host_id != viewer.user_id
            and room.starts > now
            and not held
            and not clash
        )

    def add(self, room: Room, host_no: int, request_id: uuid.UUID | None) -> None:
        store = self._store
        key = (room.host_id, request_id) if request_id else None

        def claim() -> None:
            if key is not None:
                if key in store.requests:
                    raise GuardFailed
                store.requests[key] = room.room_id

        def earlier() -> Room | None:
            return store.rooms.get(store.requests[key]) if key else None

        self._uow.guard(claim, earlier)

        def insert() -> None:
            store.rooms[room.room_id] = room
            self._add_slot(room.room_id, host_no, room.starts, room.ends)

        self._uow.queue(insert)

    def book(self, before: Room, after: Room, guest_no: int) -> None:
        self._guard(before, after)
        self._uow.queue(lambda: self._add_slot(after.room_id, guest_no, after.starts, after.ends))

    def leave(self, before: Room, after: Room) -> None:
        store = self._store
        self._guard(before, after)

        def free_the_guest_slot() -> None:
            assert before.guest_id is not None
            gone = (after.room_id, store.user_no(before.guest_id))
            store.slots = [s for s in store.slots if (s.room_id, s.user_no) != gone]

        self._uow.queue(free_the_guest_slot)

    def reschedule(self, before: Room, after: Room) -> None:
        store = self._store
        self._guard(before, after)

        def move_the_slots() -> None:
            moving = [s for s in store.slots if s.room_id == after.room_id]
            store.slots = [s for s in store.slots if s.room_id != after.room_id]
            for slot in moving:
                self._add_slot(slot.room_id, slot.user_no, after.starts, after.ends)

        self._uow.queue(move_the_slots)

    def _guard(self, before: Room, after: Room) -> None:
        """The room's update, only if it is still `before`'s version (its waitlist is
        not the room's to write: fakes/waitlist.py applies what the change decided)."""
        store = self._store

        def seen() -> None:
            current = store.rooms.get(before.room_id)
            if current is None or _version(current) != _version(before):
                raise GuardFailed
            store.rooms[after.room_id] = replace(
                after, revision=current.revision, waitlist=Waitlist()
            )

        self._uow.guard(seen, lambda: self._read(before.room_id))

    def remove(self, before: Room, after: Room) -> None:
        store = self._store

        def seen() -> None:
            current = store.rooms.get(before.room_id)
            if current is None or _version(current) != _version(before):
                raise GuardFailed

        self._uow.guard(seen, lambda: self._read(before.room_id))

        def delete() -> None:
            del store.rooms[before.room_id]
            store.waitlists.pop(before.room_id, None)
            store.slots = [s for s in store.slots if s.room_id != before.room_id]
            store.holders.pop(before.room_id, None)

        self._uow.queue(delete)

    def _add_slot(self, room_id: uuid.UUID, user_no: int, starts: datetime, ends: datetime) -> None:
        """The exclusion constraint: one person's sessions never overlap."""
        for slot in self._store.slots:
            if slot.user_no == user_no and slot.starts < ends and starts < slot.ends:
                raise errors.ScheduleConflict("overlaps another session")
        self._store.slots.append(Slot(room_id, user_no, starts, ends))


def _version(room: Room) -> tuple[int, int]:
    """What a guard compares: the sequence, and the revision every change stamps."""
    return room.sequence, room.revision


def _words(text: str) -> set[str]:
    """PostgreSQL's `simple` text search, near enough for the use cases' tests: words
    of letters and digits, any case (the SQL itself is tested against PostgreSQL)."""
    return set(re.findall(r"[^\W_]+", text.lower()))


def _matches(room: Room, text: str, viewer: User) -> bool:
    public = _words(" ".join([room.title, *(r.topic for r in room.rounds)]))
    visible = room.is_open or viewer.user_id in room.participants or viewer.trusted
    words = public | _words(room.description) if visible else public
    return _words(text) <= words
