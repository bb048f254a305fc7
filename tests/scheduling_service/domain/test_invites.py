"""Who gets which calendar message (pure rules)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from scheduling_service.domain.changes import Change
from scheduling_service.domain.invites import Invite, Method, holders_after, invites_for
from scheduling_service.domain.room import Room

NOW = datetime(2030, 1, 1, tzinfo=UTC)
OPEN = Room.new(
    host_id="host",
    title="t",
    description="",
    starts=NOW + timedelta(days=1),
    length=timedelta(hours=1),
    first_round_topic="r",
    uid_domain="d",
    now=NOW,
)
BOOKED = OPEN.booked_by("guest", NOW)
NOBODY: frozenset[str] = frozenset()
BOTH = frozenset({"host", "guest"})


def test_create_sends_nothing_and_booking_invites_both() -> None:
    assert invites_for(Change.CREATED, None, OPEN, NOBODY) == []
    invites = invites_for(Change.BOOKED, OPEN, BOOKED, NOBODY)
    assert invites == [Invite("host", Method.REQUEST), Invite("guest", Method.REQUEST)]
    assert holders_after(NOBODY, invites) == BOTH


def test_reschedule_updates_whoever_holds_the_event() -> None:
    assert invites_for(Change.RESCHEDULED, OPEN, OPEN, NOBODY) == []
    assert invites_for(Change.RESCHEDULED, BOOKED, BOOKED, BOTH) == [
        Invite("host", Method.REQUEST),
        Invite("guest", Method.REQUEST),
    ]
    # After the guest left, the host still holds the event.
    assert invites_for(Change.RESCHEDULED, OPEN, OPEN, frozenset({"host"})) == [
        Invite("host", Method.REQUEST)
    ]


def test_leave_uninvites_the_guest_and_updates_the_host() -> None:
    left = BOOKED.left_by("guest", NOW)
    invites = invites_for(Change.LEFT, BOOKED, left, BOTH)
    assert invites == [
        Invite("guest", Method.CANCEL, uninvite=True),
        Invite("host", Method.REQUEST),
    ]
    assert holders_after(BOTH, invites) == {"host"}


def test_cancel_reaches_exactly_the_holders() -> None:
    assert invites_for(Change.CANCELLED, OPEN, OPEN, NOBODY) == []
    assert invites_for(Change.CANCELLED, BOOKED, BOOKED, BOTH) == [
        Invite("host", Method.CANCEL),
        Invite("guest", Method.CANCEL),
    ]
    assert invites_for(Change.CANCELLED, OPEN, OPEN, frozenset({"host"})) == [
        Invite("host", Method.CANCEL)
    ]
