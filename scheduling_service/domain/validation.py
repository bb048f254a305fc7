"""The checks of what callers send: limits, times, durations, ids. Pure, no I/O.

Each check appends to a list of violations so that one reply names every bad field
(google.rpc.BadRequest); `raise_if_any` turns the list into InvalidArgument. A room's
own invariants (its start and length) are room.py's, which Room.new and
Room.rescheduled_by enforce too; the checks here apply them to a request's fields, with
what only a request has: a field left out, a value that does not parse, how far ahead a
session may be (MAX_ADVANCE_DAYS, the deployment's policy), a caller's own reminder
offsets (the deployment's REMINDER_OFFSETS may be anything). The text hygiene both
services share (control characters and the like) is applied where requests enter, in
entrypoints/request_parsers.py.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from scheduling_service.domain import room
from scheduling_service.domain.errors import FieldViolation, InvalidArgument

TITLE_MAX = 200
DESCRIPTION_MAX = 4000
TOPIC_MAX = 200
REASON_MAX = 500
USER_ID_MAX = 128

REMINDERS_MAX = 3
MIN_REMINDER = timedelta(minutes=5)
MAX_REMINDER = timedelta(days=7)

# A CreateRoom request without a duration asks for this.
DEFAULT_DURATION = timedelta(minutes=60)


# protobuf Timestamps may hold years 1 to 9999; datetime agrees.
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class Violations(list[FieldViolation]):
    def add(self, field: str, description: str) -> None:
        self.append(FieldViolation(field, description))

    def raise_if_any(self) -> None:
        if self:
            raise InvalidArgument(list(self))


def room_id(v: Violations, field: str, value: str) -> uuid.UUID:
    return _uuid(v, field, value, required=True) or uuid.UUID(int=0)


def request_id(v: Violations, field: str, value: str) -> uuid.UUID | None:
    return _uuid(v, field, value, required=False)


def _uuid(v: Violations, field: str, value: str, *, required: bool) -> uuid.UUID | None:
    if not value:
        if required:
            v.add(field, "is required")
        return None
    try:
        # Only the canonical 36-character form: the id is part of URLs and logs.
        if len(value) != 36:
            raise ValueError(value)
        return uuid.UUID(value)
    except ValueError:
        v.add(field, "must be a UUID like 123e4567-e89b-12d3-a456-426614174000")
        return None


def timestamp(
    v: Violations, field: str, seconds: int, nanos: int, *, required: bool, whole_second: bool
) -> datetime | None:
    """A protobuf Timestamp's parts as an aware UTC datetime; None when unset."""
    if seconds == 0 and nanos == 0:
        if required:
            v.add(field, "is required")
        return None
    if whole_second and nanos != 0:
        v.add(field, "must be on a whole second")
        return None
    try:
        return _EPOCH + timedelta(seconds=seconds, microseconds=nanos // 1000)
    except OverflowError:
        v.add(field, "is out of range")
        return None


def session_start(
    v: Violations, field: str, start: datetime | None, *, now: datetime, max_advance_days: int
) -> None:
    if start is None:
        return
    problem = room.start_problem(start, now)
    if problem is not None:
        v.add(field, problem)
    elif start - now > timedelta(days=max_advance_days):
        v.add(field, f"must be at most {max_advance_days} days ahead")


def duration(
    v: Violations, field: str, seconds: int, nanos: int, *, default: timedelta | None
) -> timedelta | None:
    """A protobuf Duration's parts; `default` when unset."""
    if seconds == 0 and nanos == 0:
        return default
    if nanos != 0:
        v.add(field, "must be whole seconds")
        return None
    try:
        length = timedelta(seconds=seconds)
    except OverflowError:  # more than a timedelta holds: far out of bounds
        v.add(field, room.DURATION_OUT_OF_BOUNDS)
        return None
    problem = room.length_problem(length)
    if problem is not None:
        v.add(field, problem)
        return None
    return length


def page_size(v: Violations, field: str, value: int, *, default: int, maximum: int) -> int:
    if value < 0:
        v.add(field, "must not be negative")
        return default
    if value == 0:
        return default
    return min(value, maximum)


def reminder_offsets(
    v: Violations, field: str, offsets: list[tuple[int, int]]
) -> tuple[timedelta, ...] | None:
    """A room's own reminder offsets (protobuf Durations' parts): at most 3, whole
    minutes from 5 minutes to 7 days, sorted and without repeats; None when unset."""
    if not offsets:
        return None
    if len(offsets) > REMINDERS_MAX:
        v.add(field, f"at most {REMINDERS_MAX} reminders")
        return None
    chosen = set()
    for index, (seconds, nanos) in enumerate(offsets):
        if nanos != 0 or seconds % 60 != 0:
            v.add(f"{field}[{index}]", "must be whole minutes")
        elif not MIN_REMINDER.total_seconds() <= seconds <= MAX_REMINDER.total_seconds():
            v.add(f"{field}[{index}]", "must be from 5 minutes to 7 days")
        else:
            chosen.add(timedelta(seconds=seconds))
    return tuple(sorted(chosen, reverse=True))
