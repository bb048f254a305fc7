"""The waitlist's own changes (join, leave, a hold's lapse), and what any change of a
room writes for its waitlist: the rows, and who is e-mailed (docs/design.md §16). Pure.

The room's own changes move its waitlist too (room.py): a booking by the holder takes
them out of line, a guest's leave gives the first in line a hold, a reschedule starts a
hold again, a cancel ends the line. `writes_for` compares the waitlist before and after
any change and says what the adapters write: they decide nothing.
"""

from __future__ import annotations

import enum
import uuid
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from scheduling_service.domain import errors
from scheduling_service.domain.changes import Change
from scheduling_service.domain.room import Room
from scheduling_service.domain.users import Contact, People
from scheduling_service.domain.waitlist import Waitlist


def joined_by(room: Room, user_id: str, now: datetime, *, max_waiting: int) -> Room:
    """`user_id` at the end of the line; the room itself when they are in it already."""
    if user_id in room.participants:
        raise errors.AlreadyParticipant("you take part in this room: no need to wait for it")
    waitlist = room.waitlist
    if waitlist.position(user_id):
        return room
    if room.has_started(now):
        raise errors.RoomStarted("the session has already started")
    if room.is_open and waitlist.holder is None:
        raise errors.RoomNotBooked("the room is open: book it instead of waiting")
    if waitlist.length >= max_waiting:
        raise errors.WaitlistFull(f"{waitlist.length} people wait for this room already")
    return replace(room, waitlist=Waitlist((*waitlist.waiting, user_id), waitlist.hold_until))


def left_by(room: Room, user_id: str, now: datetime, *, hold: timedelta) -> Room:
    """`user_id` out of the line (the room itself when they were not in it); a hold of
    theirs passes to the next in line at once."""
    waitlist = room.waitlist
    if not waitlist.position(user_id):
        return room
    if waitlist.holder != user_id:
        return replace(room, waitlist=waitlist.without(user_id))
    return _pass_on(room, waitlist.waiting[1:], now, hold)


def lapsed(room: Room, holder: str, until: datetime, now: datetime, *, hold: timedelta) -> Room:
    """The hold `holder` had until `until`, passed on to the next in line; the room
    itself when that hold is no longer there to lapse (it was booked, given up, moved or
    passed on already, by this replica or another) or is not due yet."""
    waitlist = room.waitlist
    if waitlist.holder != holder or waitlist.hold_until != until or now < until:
        return room
    return _pass_on(room, waitlist.waiting[1:], now, hold)


def _pass_on(room: Room, rest: tuple[str, ...], now: datetime, hold: timedelta) -> Room:
    """The next in line holds the room; once the session has started nobody can book
    it, so the line ends instead."""
    if room.has_started(now):
        return replace(room, waitlist=Waitlist())
    return replace(room, waitlist=Waitlist(rest).offered(now, hold, room.starts))


@dataclass(frozen=True)
class DueHold:
    """A hold whose end has come, as the hold keeper found it."""

    room_id: uuid.UUID
    holder: str
    until: datetime


class NoticeKind(enum.Enum):
    OFFER = "OFFER"  # the room is held for the recipient
    CANCELLED = "CANCELLED"  # the session they waited for is cancelled


@dataclass(frozen=True)
class NoticeToWrite:
    kind: NoticeKind
    recipient_id: str
    recipient: Contact | None  # None: no address known, recorded as skipped
    hold_until: datetime | None  # an offer's


@dataclass(frozen=True)
class WaitlistWrites:
    """What a change writes for the room's waitlist: who leaves the line and who joins
    it (in order, at its end), the hold as it stands after (`holder` None: none; a
    changed one replaces the old), the e-mails, and whose pending e-mails about the
    room become superseded (a newer one replaces them, or they no longer hold)."""

    change: Change
    room: Room  # after the change (a cancel: the room as it was)
    now: datetime
    removed: tuple[str, ...]
    added: tuple[str, ...]
    hold_changed: bool
    holder: str | None
    hold_until: datetime | None
    notices: tuple[NoticeToWrite, ...]
    superseding: tuple[str, ...]

    @property
    def nothing(self) -> bool:
        return not (self.removed or self.added or self.hold_changed or self.notices)


def writes_for(
    change: Change, before: Room, after: Room, people: People, now: datetime
) -> WaitlistWrites:
    old, new = before.waitlist, after.waitlist
    removed = tuple(u for u in old.waiting if u not in new.waiting)
    added = tuple(u for u in new.waiting if u not in old.waiting)
    hold_changed = (old.holder, old.hold_until) != (new.holder, new.hold_until)
    told: list[tuple[NoticeKind, str]] = []
    if change is Change.CANCELLED:
        told = [(NoticeKind.CANCELLED, user) for user in old.waiting]
    elif hold_changed and new.holder is not None:
        told = [(NoticeKind.OFFER, new.holder)]
    reachable = {u: c for u, c in people.contacts.items() if c.email}
    notices = tuple(
        NoticeToWrite(
            kind,
            user,
            reachable.get(user),
            new.hold_until if kind is NoticeKind.OFFER else None,
        )
        for kind, user in told
    )
    return WaitlistWrites(
        change=change,
        room=after,
        now=now,
        removed=removed,
        added=added,
        hold_changed=hold_changed,
        holder=new.holder,
        hold_until=new.hold_until if new.holder is not None else None,
        notices=notices,
        superseding=tuple(sorted({*removed, *(user for _, user in told)})),
    )
