"""In-memory stand-ins for the service layer's ports (service_layer/ports.py).

They keep the adapters' semantics where the use cases depend on them: a change's writes
are queued and applied at commit only if the guard holds (the room is still the version
the rules saw), a lost race brings back the room as it stands, the exclusion constraint
refuses overlapping slots, revisions rise by one per change, and the outbox keeps who
holds each room's event.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, TypeVar

from scheduling_service.domain import errors
from scheduling_service.domain.changes import Change, Written
from scheduling_service.domain.invites import Invite, Method, holders_after
from scheduling_service.domain.outbox import (
    Attempt,
    Claimed,
    FailedMessage,
    Finished,
    OutboxStats,
    Outcome,
    State,
)
from scheduling_service.domain.queries import RoomQuery
from scheduling_service.domain.reminders import Due, Reminder, ReminderPlan
from scheduling_service.domain.room import Room
from scheduling_service.domain.users import Contact, People, User
from scheduling_service.domain.views import public, seen_by
from scheduling_service.domain.watch import WatchEvent, WatchFilter

T = TypeVar("T")


@dataclass
class Message:
    """An outbox row, with what the SQL adapter would serialize kept as objects."""

    id: int
    room_id: uuid.UUID
    ics_uid: str
    sequence: int
    change: Change
    invite: Invite
    recipient: Contact
    state: State = State.PENDING
    attempts: int = 0
    lease: uuid.UUID | None = None
    last_error: str | None = None
    reminder: Reminder | None = None  # a reminder row (invite is then unused)
    outcome: Outcome | None = None


@dataclass
class Slot:
    room_id: uuid.UUID
    user_no: int
    starts: datetime
    ends: datetime


@dataclass
class Store:
    """What the database would hold."""

    rooms: dict[uuid.UUID, Room] = field(default_factory=dict)
    slots: list[Slot] = field(default_factory=list)
    users: dict[str, tuple[int, Contact]] = field(default_factory=dict)
    requests: dict[tuple[str, uuid.UUID], uuid.UUID] = field(default_factory=dict)
    holders: dict[uuid.UUID, frozenset[str]] = field(default_factory=dict)
    outbox: list[Message] = field(default_factory=list)
    events: list[tuple[int, Change, Room]] = field(default_factory=list)
    reads: int = 0  # statements that read a room, to show what a use case costs
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    # Called at the start of every commit: a test's chance to let "another replica"
    # change the store between a use case's read and its write.
    before_commit: Callable[[], None] | None = None

    @property
    def revision(self) -> int:
        return self.events[-1][0] if self.events else 0

    def user_no(self, user_id: str) -> int:
        return self.users[user_id][0]


class _Guard(Exception):
    """The guard did not hold: the queued writes are dropped."""


class FakeUnitOfWork:
    def __init__(self, store: Store) -> None:
        self.store = store
        self._guard: Callable[[], None] | None = None
        self._current: Callable[[], Room | None] = lambda: None
        self._writes: list[Callable[[], None]] = []
        self.rooms = FakeRooms(self)
        self.outbox = FakeOutbox(self)
        self.directory = FakeDirectory(self)
        self.changes = FakeChangeLog(self)
        self._revision = 0

    def guard(self, check: Callable[[], None], current: Callable[[], Room | None]) -> None:
        assert self._guard is None and not self._writes, "the guard goes first, once"
        self._guard, self._current = check, current

    def queue(self, write: Callable[[], None]) -> None:
        assert self._guard is not None, "a queued write follows a guard"
        self._writes.append(write)

    async def commit(self) -> Written:
        if self.store.before_commit is not None:
            hook, self.store.before_commit = self.store.before_commit, None
            hook()
        guard, writes = self._guard, self._writes
        self._guard, self._writes = None, []
        assert guard is not None, "nothing to commit"
        saved = _snapshot(self.store)
        try:
            guard()
        except _Guard:
            return Written(applied=False, current=self._current())
        try:
            for write in writes:
                write()
        except Exception:
            _restore(self.store, saved)  # all or nothing, like a transaction
            raise
        return Written(applied=True, revision=self._revision)

    async def ping(self) -> None:
        return None


def _snapshot(store: Store) -> dict[str, Any]:
    return {
        "rooms": dict(store.rooms),
        "slots": list(store.slots),
        "requests": dict(store.requests),
        "holders": dict(store.holders),
        "outbox": [replace(m) for m in store.outbox],
        "events": list(store.events),
    }


def _restore(store: Store, saved: dict[str, Any]) -> None:
    for name, value in saved.items():
        setattr(store, name, value)


class FakeRooms:
    def __init__(self, uow: FakeUnitOfWork) -> None:
        self._uow = uow
        self._store = uow.store

    async def get(self, room_id: uuid.UUID, viewer: User) -> Room | None:
        self._store.reads += 1
        return self._store.rooms.get(room_id)

    async def get_for_change(
        self, room_id: uuid.UUID, caller_id: str
    ) -> tuple[Room, People] | None:
        self._store.reads += 1
        room = self._store.rooms.get(room_id)
        if room is None:
            return None
        holders = self._store.holders.get(room_id, frozenset())
        wanted = {room.host_id, caller_id, *holders} | ({room.guest_id} if room.guest_id else set())
        contacts = {u: self._store.users[u][1] for u in wanted if u in self._store.users}
        return room, People(holders, contacts)

    async def list(
        self,
        query: RoomQuery,
        viewer: User,
        *,
        after: tuple[datetime, uuid.UUID] | None,
        limit: int,
    ) -> list[Room]:
        self._store.reads += 1
        rooms = sorted(self._store.rooms.values(), key=lambda r: (r.starts, r.room_id))
        chosen = [
            r
            for r in rooms
            if (not query.open_only or r.is_open)
            and (not query.participant_id or query.participant_id in r.participants)
            and (query.start_after is None or r.starts >= query.start_after)
            and (query.start_before is None or r.starts < query.start_before)
            and (after is None or (r.starts, r.room_id) > after)
        ]
        return chosen[:limit]

    def add(self, room: Room, host_no: int, request_id: uuid.UUID | None) -> None:
        store = self._store
        key = (room.host_id, request_id) if request_id else None

        def claim() -> None:
            if key is not None:
                if key in store.requests:
                    raise _Guard
                store.requests[key] = room.room_id

        def earlier() -> Room | None:
            return store.rooms.get(store.requests[key]) if key else None

        self._uow.guard(claim, earlier)

        def insert() -> None:
            store.rooms[room.room_id] = room
            self._add_slot(room.room_id, host_no, room.starts, room.ends)

        self._uow.queue(insert)

    def book(self, before: Room, after: Room, guest_no: int) -> None:
        self._update(before, after, guest_no)

    def leave(self, before: Room, after: Room) -> None:
        self._update(before, after, None)

    def reschedule(self, before: Room, after: Room) -> None:
        self._update(before, after, None)

    def _update(self, before: Room, after: Room, guest_no: int | None) -> None:
        store = self._store

        def seen() -> None:
            current = store.rooms.get(before.room_id)
            if current is None or current.sequence != before.sequence:
                raise _Guard
            store.rooms[after.room_id] = replace(after, revision=current.revision)

        self._uow.guard(seen, lambda: store.rooms.get(before.room_id))

        def slots() -> None:
            if before.guest_id is None and after.guest_id is not None:
                assert guest_no is not None
                self._add_slot(after.room_id, guest_no, after.starts, after.ends)
            elif before.guest_id is not None and after.guest_id is None:
                gone = store.user_no(before.guest_id)
                store.slots = [
                    s for s in store.slots if (s.room_id, s.user_no) != (after.room_id, gone)
                ]
            if (before.starts, before.ends) != (after.starts, after.ends):
                moving = [s for s in store.slots if s.room_id == after.room_id]
                store.slots = [s for s in store.slots if s.room_id != after.room_id]
                for slot in moving:
                    self._add_slot(slot.room_id, slot.user_no, after.starts, after.ends)

        self._uow.queue(slots)

    def remove(self, before: Room, after: Room) -> None:
        store = self._store

        def seen() -> None:
            current = store.rooms.get(before.room_id)
            if current is None or current.sequence != before.sequence:
                raise _Guard

        self._uow.guard(seen, lambda: store.rooms.get(before.room_id))

        def delete() -> None:
            del store.rooms[before.room_id]
            store.slots = [s for s in store.slots if s.room_id != before.room_id]
            store.holders.pop(before.room_id, None)

        self._uow.queue(delete)

    def _add_slot(self, room_id: uuid.UUID, user_no: int, starts: datetime, ends: datetime) -> None:
        """The exclusion constraint: one person's sessions never overlap."""
        for slot in self._store.slots:
            if slot.user_no == user_no and slot.starts < ends and starts < slot.ends:
                raise errors.ScheduleConflict("overlaps another session")
        self._store.slots.append(Slot(room_id, user_no, starts, ends))


class FakeOutbox:
    def __init__(self, uow: FakeUnitOfWork) -> None:
        self._uow = uow
        self._store = uow.store

    def record(
        self,
        change: Change,
        before: Room | None,
        after: Room,
        invites: list[Invite],
        reminders: ReminderPlan,
        people: People,
        *,
        now: datetime,
        cancel_reason: str = "",
    ) -> None:
        if invites:
            self._invite(after, invites, people, change)
        self._remind(after, reminders, people)

    def _invite(self, after: Room, invites: list[Invite], people: People, change: Change) -> None:
        store = self._store

        def write() -> None:
            store.holders[after.room_id] = holders_after(people.holders, invites)
            for invite in invites:
                contact = people.contacts.get(invite.recipient_id)
                if contact is None or not contact.email:
                    continue  # skipped: no address known
                for older in store.outbox:
                    if (
                        older.reminder is None
                        and older.ics_uid == after.ics_uid
                        and older.recipient.user_id == invite.recipient_id
                        and older.state is State.PENDING
                        and older.lease is None
                    ):
                        older.state = State.SUPERSEDED
                store.outbox.append(
                    Message(
                        len(store.outbox) + 1,
                        after.room_id,
                        after.ics_uid,
                        after.sequence,
                        change,
                        invite,
                        contact,
                    )
                )

        self._uow.queue(write)

    def _remind(self, room: Room, plan: ReminderPlan, people: People) -> None:
        if not plan.changes_anything:
            return
        store = self._store

        def write() -> None:
            if plan.remove_pending:
                store.outbox = [
                    m
                    for m in store.outbox
                    if not (
                        m.reminder is not None
                        and m.room_id == room.room_id
                        and m.state is State.PENDING
                        and m.lease is None
                    )
                ]
            for reminder in plan.add:
                contact = people.contacts.get(reminder.recipient_id)
                if contact is None or not contact.email:
                    continue
                store.outbox.append(
                    Message(
                        len(store.outbox) + 1000,
                        room.room_id,
                        room.ics_uid,
                        room.sequence,
                        Change.BOOKED,
                        Invite(reminder.recipient_id, Method.REQUEST),
                        contact,
                        reminder=reminder,
                    )
                )

        self._uow.queue(write)

    async def claim(self, token: uuid.UUID, limit: int, lease_s: float) -> list[Claimed]:
        claimed = []
        now = self._store.clock()
        for message in self._store.outbox:
            if len(claimed) == limit:
                break
            due = message.reminder is None or message.reminder.due <= now
            if message.state is State.PENDING and message.lease is None and due:
                message.lease = token
                message.attempts += 1
                claimed.append(self._claimed(message))
        return claimed

    def _claimed(self, message: Message) -> Claimed:
        reminder = None
        if message.reminder is not None:
            room = self._store.rooms.get(message.room_id)
            reminder = Due(
                message.recipient.user_id,
                message.reminder.starts,
                room.starts if room else None,
                room.participants if room else (),
            )
        return Claimed(
            message.id,
            message.room_id,
            message.ics_uid,
            message.sequence,
            "REMINDER" if reminder else message.invite.method.value,
            message.recipient.user_id,
            message.attempts,
            b"",
            reminder,
        )

    async def finish(self, results: list[Finished]) -> dict[int, State]:
        recorded = {}
        for result in results:
            message = next(m for m in self._store.outbox if m.id == result.claimed.id)
            if message.lease != result.token:
                continue
            message.lease, message.state, message.last_error = None, result.state, result.error
            message.outcome = result.outcome
            recorded[message.id] = result.state
        return recorded

    async def failed(self, limit: int) -> list[FailedMessage]:
        return [
            FailedMessage(
                m.id,
                m.room_id,
                m.ics_uid,
                m.sequence,
                m.invite.method.value,
                m.recipient.user_id,
                m.attempts,
                m.last_error,
                datetime.min,
            )
            for m in self._store.outbox
            if m.state is State.FAILED
        ][:limit]

    async def retry_failed(self, ids: list[int] | None) -> list[int]:
        again = [m for m in self._store.outbox if m.state is State.FAILED]
        again = [m for m in again if ids is None or m.id in ids]
        for message in again:
            message.state, message.attempts = State.PENDING, 0
        return [m.id for m in again]

    async def purge(self, before: datetime) -> int:
        return 0

    async def stats(self) -> OutboxStats:
        pending = sum(m.state is State.PENDING for m in self._store.outbox)
        failed = sum(m.state is State.FAILED for m in self._store.outbox)
        return OutboxStats(pending, failed, 0.0)


class FakeDirectory:
    def __init__(self, uow: FakeUnitOfWork) -> None:
        self._store = uow.store

    async def register(self, user: User) -> int:
        known = self._store.users.get(user.user_id)
        number = known[0] if known else len(self._store.users) + 1
        old = known[1] if known else Contact(user.user_id, None, None, None)
        self._store.users[user.user_id] = (
            number,
            Contact(
                user.user_id,
                user.email or old.email,
                user.name or old.name,
                user.zoneinfo or old.zoneinfo,
            ),
        )
        return number


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

    async def stream_after(self, revision: int) -> AsyncIterator[WatchEvent]:
        for event in self._store.events:
            if event[0] > revision:
                yield _event(event)

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


class FakeDatabase:
    def __init__(self, store: Store | None = None) -> None:
        self.store = store or Store()

    async def run(
        self,
        work: Callable[[FakeUnitOfWork], Awaitable[T]],
        *,
        time_left_s: float | None = None,
    ) -> T:
        return await work(FakeUnitOfWork(self.store))

    @asynccontextmanager
    async def snapshot(self) -> AsyncIterator[FakeUnitOfWork]:
        yield FakeUnitOfWork(self.store)


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


__all__ = ["FakeClock", "FakeDatabase", "FakeNotices", "FakeSender", "Method", "Store", "person"]
