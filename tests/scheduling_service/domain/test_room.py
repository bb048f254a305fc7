"""The booking rules as plain objects (no server, no database)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from scheduling_service.domain import errors
from scheduling_service.domain.room import Room

NOW = datetime(2030, 1, 1, 12, tzinfo=UTC)


def _room(**changes) -> Room:
    room = Room.new(
        host_id="host",
        title="t",
        description="",
        starts=NOW + timedelta(days=1),
        length=timedelta(hours=1),
        first_round_topic="warm-up",
        uid_domain="example.test",
        now=NOW,
    )
    return room if not changes else Room(**{**room.__dict__, **changes})


def test_new_room_has_a_fixed_uid_sequence_zero_and_round_one() -> None:
    room = _room()
    assert room.ics_uid == f"{room.room_id}@example.test"
    assert room.sequence == 0 and room.guest_id is None
    assert [(r.number, r.topic) for r in room.rounds] == [(1, "warm-up")]
    assert room.ends - room.starts == timedelta(hours=1)


def test_booking_rules() -> None:
    room = _room()
    booked = room.booked_by("guest", NOW)
    assert booked.guest_id == "guest" and booked.sequence == 1 and booked.ics_uid == room.ics_uid
    with pytest.raises(errors.HostCannotBook):
        room.booked_by("host", NOW)
    with pytest.raises(errors.RoomAlreadyBooked):
        booked.booked_by("someone-else", NOW)
    assert booked.booked_by("guest", NOW) is booked  # a retry by the winner: no change
    with pytest.raises(errors.RoomStarted):
        room.booked_by("guest", room.starts)


def test_leave_rules() -> None:
    booked = _room().booked_by("guest", NOW)
    left = booked.left_by("guest", NOW)
    assert left.guest_id is None and left.sequence == 2
    with pytest.raises(errors.NotRoomGuest):
        booked.left_by("host", NOW)
    with pytest.raises(errors.RoomStarted):
        booked.left_by("guest", booked.starts + timedelta(minutes=1))


def test_reschedule_and_cancel_rules() -> None:
    room = _room(revision=7)
    new_start = NOW + timedelta(days=2)
    moved = room.rescheduled_by("host", starts=new_start, length=None, etag="7", now=NOW)
    assert moved.starts == new_start and moved.length == room.length and moved.sequence == 1
    longer = room.rescheduled_by(
        "host", starts=new_start, length=timedelta(hours=2), etag="", now=NOW
    )
    assert longer.ends == new_start + timedelta(hours=2)
    with pytest.raises(errors.NotRoomHost):
        room.rescheduled_by("guest", starts=new_start, length=None, etag="", now=NOW)
    with pytest.raises(errors.EtagMismatch):
        room.rescheduled_by("host", starts=new_start, length=None, etag="6", now=NOW)
    with pytest.raises(errors.RoomStarted):
        room.rescheduled_by("host", starts=new_start, length=None, etag="", now=room.starts)
    assert room.cancelled_by("host", etag="", now=NOW).sequence == 1
    with pytest.raises(errors.NotRoomHost):
        room.cancelled_by("guest", etag="", now=NOW)


def _new(starts: datetime, length: timedelta) -> Room:
    return Room.new(
        host_id="host",
        title="t",
        description="",
        starts=starts,
        length=length,
        first_round_topic="warm-up",
        uid_domain="example.test",
        now=NOW,
    )


def _violations(error: pytest.ExceptionInfo[errors.InvalidArgument]) -> list[tuple[str, str]]:
    return [(v.field, v.description) for v in error.value.violations]


def test_a_room_is_never_made_with_times_the_rules_forbid() -> None:
    later = NOW + timedelta(days=1)
    assert _new(later, timedelta(minutes=5)).length == timedelta(minutes=5)
    assert _new(later, timedelta(hours=8)).length == timedelta(hours=8)
    cases = {
        (later, timedelta(minutes=4, seconds=59)): [
            ("duration", "must be from 5 minutes to 8 hours")
        ],
        (later, timedelta(hours=8, seconds=1)): [("duration", "must be from 5 minutes to 8 hours")],
        (later, timedelta(0)): [("duration", "must be from 5 minutes to 8 hours")],
        (later, -timedelta(hours=1)): [("duration", "must be from 5 minutes to 8 hours")],
        (later, timedelta(minutes=30, milliseconds=1)): [("duration", "must be whole seconds")],
        (later + timedelta(microseconds=1), timedelta(hours=1)): [
            ("start_time", "must be on a whole second")
        ],
        (NOW, timedelta(hours=1)): [("start_time", "must be in the future")],
        (NOW - timedelta(days=1), timedelta(hours=9)): [
            ("start_time", "must be in the future"),
            ("duration", "must be from 5 minutes to 8 hours"),
        ],
    }
    for (starts, length), expected in cases.items():
        with pytest.raises(errors.InvalidArgument) as error:
            _new(starts, length)
        assert _violations(error) == expected, (starts, length)


def test_a_reschedule_keeps_the_times_within_the_rules() -> None:
    room = _new(NOW + timedelta(days=1), timedelta(hours=1))
    later = NOW + timedelta(days=2)
    for starts, length, expected in [
        (NOW - timedelta(hours=1), None, [("start_time", "must be in the future")]),
        (later.replace(microsecond=5), None, [("start_time", "must be on a whole second")]),
        (later, timedelta(hours=9), [("duration", "must be from 5 minutes to 8 hours")]),
        (later, timedelta(seconds=30.5), [("duration", "must be whole seconds")]),
    ]:
        with pytest.raises(errors.InvalidArgument) as error:
            room.rescheduled_by("host", starts=starts, length=length, etag="", now=NOW)
        assert _violations(error) == expected, (starts, length)
    # Who may, and when, comes first: the same answers as before for those.
    with pytest.raises(errors.NotRoomHost):
        room.rescheduled_by("guest", starts=NOW, length=None, etag="", now=NOW)
    with pytest.raises(errors.RoomStarted):
        room.rescheduled_by("host", starts=NOW, length=None, etag="", now=room.starts)
