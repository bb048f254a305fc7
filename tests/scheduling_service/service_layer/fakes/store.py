"""What the fakes hold: one in-memory store standing for the database, and how a
change's writes are undone when one of them fails."""

from __future__ import annotations

import itertools
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from scheduling_service.domain.calendar import Connection, CopyState
from scheduling_service.domain.calendar_feed import Tombstone
from scheduling_service.domain.change_log import ChangeLogEntry
from scheduling_service.domain.changes import Change
from scheduling_service.domain.invites import Invite
from scheduling_service.domain.outbox import (
    Outcome,
    State,
)
from scheduling_service.domain.reminders import Reminder
from scheduling_service.domain.room import Room
from scheduling_service.domain.users import Contact
from scheduling_service.domain.waitlist import Waitlist
from scheduling_service.domain.waitlist_changes import NoticeToWrite


@dataclass
class Message:
    """An outbox row, with what the SQL adapter would serialize kept as objects."""

    id: int
    room_id: uuid.UUID
    ics_uid: str
    sequence: int
    change: Change
    invite: Invite
    recipient: Contact  # without an email on a skipped row
    state: State = State.PENDING
    attempts: int = 0
    lease: uuid.UUID | None = None
    last_error: str | None = None
    reminder: Reminder | None = None  # a reminder row (invite is then unused)
    outcome: Outcome | None = None
    notice: NoticeToWrite | None = None  # a waitlist e-mail (invite is then unused)


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
    outbox_ids: Iterator[int] = field(default_factory=lambda: itertools.count(1))
    # Reminder hand-offs under way per room. The SQL adapter share-locks the room, and a
    # change to it waits: that waiting is PostgreSQL's, tested end to end, not here.
    held: Counter[uuid.UUID] = field(default_factory=Counter)
    events: list[tuple[int, ChangeLogEntry]] = field(default_factory=list)
    # Calendar connections, and each (room, user) copy's state and version.
    connections: dict[str, Connection] = field(default_factory=dict)
    copies: dict[tuple[uuid.UUID, str], tuple[CopyState, int]] = field(default_factory=dict)
    # Calendar feeds by user (fakes/feeds.py's Feed), and their tombstones by (user, room).
    feeds: dict[str, Any] = field(default_factory=dict)
    tombstones: dict[tuple[str, uuid.UUID], Tombstone] = field(default_factory=dict)
    # Busy time read from connected calendars, by user_no.
    busy: dict[int, list[tuple[datetime, datetime]]] = field(default_factory=dict)
    # Each room's waitlist, apart from the room as in the database.
    waitlists: dict[uuid.UUID, Waitlist] = field(default_factory=dict)
    reads: int = 0  # statements that read a room, to show what a use case costs
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    # Called at the start of every commit: a test's chance to let "another replica"
    # change the store between a use case's read and its write.
    before_commit: Callable[[], None] | None = None
    # Awaited once, after a claim that took messages: a test's chance to change a room
    # between a relay's claim and its hand-off of what it claimed.
    after_claim: Callable[[], Awaitable[None]] | None = None

    @property
    def revision(self) -> int:
        return self.events[-1][0] if self.events else 0

    def user_no(self, user_id: str) -> int:
        return self.users[user_id][0]


class GuardFailed(Exception):
    """The guard did not hold: the queued writes are dropped."""


def snapshot(store: Store) -> dict[str, Any]:
    return {
        "rooms": dict(store.rooms),
        "slots": list(store.slots),
        "requests": dict(store.requests),
        "holders": dict(store.holders),
        "outbox": [replace(m) for m in store.outbox],
        "events": list(store.events),
        "connections": dict(store.connections),
        "copies": dict(store.copies),
        "tombstones": dict(store.tombstones),
        "waitlists": dict(store.waitlists),
    }


def restore(store: Store, saved: dict[str, Any]) -> None:
    for name, value in saved.items():
        setattr(store, name, value)
