"""The booking rules: what a room is and who may do what to it, when.

Plain objects, no I/O. Each rule takes the room as it is and returns the room as it
will be (SEQUENCE included) or raises why not; the repository writes the new state only
if the room is still the version the rule saw (see commit_result.CommitResult).

A room's times obey its invariants wherever it is made or moved (Room.new and
rescheduled_by): the session starts on a whole second, in the future, and lasts whole
seconds, from 5 minutes to 8 hours (so it ends after it starts). The request parsers
apply the same rules (start_problem, length_problem) to name every bad field of a
request in one reply; what only a request has (a field left out, a value that does not
parse, MAX_ADVANCE_DAYS, a caller's own reminder offsets) is checked there alone. A
room read back from storage is taken as it was stored.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from scheduling_service.domain import errors
from scheduling_service.domain.mail import CopyView, MailState
from scheduling_service.domain.waitlist import DEFAULT_HOLD, Waitlist

MIN_DURATION = timedelta(minutes=5)
MAX_DURATION = timedelta(hours=8)
DURATION_OUT_OF_BOUNDS = "must be from 5 minutes to 8 hours"
_SECOND = timedelta(seconds=1)


def start_problem(starts: datetime, now: datetime) -> str | None:
    """Why a session cannot start at `starts`, decided at `now`; None when it can."""
    if starts.microsecond:
        return "must be on a whole second"
    if starts <= now:
        return "must be in the future"
    return None


def length_problem(length: timedelta) -> str | None:
    """Why a session cannot last `length`; None when it can."""
    if length % _SECOND:
        return "must be whole seconds"
    if not MIN_DURATION <= length <= MAX_DURATION:
        return DURATION_OUT_OF_BOUNDS
    return None


def _check_times(starts: datetime, length: timedelta, now: datetime) -> None:
    """InvalidArgument naming the request fields the times came from, as the request
    parsers do."""
    violations = []
    start = start_problem(starts, now)
    if start is not None:
        violations.append(errors.FieldViolation("start_time", start))
    duration = length_problem(length)
    if duration is not None:
        violations.append(errors.FieldViolation("duration", duration))
    if violations:
        raise errors.InvalidArgument(violations)


@dataclass(frozen=True)
class Round:
    round_id: uuid.UUID
    number: int
    topic: str
    create_time: datetime


@dataclass(frozen=True)
class Room:
    room_id: uuid.UUID
    host_id: str
    guest_id: str | None
    title: str
    description: str
    starts: datetime
    ends: datetime
    ics_uid: str
    sequence: int
    revision: int
    create_time: datetime
    update_time: datetime
    rounds: tuple[Round, ...] = field(default=())
    # How long before the start each participant of a booked room is reminded.
    reminder_offsets: tuple[timedelta, ...] = field(default=())
    # Where the latest e-mail to each participant stands, as read (never written
    # back); shown to the participants only (visibility.py).
    mail: tuple[MailState, ...] = field(default=())
    calendar: tuple[CopyView, ...] = field(default=())
    # Who waits for the room, and the first in line's hold (waitlist.py); the
    # changes below keep it right, waitlist_changes.py has the rest of its rules.
    waitlist: Waitlist = field(default=Waitlist())

    @classmethod
    def new(
        cls,
        *,
        host_id: str,
        title: str,
        description: str,
        starts: datetime,
        length: timedelta,
        first_round_topic: str,
        uid_domain: str,
        now: datetime,
        reminder_offsets: tuple[timedelta, ...] = (),
    ) -> Room:
        _check_times(starts, length, now)
        room_id = uuid.uuid4()
        return cls(
            room_id=room_id,
            host_id=host_id,
            guest_id=None,
            title=title,
            description=description,
            starts=starts,
            ends=starts + length,
            # Fixed for the room's life: calendars match updates and cancels by UID.
            ics_uid=f"{room_id}@{uid_domain}",
            sequence=0,
            revision=0,
            create_time=now,
            update_time=now,
            rounds=(Round(uuid.uuid4(), 1, first_round_topic, now),),
            reminder_offsets=reminder_offsets,
        )

    @property
    def etag(self) -> str:
        return str(self.revision)

    @property
    def length(self) -> timedelta:
        return self.ends - self.starts

    @property
    def is_open(self) -> bool:
        return self.guest_id is None

    @property
    def participants(self) -> tuple[str, ...]:
        return (self.host_id,) if self.guest_id is None else (self.host_id, self.guest_id)

    def has_started(self, now: datetime) -> bool:
        return now >= self.starts

    def booked_by(self, user_id: str, now: datetime) -> Room:
        """The room booked by `user_id`; itself when they already are the guest (a
        retried booking by its winner is a success, not a conflict)."""
        if user_id == self.host_id:
            raise errors.HostCannotBook("the host cannot book their own room")
        if self.guest_id == user_id:
            return self
        if self.guest_id is not None:
            raise errors.RoomAlreadyBooked("the room is already booked")
        if self.has_started(now):
            raise errors.RoomStarted("the session has already started")
        self.waitlist.check_booking(user_id, now)
        return replace(
            self,
            guest_id=user_id,
            sequence=self.sequence + 1,
            update_time=now,
            waitlist=self.waitlist.without(user_id),
        )

    def left_by(self, user_id: str, now: datetime, *, hold: timedelta = DEFAULT_HOLD) -> Room:
        """The room without its guest; the first on its waitlist holds it for `hold`."""
        if self.guest_id != user_id:
            raise errors.NotRoomGuest("only the room's guest can leave it")
        if self.has_started(now):
            raise errors.RoomStarted("the session has already started")
        return replace(
            self,
            guest_id=None,
            sequence=self.sequence + 1,
            update_time=now,
            waitlist=self.waitlist.offered(now, hold, self.starts),
        )

    def rescheduled_by(
        self,
        user_id: str,
        *,
        starts: datetime,
        length: timedelta | None,
        etag: str,
        now: datetime,
        hold: timedelta = DEFAULT_HOLD,
    ) -> Room:
        """The room moved to `starts`, lasting `length` (None: as long as it did). The
        waitlist stays; a running hold starts again for `hold` (its holder is offered
        the new time), an ended one passes to the next in line."""
        self._check_host(user_id, etag)
        if self.has_started(now):
            raise errors.RoomStarted("the session has already started")
        length = length if length is not None else self.length
        _check_times(starts, length, now)
        ends = starts + length
        waitlist = self.waitlist
        if waitlist.holder is not None and waitlist.hold_until is not None:
            # A running hold starts again (the new time is offered to its holder); one
            # already ended is the next in line's turn, not a second one for its holder.
            if now >= waitlist.hold_until:
                waitlist = Waitlist(waitlist.waiting[1:])
            waitlist = waitlist.offered(now, hold, starts)
        return replace(
            self,
            starts=starts,
            ends=ends,
            sequence=self.sequence + 1,
            update_time=now,
            waitlist=waitlist,
        )

    def cancelled_by(self, user_id: str, *, etag: str, now: datetime) -> Room:
        """The room as it stands when cancelled: what watchers and invites are told.
        Its waitlist ends (those waiting are told: waitlist_changes.py)."""
        self._check_host(user_id, etag)
        return replace(self, sequence=self.sequence + 1, update_time=now, waitlist=Waitlist())

    def _check_host(self, user_id: str, etag: str) -> None:
        if user_id != self.host_id:
            raise errors.NotRoomHost("only the room's host can change it")
        if etag and etag != self.etag:
            raise errors.EtagMismatch("the room has changed since this etag was read")
